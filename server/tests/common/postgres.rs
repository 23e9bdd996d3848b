//! A real PostgreSQL cluster for tests and benchmarks: `initdb` and `pg_ctl` on a free loopback
//! port, with the data directory in a temp folder, stopped (and removed) on drop.
//!
//! std only: `cargo xtask` includes this file by `#[path]`, the server's integration tests
//! through `tests/common/mod.rs`. PostgreSQL refuses to run as root, so as root every command
//! runs as the `postgres` user (`runuser`), which owns the temp folder.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const INSTALL_HINT: &str = "install the Debian package postgresql (cargo xtask setup does)";
/// The user the server runs as when we are root.
const OS_USER: &str = "postgres";

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

fn server_options(port: u16, dir: &Path) -> String {
    format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
         -c shared_buffers=128MB",
        dir.display()
    )
}

/// The newest `/usr/lib/postgresql/<major>/bin` (or `ENGAGE_PG_BIN`).
pub fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(b) = std::env::var("ENGAGE_PG_BIN") {
        return Ok(PathBuf::from(b));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| format!("no PostgreSQL in /usr/lib/postgresql: {INSTALL_HINT}"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| format!("no initdb under /usr/lib/postgresql: {INSTALL_HINT}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn run(bin: &Path, program: &str, args: &[&str]) -> Result<Output, String> {
    let exe = bin.join(program);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", OS_USER, "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .current_dir("/")
        .output()
        .map_err(|e| format!("cannot run {}: {e} ({INSTALL_HINT})", exe.display()))
}

fn check(out: Output, what: &str) -> Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Cluster {
    /// Creates and starts a cluster (about a second).
    pub fn start() -> Result<Cluster, String> {
        let bin = bin_dir()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("engage-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if is_root() {
            check(
                Command::new("chown")
                    .args([
                        &format!("{OS_USER}:{OS_USER}"),
                        dir.to_str().unwrap_or_default(),
                    ])
                    .output()
                    .map_err(|e| format!("chown: {e}"))?,
                "chown of the cluster folder",
            )?;
        }
        let data = dir.join("data");
        let data_s = data.to_string_lossy().to_string();
        check(
            run(
                &bin,
                "initdb",
                &[
                    "-D",
                    &data_s,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
            )?,
            "initdb",
        )?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let opts = server_options(port, &dir);
            let log = dir.join("postgres.log").to_string_lossy().to_string();
            let out = run(
                &bin,
                "pg_ctl",
                &[
                    "-D", &data_s, "-o", &opts, "-l", &log, "-w", "-t", "30", "start",
                ],
            )?;
            if out.status.success() {
                let c = Cluster { dir, bin, port };
                c.wait_ready()?;
                return Ok(c);
            }
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(format!("PostgreSQL did not start: {last}"))
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = run(
                &self.bin,
                "pg_isready",
                &["-h", "127.0.0.1", "-p", &self.port.to_string()],
            )?;
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("PostgreSQL is not ready after 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown: connections are closed), keeping its data.
    pub fn stop(&self) -> Result<(), String> {
        let data = self.dir.join("data").to_string_lossy().to_string();
        check(
            run(
                &self.bin,
                "pg_ctl",
                &["-D", &data, "-m", "fast", "-w", "stop"],
            )?,
            "pg_ctl stop",
        )
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        let data = self.dir.join("data").to_string_lossy().to_string();
        let log = self.dir.join("postgres.log").to_string_lossy().to_string();
        let opts = server_options(self.port, &self.dir);
        check(
            run(
                &self.bin,
                "pg_ctl",
                &[
                    "-D", &data, "-o", &opts, "-l", &log, "-w", "-t", "30", "start",
                ],
            )?,
            "pg_ctl start",
        )?;
        self.wait_ready()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (the `postgres` superuser, no password: trust on loopback).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db` (with `createdb`).
    pub fn create_database(&self, db: &str) -> Result<String, String> {
        check(
            run(
                &self.bin,
                "createdb",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    db,
                ],
            )?,
            "createdb",
        )?;
        Ok(self.url(db))
    }

    /// Runs one SQL statement with `psql` and returns its unaligned output.
    pub fn sql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = run(
            &self.bin,
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        )?;
        if !out.status.success() {
            return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().to_string();
        let _ = run(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
