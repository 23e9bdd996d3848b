//! The real binary: flags and environment, the generated admin token surviving a restart,
//! `--demo` loading once, clean exit on SIGTERM.

mod common;

use bytes::Bytes;
use common::{client, document, http, make_www};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    base: String,
    stdout: Vec<String>,
}

fn start(dir: &Path, configure: impl FnOnce(&mut Command)) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engage-server"));
    cmd.env_remove("ENGAGE_ADMIN_TOKEN")
        .env_remove("ENGAGE_DEMO")
        .env("ENGAGE_LISTEN", "127.0.0.1:0")
        .env("ENGAGE_DATA", dir.join("data"))
        .env("RUST_LOG", "warn")
        .arg("--www")
        .arg(dir.join("www"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    configure(&mut cmd);
    let mut child = cmd.spawn().expect("engage-server starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .expect("engage-server printed its address")
            .unwrap();
        stdout.push(line.clone());
        if let Some(url) = line.split("listening on ").nth(1) {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base,
        stdout,
    }
}

fn stop(mut s: Server) {
    unsafe {
        libc::kill(s.child.id() as i32, libc::SIGTERM);
    }
    let status = s.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn generated_token_demo_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    make_www(&dir.path().join("www"));
    let demo = dir.path().join("demo.json");
    std::fs::write(&demo, document("demo", 5).to_string()).unwrap();
    let c = client();

    let s = start(dir.path(), |c| {
        c.arg("--demo").arg(&demo);
    });
    let token_line = s
        .stdout
        .iter()
        .find(|l| l.contains("admin token"))
        .expect("the token is printed")
        .clone();
    let token = token_line.rsplit(' ').next().unwrap().to_owned();
    assert_eq!(token.len(), 64, "{token_line}");
    // Only the digest is on disk.
    let stored = std::fs::read_to_string(dir.path().join("data/admin-token.sha256")).unwrap();
    assert!(!stored.contains(&token));
    let auth = format!("Bearer {token}");
    let b = http(
        &c,
        "GET",
        &format!("{}/v1/sites/demo/bundle", s.base),
        &[],
        Bytes::new(),
    )
    .await
    .unwrap();
    b.assert_status(200);
    assert_eq!(b.json()["campaigns"][0]["priority"], 5);
    let v = http(
        &c,
        "GET",
        &format!("{}/admin/v1/sites/demo/versions", s.base),
        &[("authorization", &auth)],
        Bytes::new(),
    )
    .await
    .unwrap();
    v.assert_status(200);
    assert_eq!(v.json()["versions"][0]["change"], "demo");
    stop(s);

    // Restart: the printed token still works, the demo is not loaded again.
    let s = start(dir.path(), |c| {
        c.env("ENGAGE_DEMO", &demo);
    });
    assert!(
        !s.stdout.iter().any(|l| l.contains(&token)),
        "{:?}",
        s.stdout
    );
    let v = http(
        &c,
        "GET",
        &format!("{}/admin/v1/sites/demo/versions", s.base),
        &[("authorization", &auth)],
        Bytes::new(),
    )
    .await
    .unwrap();
    v.assert_status(200);
    assert_eq!(v.json()["versions"].as_array().unwrap().len(), 1);
    stop(s);

    // ENGAGE_ADMIN_TOKEN overrides the stored one.
    let s = start(dir.path(), |c| {
        c.env("ENGAGE_ADMIN_TOKEN", "from-env");
    });
    let url = format!("{}/admin/v1/sites/demo/versions", s.base);
    http(
        &c,
        "GET",
        &url,
        &[("authorization", "Bearer from-env")],
        Bytes::new(),
    )
    .await
    .unwrap()
    .assert_status(200);
    http(&c, "GET", &url, &[("authorization", &auth)], Bytes::new())
        .await
        .unwrap()
        .assert_error(401, "unauthorized");
    stop(s);
}

#[test]
fn bad_flags_and_an_invalid_demo_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_engage-server"))
            .env_remove("ENGAGE_DEMO")
            .env("ENGAGE_ADMIN_TOKEN", "x")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let bad_doc = dir.path().join("bad.json");
    std::fs::write(
        &bad_doc,
        r#"{"site": "demo", "campaigns": [{"id": "Bad Id"}]}"#,
    )
    .unwrap();
    let out = run(&[
        "--listen",
        "127.0.0.1:0",
        "--data",
        data,
        "--demo",
        bad_doc.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("campaigns[0]"), "{err}");
    let out = run(&["--listen", "not-an-address", "--data", data]);
    assert!(!out.status.success());
    let out = run(&["--country-header", "bad header", "--data", data]);
    assert!(!out.status.success());
    let out = run(&["--help"]);
    assert!(out.status.success());
}
