//! `cargo xtask demo`: set up, build the optimized wasm and the release server, run the server
//! with the demo campaigns, and print where to look. Ctrl-C stops the server, then xtask.
//!
//! Next to the server runs the demo's agent system (`demo_receiver`, on the listen port + 1):
//! engage hands conversations to it (`settings.conversation_webhook`), the agent inbox page
//! (`/demo/inbox.html`) shows them, and it injects customers' SMS replies into the demo Kannel.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cmd::{self, Result};
use crate::demo_receiver::Receiver;
use crate::{demo_sms, setup, wasm};

const DEMO_DOCUMENT: &str = "www/demo/campaigns.json";
const GALLERY_DOCUMENT: &str = "www/demo/gallery.json";
/// The origin and webhook the demo document is written for (`--listen 127.0.0.1:8080`); the copy
/// the server loads names the demo's actual addresses.
const DOC_ORIGIN: &str = "http://127.0.0.1:8080/";
const DOC_WEBHOOK: &str = "http://127.0.0.1:8081/hook";
/// The webhook secret when the demo document names none.
const FALLBACK_SECRET: &str = "acme-demo-webhook-secret";
/// The outbound engagement the demo's SMS campaigns name (SPEC §11).
pub const SMS_ENGAGEMENT: &str = "sms-replies";
/// How long the server gets to stop after Ctrl-C before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct Options {
    pub listen: String,
    pub data: String,
}

pub fn parse(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        listen: "127.0.0.1:8080".into(),
        data: "./data".into(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match flag {
            "--listen" => opts.listen = value().ok_or("--listen needs an address")?,
            "--data" => opts.data = value().ok_or("--data needs a directory")?,
            _ => {
                return Err(format!(
                    "demo: unknown argument `{arg}` (flags: --listen ADDR, --data DIR)"
                ))
            }
        }
    }
    Ok(opts)
}

pub fn run(opts: &Options) -> Result {
    let tools = setup::run(false)?;
    setup::ensure_kannel()?;
    wasm::build(&tools)?;
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "engage-server"]))?;

    let addr = probe_addr(&opts.listen)?;
    let document = std::fs::read_to_string(DEMO_DOCUMENT).ok();
    let secret = document
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|d| {
            d["settings"]["conversation_webhook"]["secret"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| FALLBACK_SECRET.to_owned());
    let receiver = start_receiver(&opts.listen, addr, &secret)?;
    let hook = format!("http://{}/hook", reachable(receiver.addr));

    let mut server = Command::new(cmd::target_dir().join("release").join("engage-server"));
    server.args(["--listen", &opts.listen, "--data", &opts.data]);
    // A token of our own (unless one is set), so the console links below sign in directly; the
    // server takes the environment's token over any it stored before.
    let token = std::env::var("ENGAGE_ADMIN_TOKEN").unwrap_or_else(|_| random_token());
    server.env("ENGAGE_ADMIN_TOKEN", &token);
    receiver.set_engage(addr, &token);
    match &document {
        // The server loads the document at start-up when its site has no active version yet
        // (`--demo` / ENGAGE_DEMO): a copy naming this demo's addresses.
        Some(text) => {
            let copy = demo_copy(Path::new(&opts.data), text, addr, &hook)?;
            server.env("ENGAGE_DEMO", copy);
        }
        None => println!(
            "note: {DEMO_DOCUMENT} does not exist: the server starts without demo campaigns"
        ),
    }
    println!("==> {}", cmd::show(&server));
    let shown = cmd::show(&server);
    let child = server
        .spawn()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    signals::install();
    let demo = Demo {
        addr,
        token,
        receiver,
        hook,
        secret,
    };
    supervise(child, &demo)
}

/// What the running demo is made of.
struct Demo {
    addr: SocketAddr,
    token: String,
    receiver: Receiver,
    /// The receiver's webhook URL, as the document names it.
    hook: String,
    secret: String,
}

