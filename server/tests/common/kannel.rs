//! A real Kannel for tests and the demo: bearerbox + fakesmsc + smsbox on free loopback ports.
//!
//! std only: `cargo xtask demo` includes this file by `#[path]`, the server's integration tests
//! through `tests/common/mod.rs`.
//!
//! Layout (one temp dir and five ports per instance, so parallel tests do not meet):
//!
//! ```text
//!  sendsms (HTTP) ──> smsbox ──> bearerbox ──smsc "mt"──> fakesmsc (-m 0: only receives MT)
//!  get_url / dlr-url <── smsbox <── bearerbox <──smsc "mo"── fakesmsc -m 1 (one per inject_mo)
//! ```
//!
//! Two fake SMSC connections because bearerbox's fake SMSC serves one client at a time and
//! fakesmsc's interactive (stdin) mode only looks at the network once a second, which would
//! delay every MT by up to 1 s. The "mo" connection never gets MT traffic
//! (`allowed-smsc-id` names an id no message carries). Every sms-service answer is dropped
//! (`max-messages = 0`: smsbox's "No reply sent, denied.", which also covers its error replies),
//! so Kannel never texts back on its own.
//!
//! Kannel behaviour worth knowing (1.4.5, seen with this harness):
//! - `%a` in get-url is "all words joined by +": newlines and runs of spaces become one space,
//!   leading/trailing spaces go. `%b` is the exact text.
//! - `dlr-mask=31`: the fake SMSC acks (type 8) and delivers (type 1) at once, and smsbox makes
//!   the two dlr-url calls concurrently, so they arrive in EITHER order: usually 8 then 1 for a
//!   single part; for a multipart MT ONE pair for the whole message, usually 1 then 8.
//! - With `charset=UTF-8` and no `coding`, characters outside GSM-7 become `?` (one per UTF-8
//!   byte); `coding=2` sends UCS-2, split at 67 UTF-16 units even inside a surrogate pair.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BEARERBOX: &str = "/usr/sbin/bearerbox";
pub const SMSBOX: &str = "/usr/sbin/smsbox";
pub const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

const INSTALL_HINT: &str =
    "install Debian packages kannel and kannel-extras (cargo xtask setup does)";
const USERNAME: &str = "engage";
const PASSWORD: &str = "engage-kannel-pass";
const ADMIN_PASSWORD: &str = "engage-admin";
/// Per sendsms request: how many parts Kannel may split one text into (engage allows 10).
const MAX_PARTS: u32 = 20;
/// Each readiness step (bearerbox up, fakesmsc connected, smsbox connected and serving).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(15);
const START_ATTEMPTS: usize = 3;

/// One MT message part as fakesmsc received it.
#[derive(Clone, Debug)]
pub struct Mt {
    pub from: String,
    pub to: String,
    /// The part's text, decoded: UTF-8 for 7-bit/8-bit, UTF-16BE for UCS-2. For a UCS-2 text
    /// split inside a surrogate pair, the halves show as U+FFFD here: use [`join_parts`].
    pub text: String,
    /// User data header as uppercase hex, e.g. `050003A70201` (concatenation: ref A7, 2 parts,
    /// this is part 1); None for a single-part message.
    pub udh: Option<String>,
    /// When the reader thread read fakesmsc's line.
    pub at: Instant,
    /// The raw message bytes (Kannel's internal form: UTF-8 for GSM 7-bit, UTF-16BE for UCS-2).
    pub data: Vec<u8>,
    /// 0 = 7-bit (GSM), 1 = 8-bit, 2 = UCS-2. fakesmsc's line names the coding only for
    /// single-part messages; for a UDH part it is inferred from the bytes (see `looks_ucs2`).
    pub coding: u8,
}

/// A concatenation UDH's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

impl Mt {
    /// The concatenation information element (IEI 0x00 or 0x08) of the UDH, if any.
    pub fn concat(&self) -> Option<Concat> {
        let udh = hex_decode(self.udh.as_deref()?)?;
        let len = *udh.first()? as usize;
        let mut ies = udh.get(1..1 + len)?;
        while ies.len() >= 2 {
            let (iei, ie_len) = (ies[0], ies[1] as usize);
            let body = ies.get(2..2 + ie_len)?;
            match (iei, body) {
                (0x00, &[r, total, seq]) => {
                    return Some(Concat {
                        reference: r as u16,
                        total,
                        seq,
                    })
                }
                (0x08, &[r1, r2, total, seq]) => {
                    return Some(Concat {
                        reference: u16::from_be_bytes([r1, r2]),
                        total,
                        seq,
                    })
                }
                _ => ies = &ies[2 + ie_len..],
            }
        }
        None
    }
}

