//! `cargo xtask fuzz-api` (and a step of `cargo xtask test`): schemathesis fuzzes the running
//! server from its own `/openapi.json` (SPEC §6): positive and negative data for every operation,
//! a bounded number of examples each, a fixed seed. It fails on any 5xx, any status the document
//! does not declare, and any response body or content type that breaks its declared schema.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::cmd::{self, Result};
use crate::setup;

/// Examples per operation (and phase): enough to reach every field, bounded to keep CI short
/// (≈ 2,400 requests, ≈ 35 s here).
const MAX_EXAMPLES: &str = "20";
const TOKEN: &str = "fuzz-admin-token";
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// Kills the server however the fuzz run ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run() -> Result {
    let st = setup::find_schemathesis().ok_or_else(|| {
        "schemathesis is missing: run `cargo xtask setup --browser` (it installs it into \
         target/tools/venv)"
            .to_owned()
    })?;
    cmd::run(cmd::cargo().args(["build", "-p", "engage-server"]))?;
    let data = cmd::target_dir().join("fuzz-data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let addr = free_addr()?;
    let log =
        std::fs::File::create(data.join("server.log")).map_err(|e| format!("server log: {e}"))?;
    // The demo document gives the examples (site `acme`) real campaigns, skills and engagements.
    let child = Command::new(cmd::target_dir().join("debug").join("engage-server"))
        .args(["--listen", &addr.to_string(), "--data"])
        .arg(&data)
        .env("ENGAGE_ADMIN_TOKEN", TOKEN)
        .env("ENGAGE_DEMO", cmd::root().join("www/demo/campaigns.json"))
        .current_dir(cmd::root())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("could not start engage-server: {e}"))?;
    let _server = Server(child);
    wait_healthy(addr)?;
    let schema = format!("http://{addr}/openapi.json");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let report = cmd::target_dir().join("fuzz-report");
    let mut fuzz = Command::new(st);
    fuzz.args(["run", &schema, "-H", &auth, "--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", "1", "--no-shrink"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // The two SSE streams never end: their first event is tested in server/tests.
        .args(["--exclude-path-regex", "/stream$"])
        .args(["--request-timeout", "10", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report);
    cmd::run(&mut fuzz)
        .map_err(|e| format!("{e}\n(server log: {})", cmd::rel(&data.join("server.log"))))
}

fn free_addr() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map_err(|e| e.to_string())
}

fn wait_healthy(addr: SocketAddr) -> Result {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if text.starts_with("HTTP/1.1 200") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "engage-server on {addr} did not become healthy in 30 s"
    ))
}