/// The receiver on the listen port + 1 (any free port if that one is taken).
fn start_receiver(listen: &str, addr: SocketAddr, secret: &str) -> Result<Receiver> {
    let mut bind = listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or(addr);
    let wanted = addr.port().checked_add(1).filter(|_| addr.port() != 0);
    bind.set_port(wanted.unwrap_or(0));
    match Receiver::start(bind, secret) {
        Ok(r) => Ok(r),
        Err(e) if wanted.is_some() => {
            println!("note: the demo receiver cannot listen on {bind} ({e}): it takes a free port");
            bind.set_port(0);
            Receiver::start(bind, secret)
                .map_err(|e| format!("the demo receiver cannot listen on {bind}: {e}"))
        }
        Err(e) => Err(format!("the demo receiver cannot listen on {bind}: {e}")),
    }
}

/// An address to connect to (0.0.0.0 → 127.0.0.1).
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    addr
}

/// The demo document with this demo's origin and webhook URL, written into the data directory.
fn demo_copy(data: &Path, text: &str, addr: SocketAddr, hook: &str) -> Result<PathBuf> {
    let text = text
        .replace(DOC_ORIGIN, &format!("http://{addr}/"))
        .replace(DOC_WEBHOOK, hook);
    let named = serde_json::from_str::<Value>(&text)
        .map_err(|e| format!("{DEMO_DOCUMENT} is not JSON: {e}"))?;
    if named["settings"]["conversation_webhook"]["url"] != hook {
        println!(
            "note: {DEMO_DOCUMENT} names no conversation webhook {DOC_WEBHOOK}: the agent inbox \
             gets conversations once the demo points the active document at {hook}"
        );
    }
    std::fs::create_dir_all(data).map_err(|e| format!("creating {}: {e}", data.display()))?;
    let path = data.join("demo-document.json");
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// A data directory from an earlier demo keeps its active document: point its conversation
/// webhook at this demo's receiver, and give it the outbound engagement the SMS campaigns name
/// (from the demo document) if it has none. Answers what changed, if anything.
fn ensure_document(demo: &Demo) -> std::result::Result<Option<String>, String> {
    let path = "/admin/v1/sites/acme/campaigns";
    let (status, mut doc) = demo_sms::call(demo.addr, &demo.token, "GET", path, &Value::Null)
        .map_err(|e| format!("GET {path}: {e}"))?;
    if status != 200 || !doc.is_object() {
        return Err(format!("GET {path} answered {status}"));
    }
    let mut changed = Vec::new();
    let want = json!({"url": demo.hook, "secret": demo.secret});
    if doc["settings"]["conversation_webhook"] != want {
        if !doc["settings"].is_object() {
            doc["settings"] = json!({});
        }
        doc["settings"]["conversation_webhook"] = want;
        changed.push(format!("conversation webhook → {}", demo.hook));
    }
    let has = |d: &Value| {
        d["campaigns"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["engagements"]
                    .as_array()
                    .is_some_and(|es| es.iter().any(|e| e["id"] == SMS_ENGAGEMENT))
            })
        })
    };
    if !has(&doc) {
        let ours = std::fs::read_to_string(DEMO_DOCUMENT)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let campaign = ours.and_then(|d| {
            d["campaigns"]
                .as_array()?
                .iter()
                .find(|c| has(&json!({"campaigns": [c]})))
                .cloned()
        });
        let taken = |id: &Value| {
            doc["campaigns"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| &c["id"] == id))
        };
        match (campaign, doc["campaigns"].is_array()) {
            (Some(c), true) if !taken(&c["id"]) => {
                changed.push(format!(
                    "added campaign {} (engagement {SMS_ENGAGEMENT})",
                    c["id"]
                ));
                if let Some(list) = doc["campaigns"].as_array_mut() {
                    list.push(c);
                }
            }
            _ => println!(
                "note: the active document has no engagement {SMS_ENGAGEMENT}: SMS replies start \
                 conversations with no engagement"
            ),
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    match demo_sms::call(demo.addr, &demo.token, "PUT", path, &doc) {
        Ok((200 | 201, _)) => Ok(Some(changed.join("; "))),
        Ok((s, v)) => Err(format!("PUT {path} answered {s}: {v}")),
        Err(e) => Err(format!("PUT {path}: {e}")),
    }
}