/// The text of a message from its parts (any order; sorted by the UDH sequence number), decoded
/// once over the joined bytes, so a surrogate pair split across parts comes out whole.
pub fn join_parts(parts: &[Mt]) -> String {
    let mut sorted: Vec<&Mt> = parts.iter().collect();
    sorted.sort_by_key(|m| m.concat().map_or(0, |c| c.seq));
    let data: Vec<u8> = sorted.iter().flat_map(|m| m.data.iter().copied()).collect();
    match sorted.first() {
        Some(first) if first.coding == 2 => utf16be_lossy(&data),
        Some(_) => String::from_utf8_lossy(&data).into_owned(),
        None => String::new(),
    }
}

#[derive(Clone, Copy)]
struct Ports {
    admin: u16,
    boxes: u16,
    smsc_mt: u16,
    smsc_mo: u16,
    sendsms: u16,
}

type Received = Arc<(Mutex<Vec<Mt>>, Condvar)>;

pub struct Kannel {
    dir: PathBuf,
    ports: Ports,
    bearerbox: Option<Child>,
    fakesmsc: Option<Child>,
    smsbox: Option<Child>,
    /// `sh` that SIGKILLs our three processes if this process dies without running Drop
    /// (its stdin is a pipe only we hold: EOF means we are gone).
    watchdog: Option<(Child, ChildStdin)>,
    reader: Option<JoinHandle<()>>,
    received: Received,
    /// One MO at a time: bearerbox's fake SMSC serves one client at a time anyway.
    mo_lock: Mutex<()>,
}