/// 32 hex digits from the OS's random source (falls back to the clock, fine for a local demo).
fn random_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if ok.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = t.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starting availability so the demo shows every state at once: sales online, support busy.
fn seed_availability(addr: SocketAddr, token: &str) {
    let feeds = [
        (
            "sales",
            r#"{"agents_online":3,"agents_with_capacity":2,"expected_wait_seconds":20}"#,
        ),
        (
            "support",
            r#"{"agents_online":1,"agents_with_capacity":0,"expected_wait_seconds":300}"#,
        ),
    ];
    put_availability(addr, token, "acme", &feeds);
}

/// Each `(skill, feed)` as site `site`'s availability; a refusal is a note, not an error.
fn put_availability(addr: SocketAddr, token: &str, site: &str, feeds: &[(&str, &str)]) {
    for (skill, body) in feeds {
        let path = format!("/admin/v1/sites/{site}/availability/{skill}");
        match put(addr, &path, token, body) {
            Ok(status) if status.starts_with("HTTP/1.1 2") => {}
            Ok(status) => println!("note: setting {site} {skill} availability answered {status}"),
            Err(e) => println!("note: could not set {site} {skill} availability: {e}"),
        }
    }
}

/// The formats gallery (`/demo/formats.html`): its own site, `gallery`, whose skills are named
/// for the state they are held in.
fn seed_gallery(addr: SocketAddr, token: &str) {
    let doc = match std::fs::read_to_string(GALLERY_DOCUMENT) {
        Ok(doc) => doc,
        Err(e) => return println!("note: no formats gallery: {GALLERY_DOCUMENT}: {e}"),
    };
    match put(addr, "/admin/v1/sites/gallery/campaigns", token, &doc) {
        Ok(status) if status.starts_with("HTTP/1.1 2") => {}
        Ok(status) => println!("note: uploading the formats gallery answered {status}"),
        Err(e) => println!("note: could not upload the formats gallery: {e}"),
    }
    put_availability(addr, token, "gallery", &GALLERY_STATES);
}

/// The gallery's skills and the availability that holds each in its state.
const GALLERY_STATES: [(&str, &str); 3] = [
    (
        "online",
        r#"{"agents_online":3,"agents_with_capacity":2,"expected_wait_seconds":10}"#,
    ),
    (
        "busy",
        r#"{"agents_online":2,"agents_with_capacity":0,"expected_wait_seconds":60}"#,
    ),
    (
        "offline",
        r#"{"agents_online":0,"agents_with_capacity":0,"expected_wait_seconds":0}"#,
    ),
];

/// A minimal HTTP/1.1 PUT; returns the status line.
fn put(addr: SocketAddr, path: &str, token: &str, body: &str) -> std::io::Result<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status)?;
    Ok(status.trim_end().to_owned())
}

/// Where to connect to check the server is up (0.0.0.0 → 127.0.0.1), also used for the URLs.
fn probe_addr(listen: &str) -> Result<SocketAddr> {
    let addr = listen
        .to_socket_addrs()
        .map_err(|e| format!("--listen {listen}: {e}"))?
        .next()
        .ok_or_else(|| format!("--listen {listen}: resolves to no address"))?;
    Ok(reachable(addr))
}

/// Wait for the server: print the URLs once it accepts connections, forward Ctrl-C to it, and
/// report honestly if it exits on its own.
fn supervise(mut child: Child, demo: &Demo) -> Result {
    let (addr, token) = (demo.addr, demo.token.as_str());
    let started = Instant::now();
    let mut announced = false;
    // The demo's Kannel lives until the demo ends (dropping it stops its three processes; the
    // receiver only holds it weakly).
    let mut kannel: Option<Arc<demo_sms::kannel::Kannel>> = None;
    let mut stopping: Option<Instant> = None;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for engage-server: {e}"))?
        {
            // Ctrl-C in a terminal reaches the server and us at once: it may already be gone
            // by the time we look at the flag, which still means "asked to stop".
            return exited(status, stopping.is_some() || signals::take_interrupt());
        }
        if signals::take_interrupt() && stopping.is_none() {
            println!("\nstopping engage-server ...");
            signals::interrupt(&child);
            stopping = Some(Instant::now());
        }
        if stopping.is_some_and(|t| t.elapsed() > STOP_GRACE) {
            println!("engage-server did not stop within {STOP_GRACE:?}; killing it");
            let _ = child.kill();
        }
        if !announced && stopping.is_none() && accepts(addr) {
            announced = true;
            seed_availability(addr, token);
            seed_gallery(addr, token);
            match ensure_document(demo) {
                Ok(Some(what)) => println!("note: updated the active demo document: {what}"),
                Ok(None) => {}
                Err(e) => println!("note: could not check the demo document: {e}"),
            }
            match demo_sms::seed(addr, token) {
                Ok(k) => {
                    let k = Arc::new(k);
                    demo.receiver.set_kannel(&k);
                    kannel = Some(k);
                }
                Err(e) => println!("note: the SMS demo is not running: {e}"),
            }
            println!(
                "\nengage is running ({:.1}s):",
                started.elapsed().as_secs_f64()
            );
            println!("    demo site:     http://{addr}/demo/");
            println!("    admin console: http://{addr}/admin/#token={token}");
            println!("    agent console: http://{addr}/demo/agent.html#token={token}");
            let receiver = reachable(demo.receiver.addr);
            if receiver.port() == addr.port().wrapping_add(1) {
                println!("    agent inbox:   http://{addr}/demo/inbox.html");
            } else {
                println!(
                    "    agent inbox:   http://{addr}/demo/inbox.html?receiver=http://{receiver}"
                );
            }
            println!(
                "                   (conversations handed off to {}, signed; console: #/conversations)",
                demo.hook
            );
            println!("    admin token:   {token}");
            if kannel.is_some() {
                println!(
                    "    SMS campaigns: http://{addr}/admin/#/sms  (a demo Kannel delivers them;"
                );
                println!(
                    "                   \"Winter sale\" goes out {}s from now)",
                    demo_sms::SCHEDULE_AHEAD.as_secs()
                );
            }
            println!("    (sales starts online, support busy; Ctrl-C to stop)\n");
        }
        sleep(Duration::from_millis(100));
    }
}

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn exited(status: ExitStatus, asked_to_stop: bool) -> Result {
    if asked_to_stop {
        println!("engage-server stopped ({status})");
        Ok(())
    } else if status.success() {
        Err("engage-server exited on its own (status 0) instead of serving".to_string())
    } else {
        Err(format!(
            "engage-server failed ({status}); see its output above"
        ))
    }
}

/// Ctrl-C reaches the whole foreground process group, server included. xtask must outlive the
/// server to report how it ended, so it catches SIGINT/SIGTERM instead of dying, and passes
/// them on (for a `kill -INT` aimed at xtask alone). A caught signal's handler is reset to the
/// default in exec'd children, so the server's own signal handling is unaffected. Std links
/// libc already; these two declarations avoid a dependency for two calls.
#[cfg(unix)]
mod signals {
    use std::os::raw::c_int;
    use std::process::Child;
    use std::sync::atomic::{AtomicBool, Ordering};

    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);

    extern "C" {
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
        fn kill(pid: c_int, sig: c_int) -> c_int;
    }

    extern "C" fn on_signal(_: c_int) {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }

    pub fn install() {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
        }
    }

    pub fn take_interrupt() -> bool {
        INTERRUPTED.swap(false, Ordering::SeqCst)
    }

    pub fn interrupt(child: &Child) {
        if let Ok(pid) = c_int::try_from(child.id()) {
            // SAFETY: plain syscall on our own child's pid; failure (already gone) is harmless.
            unsafe {
                kill(pid, SIGINT);
            }
        }
    }
}

#[cfg(not(unix))]
mod signals {
    use std::process::Child;
    pub fn install() {}
    pub fn take_interrupt() -> bool {
        false
    }
    pub fn interrupt(_: &Child) {}
}