impl Kannel {
    /// Starts bearerbox, fakesmsc and smsbox on free loopback ports in a fresh temp dir, with
    /// smsbox's default sms-service sending every MO to `get_url` (Kannel escapes: %p sender,
    /// %P receiver, %a text, ...) and never answering it with an SMS. Ready when sendsms answers.
    pub fn start(get_url: &str) -> Result<Kannel, String> {
        for binary in [BEARERBOX, SMSBOX, FAKESMSC] {
            if !Path::new(binary).exists() {
                return Err(format!(
                    "Kannel is not installed: {binary} is missing; {INSTALL_HINT}"
                ));
            }
        }
        if get_url.contains('"') || get_url.contains('\n') {
            return Err(format!(
                "get_url must not contain '\"' or a newline: {get_url:?}"
            ));
        }
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            // A free port can be taken by someone else between our probe and Kannel's bind;
            // a fresh attempt gets new ports.
            match Kannel::try_start(get_url) {
                Ok(k) => return Ok(k),
                Err(e) => last = format!("Kannel start attempt {attempt}/{START_ATTEMPTS}: {e}"),
            }
        }
        Err(last)
    }

    fn try_start(get_url: &str) -> Result<Kannel, String> {
        let dir = fresh_dir()?;
        let ports = free_ports()?;
        let conf = dir.join("kannel.conf");
        fs::write(&conf, config(&dir, ports, get_url))
            .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let watchdog = spawn_watchdog();
        let received: Received = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        // From here on Drop cleans up whatever was started.
        let mut k = Kannel {
            dir,
            ports,
            bearerbox: None,
            fakesmsc: None,
            smsbox: None,
            watchdog,
            reader: None,
            received,
            mo_lock: Mutex::new(()),
        };
        let started = Instant::now();

        // -v 2: only warnings and worse on stderr; the log file (log-level 0) has everything.
        let args = [OsStr::new("-v"), OsStr::new("2"), conf.as_os_str()];
        k.bearerbox = Some(k.spawn_logged(BEARERBOX, &args, "bearerbox.stderr")?);
        // The smsc groups exist (and listen) once the admin status lists them.
        let mt_line = format!("FAKE:{}", ports.smsc_mt);
        k.wait_for("bearerbox to list its fake SMSC", |k| {
            k.status().is_ok_and(|s| s.contains(&mt_line))
        })?;

        k.start_fakesmsc()?;
        let online = format!("FAKE:{} (online", ports.smsc_mt);
        k.wait_for("fakesmsc to connect to bearerbox", |k| {
            k.status().is_ok_and(|s| s.contains(&online))
        })?;

        k.smsbox = Some(k.spawn_logged(SMSBOX, &args, "smsbox.stderr")?);
        let sendsms = k.sendsms_url();
        k.wait_for("smsbox to connect and serve sendsms", |k| {
            let connected = k
                .status()
                .is_ok_and(|s| s.contains("smsbox:") && s.contains(&online));
            connected && http_get(&sendsms, Duration::from_secs(2)).is_ok()
        })?;
        let _ = fs::write(
            k.dir.join("startup.txt"),
            format!("ready in {} ms\n", started.elapsed().as_millis()),
        );
        Ok(k)
    }

    pub fn sendsms_url(&self) -> String {
        format!("http://127.0.0.1:{}/cgi-bin/sendsms", self.ports.sendsms)
    }

    pub fn username(&self) -> &str {
        USERNAME
    }

    pub fn password(&self) -> &str {
        PASSWORD
    }

    /// bearerbox's admin status page (plain text): queues, SMSC and box connections.
    pub fn status(&self) -> Result<String, String> {
        let url = format!(
            "http://127.0.0.1:{}/status.txt?password={ADMIN_PASSWORD}",
            self.ports.admin
        );
        http_get(&url, Duration::from_secs(2)).map(|(_, body)| body)
    }

    /// The instance's temp dir (config and logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every MT message part fakesmsc has received so far, in arrival order.
    pub fn received(&self) -> Vec<Mt> {
        self.received
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until at least `n` parts arrived or `timeout` passed; returns what arrived.
    pub fn wait_received(&self, n: usize, timeout: Duration) -> Vec<Mt> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.received;
        let mut got = lock.lock().unwrap_or_else(|e| e.into_inner());
        while got.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            got = cvar
                .wait_timeout(got, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        got.clone()
    }

    /// Injects a mobile-originated message through a fakesmsc of its own, which bearerbox routes
    /// to smsbox and smsbox to `get_url`. GSM-7 text on one line goes as a 7-bit SMS; anything
    /// else (emoji, Cyrillic, newlines) as UCS-2, as a phone would send it, which smsbox recodes
    /// to UTF-8 (`mo-recode`). Returns once bearerbox has the message on its socket, not when
    /// `get_url` has been called.
    pub fn inject_mo(&self, from: &str, to: &str, text: &str) -> Result<(), String> {
        for (name, number) in [("from", from), ("to", to)] {
            if number.is_empty() || number.chars().any(char::is_whitespace) {
                return Err(format!("inject_mo: {name} must be one word: {number:?}"));
            }
        }
        let line = if text.chars().all(is_gsm7_on_one_line) {
            format!("{from} {to} text {text}")
        } else {
            let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            format!("{from} {to} ucs2 {}", url_encode_bytes(&utf16))
        };
        let _one_at_a_time = self.mo_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = Command::new(FAKESMSC)
            .args([
                "-H",
                "127.0.0.1",
                "-r",
                &self.ports.smsc_mo.to_string(),
                "-m",
                "1",
            ])
            .arg(&line)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {FAKESMSC}: {e}"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // fakesmsc logs "sent message 1" after its write to bearerbox returned; with -m 1 it
        // then waits forever for MT traffic, so it is killed. Nothing unread is left on its
        // socket, so the kernel still delivers the line and then a FIN.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut output = String::new();
        let mut sent = false;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(l) => {
                    output.push_str(&l);
                    output.push('\n');
                    if l.contains("fakesmsc: sent message 1") {
                        sent = true;
                        break;
                    }
                }
                Err(_) => break, // timeout, or fakesmsc exited (its stderr closed)
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = reader.join();
        while let Ok(l) = rx.try_recv() {
            output.push_str(&l);
            output.push('\n');
        }
        if let Ok(mut log) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("inject_mo.log"))
        {
            let _ = writeln!(log, "== {line}\n{output}");
        }
        if sent {
            Ok(())
        } else {
            Err(format!(
                "inject_mo: fakesmsc did not send {line:?}:\n{output}\n{}",
                self.logs()
            ))
        }
    }

    /// The log files' tails, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut out = format!("Kannel logs in {}:\n", self.dir.display());
        for name in [
            "bearerbox.log",
            "bearerbox.stderr",
            "access.log",
            "fakesmsc.log",
            "smsbox.log",
            "smsbox.stderr",
            "smsbox-access.log",
            "inject_mo.log",
        ] {
            let Ok(text) = fs::read(self.dir.join(name)) else {
                continue;
            };
            let text = String::from_utf8_lossy(&text);
            let lines: Vec<&str> = text.lines().collect();
            let skip = lines.len().saturating_sub(60);
            let _ = writeln!(
                out,
                "--- {name} ({} lines, last {}):",
                lines.len(),
                lines.len() - skip
            );
            for line in &lines[skip..] {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    fn start_fakesmsc(&mut self) -> Result<(), String> {
        // -m 0: never send, so it blocks on the bearerbox socket and logs each MT as it comes
        // ("Got message N: <line>" on stderr). The message argument is never sent.
        let mut child = self.watched(
            Command::new(FAKESMSC)
                .args(["-H", "127.0.0.1", "-r", &self.ports.smsc_mt.to_string()])
                .args(["-i", "0", "-m", "0", "0 0 text unused"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
            FAKESMSC,
        )?;
        let stderr = child.stderr.take().expect("piped stderr");
        let log = File::create(self.dir.join("fakesmsc.log"))
            .map_err(|e| format!("creating fakesmsc.log: {e}"))?;
        let received = Arc::clone(&self.received);
        self.fakesmsc = Some(child);
        self.reader = Some(thread::spawn(move || read_fakesmsc(stderr, log, received)));
        Ok(())
    }

    /// Spawns `program` with stdout and stderr into `log` in our dir.
    fn spawn_logged(&mut self, program: &str, args: &[&OsStr], log: &str) -> Result<Child, String> {
        let path = self.dir.join(log);
        let out = File::create(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        self.watched(
            Command::new(program)
                .args(args)
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
            program,
        )
    }

    fn watched(&mut self, cmd: &mut Command, program: &str) -> Result<Child, String> {
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawning {program}: {e}; {INSTALL_HINT}"))?;
        if let Some((_, stdin)) = &mut self.watchdog {
            let _ = writeln!(stdin, "{}", child.id());
        }
        Ok(child)
    }

    /// Polls `ready` until true; Err with the logs when it times out or a process exited.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&Kannel) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(dead) = self.exited().or_else(|| self.fatal_log_line()) {
                return Err(format!("waiting for {what}: {dead}\n{}", self.logs()));
            }
            if ready(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "waiting for {what}: not ready after {STEP_TIMEOUT:?}\n{}",
                    self.logs()
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// A failed bind or a panic in the logs: bearerbox carries on without its admin port or a
    /// fake SMSC whose port was taken, so waiting for it would only time out.
    fn fatal_log_line(&self) -> Option<String> {
        const FATAL: [&str; 4] = [
            "bind failed",
            "Address already in use",
            "could not create listening socket",
            "PANIC:",
        ];
        [
            "bearerbox.log",
            "bearerbox.stderr",
            "smsbox.log",
            "smsbox.stderr",
        ]
        .iter()
        .find_map(|name| {
            let text = fs::read(self.dir.join(name)).ok()?;
            let text = String::from_utf8_lossy(&text);
            let line = text.lines().find(|l| FATAL.iter().any(|f| l.contains(f)))?;
            Some(format!("{name}: {line}"))
        })
    }

    /// "bearerbox exited (exit status: 1)" for the first started process that is gone.
    fn exited(&mut self) -> Option<String> {
        for (name, child) in [
            ("bearerbox", &mut self.bearerbox),
            ("fakesmsc", &mut self.fakesmsc),
            ("smsbox", &mut self.smsbox),
        ] {
            if let Some(c) = child {
                if let Ok(Some(status)) = c.try_wait() {
                    return Some(format!("{name} exited early ({status})"));
                }
            }
        }
        None
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        // The watchdog first: once we reap the others their pids may be reused.
        if let Some((mut child, stdin)) = self.watchdog.take() {
            let _ = child.kill();
            drop(stdin);
            let _ = child.wait();
        }
        for child in [&mut self.smsbox, &mut self.fakesmsc, &mut self.bearerbox] {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn config(dir: &Path, p: Ports, get_url: &str) -> String {
    let d = dir.display();
    format!(
        r#"# Generated by engage's Kannel test harness.
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = {ADMIN_PASSWORD}
smsbox-port = {boxes}
box-allow-ip = 127.0.0.1
dlr-storage = internal
log-file = "{d}/bearerbox.log"
log-level = 0
access-log = "{d}/access.log"

# MT goes here (fakesmsc -m 0 reads it). No throughput: as fast as bearerbox goes.
group = smsc
smsc = fake
smsc-id = mt
port = {smsc_mt}
connect-allow-ip = 127.0.0.1

# MO comes in here (one fakesmsc -m 1 per message); no MT is ever routed here.
group = smsc
smsc = fake
smsc-id = mo
port = {smsc_mo}
connect-allow-ip = 127.0.0.1
allowed-smsc-id = never-route-mt-here

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {boxes}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
mo-recode = true
log-file = "{d}/smsbox.log"
log-level = 0
access-log = "{d}/smsbox-access.log"

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
concatenation = true
max-messages = {MAX_PARTS}

# Every MO to get_url; max-messages = 0 drops its answer (and smsbox's error replies).
group = sms-service
keyword = default
get-url = "{get_url}"
max-messages = 0
omit-empty = true
catch-all = true
"#,
        admin = p.admin,
        boxes = p.boxes,
        smsc_mt = p.smsc_mt,
        smsc_mo = p.smsc_mo,
        sendsms = p.sendsms,
    )
}

/// How long a 7-bit text MT is held back for a continuation line (see `collect_mts`).
const CONTINUATION_GRACE: Duration = Duration::from_millis(25);

/// The reader thread: copies fakesmsc's stderr to `log` and hands each "Got message" payload,
/// stamped when read, to `collect_mts`.
fn read_fakesmsc(stderr: impl Read, mut log: File, received: Received) {
    let (tx, rx) = mpsc::channel::<(Vec<u8>, Instant)>();
    let collector = thread::spawn(move || collect_mts(&rx, &received));
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let at = Instant::now();
        let _ = log.write_all(&line);
        if let Some(payload) = got_message_payload(&line) {
            let _ = tx.send((payload.to_vec(), at));
        }
    }
    drop(tx);
    let _ = collector.join();
}

/// Parses payloads into `received`. A newline in a text MT ends fakesmsc's line, and the rest
/// comes as a "message" of its own that parses as no MT: it belongs to the text before. So a
/// text MT is published only when the next payload arrives or `CONTINUATION_GRACE` passes
/// (its `at` stays the time its first line was read).
fn collect_mts(rx: &mpsc::Receiver<(Vec<u8>, Instant)>, received: &Received) {
    let publish = |mt: Mt| {
        let (lock, cvar) = &**received;
        lock.lock().unwrap_or_else(|e| e.into_inner()).push(mt);
        cvar.notify_all();
    };
    let mut pending: Option<Mt> = None;
    loop {
        let next = if pending.is_some() {
            match rx.recv_timeout(CONTINUATION_GRACE) {
                Ok(item) => Some(item),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(item) => Some(item),
                Err(_) => break,
            }
        };
        let Some((payload, at)) = next else {
            publish(pending.take().expect("pending"));
            continue;
        };
        match parse_mt(&payload, at) {
            Some(mt) => {
                if let Some(done) = pending.take() {
                    publish(done);
                }
                if mt.udh.is_none() && mt.coding == 0 {
                    pending = Some(mt);
                } else {
                    publish(mt);
                }
            }
            None => {
                if let Some(prev) = &mut pending {
                    prev.data.push(b'\n');
                    prev.data.extend_from_slice(&payload);
                    prev.text = String::from_utf8_lossy(&prev.data).into_owned();
                }
            }
        }
    }
    if let Some(done) = pending {
        publish(done);
    }
}

/// `... DEBUG: Got message 3: <123 456 text hello>` → `123 456 text hello`.
fn got_message_payload(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let marker = b"Got message ";
    let start = line.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let rest = &line[start..];
    let open = rest.windows(3).position(|w| w == b": <")? + 3;
    rest[open..].strip_suffix(b">")
}

/// The line format of Kannel 1.4.5's smsc_fake (`sms_to_client`):
/// `from to text <raw>`, `from to data <urlenc>`, `from to ucs-2 <urlenc>`,
/// `from to udh <urlenc udh> data <urlenc>`.
fn parse_mt(payload: &[u8], at: Instant) -> Option<Mt> {
    let mut fields = payload.splitn(4, |&b| b == b' ');
    let from = String::from_utf8_lossy(fields.next()?).into_owned();
    let to = String::from_utf8_lossy(fields.next()?).into_owned();
    let kind = fields.next()?;
    let rest = fields.next().unwrap_or(b"");
    let (udh, data, coding) = match kind {
        b"text" => (None, rest.to_vec(), 0),
        b"data" => (None, url_decode(rest)?, 1),
        b"ucs-2" => (None, url_decode(rest)?, 2),
        b"udh" => {
            let mut parts = rest.splitn(3, |&b| b == b' ');
            let udh = url_decode(parts.next()?)?;
            if parts.next()? != b"data" {
                return None;
            }
            let data = url_decode(parts.next().unwrap_or(b""))?;
            let coding = if looks_ucs2(&data) { 2 } else { 0 };
            (Some(hex_encode(&udh)), data, coding)
        }
        _ => return None,
    };
    let text = if coding == 2 {
        utf16be_lossy(&data)
    } else {
        String::from_utf8_lossy(&data).into_owned()
    };
    Some(Mt {
        from,
        to,
        text,
        udh,
        at,
        data,
        coding,
    })
}

/// For a UDH part, whose line does not say its coding: Kannel keeps GSM 7-bit text as UTF-8, so
/// NUL bytes, control characters other than CR/LF/FF, or invalid UTF-8 mean UCS-2. (A UCS-2
/// part of only CJK characters in U+4000..U+7FFF could pass for ASCII; tests do not send that.)
fn looks_ucs2(data: &[u8]) -> bool {
    if data.is_empty() || data.len() % 2 == 1 {
        return false;
    }
    let control = data
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | 0x0c));
    control || std::str::from_utf8(data).is_err()
}

fn utf16be_lossy(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// The GSM 03.38 default alphabet and its extension table, minus CR and LF (a fakesmsc "text"
/// message ends at the line's end).
fn is_gsm7_on_one_line(c: char) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "^{}\\[~]|€";
    BASIC.contains(c) || EXTENSION.contains(c)
}

fn url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// Percent-encodes everything but unreserved characters (RFC 3986), e.g. for a `dlr-url` value.
pub fn url_encode(s: &str) -> String {
    url_encode_bytes(s.as_bytes())
}

fn url_encode_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 == 1 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A minimal HTTP/1.1 GET (`http://host:port/path?query` only): status code and body.
pub fn http_get(url: &str, timeout: Duration) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("GET {url}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("GET {url}: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {url}: bad status line {status_line:?}"))?;
    let mut length = None;
    loop {
        let mut header = String::new();
        let n = reader
            .read_line(&mut header)
            .map_err(|e| format!("GET {url}: {e}"))?;
        if n == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("GET {url}: body: {e}"))?;
        }
        None => {
            reader
                .read_to_end(&mut body)
                .map_err(|e| format!("GET {url}: body: {e}"))?;
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Five distinct free loopback ports (all bound at once, then released for Kannel).
fn free_ports() -> Result<Ports, String> {
    let listeners: Vec<TcpListener> = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("binding a free port: {e}"))?;
    let port = |i: usize| -> Result<u16, String> {
        listeners[i]
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| e.to_string())
    };
    Ok(Ports {
        admin: port(0)?,
        boxes: port(1)?,
        smsc_mt: port(2)?,
        smsc_mo: port(3)?,
        sendsms: port(4)?,
    })
}

fn fresh_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "engage-kannel-{}-{n}-{nanos:08x}",
            std::process::id()
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating {}: {e}", dir.display())),
        }
    }
}

/// A `sh` reading pids on stdin until EOF, then SIGKILLing them: EOF without Drop having killed
/// it first means this process died (a crashed test binary), and Kannel must not outlive it.
/// None (no watchdog) if sh cannot be started.
fn spawn_watchdog() -> Option<(Child, ChildStdin)> {
    let script = "trap '' INT HUP TERM; pids=; while read p; do pids=\"$pids $p\"; done; \
                  [ -n \"$pids\" ] && kill -9 $pids 2>/dev/null; exit 0";
    let mut child = Command::new("/bin/sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}
