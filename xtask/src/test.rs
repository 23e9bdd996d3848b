//! `cargo xtask test` (what `.ci/run` calls): every check, cheapest first, stopping at the first
//! failure, then a summary of what ran and how long each step took.

use std::time::{Duration, Instant};

use crate::cmd::{self, Result};
use crate::setup::{self, CHROMEDRIVER, CHROMIUM};
use crate::{size, wasm};

const WASM: &str = "wasm32-unknown-unknown";
/// Crates the browser build must not pull in (SPEC §2: no regex, no chrono in the wasm).
const BANNED_IN_WASM: &[&str] = &["regex", "chrono"];

enum Outcome {
    Passed,
    Skipped(&'static str),
    Failed,
}

#[derive(Default)]
struct Report {
    steps: Vec<(&'static str, Duration, Outcome)>,
}

impl Report {
    /// Run one named step; a step returning `Ok(Some(reason))` was skipped.
    fn step(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<Option<&'static str>>,
    ) -> Result {
        println!("\n### {name}");
        let start = Instant::now();
        let result = f();
        let outcome = match &result {
            Ok(None) => Outcome::Passed,
            Ok(Some(reason)) => Outcome::Skipped(reason),
            Err(_) => Outcome::Failed,
        };
        self.steps.push((name, start.elapsed(), outcome));
        result
            .map(|_| ())
            .map_err(|e| format!("step `{name}` failed: {e}"))
    }

    fn print(&self) {
        println!("\n=== cargo xtask test summary");
        for (name, took, outcome) in &self.steps {
            let status = match outcome {
                Outcome::Passed => "ok".to_string(),
                Outcome::Skipped(why) => format!("SKIPPED ({why})"),
                Outcome::Failed => "FAILED".to_string(),
            };
            println!("    {name:<34} {:>8.1}s  {status}", took.as_secs_f64());
        }
        let total: Duration = self.steps.iter().map(|s| s.1).sum();
        println!("    {:<34} {:>8.1}s", "total", total.as_secs_f64());
    }
}

pub fn run() -> Result {
    let mut report = Report::default();
    let result = all_steps(&mut report);
    report.print();
    result
}

fn all_steps(r: &mut Report) -> Result {
    let mut tools = None;
    r.step("setup (toolchain + Chromium)", || {
        tools = Some(setup::run(true)?);
        Ok(None)
    })?;
    let tools = tools.ok_or("setup returned no tools")?;
    r.step("cargo fmt --check", || {
        cargo(&["fmt", "--all", "--", "--check"])
    })?;
    r.step("clippy (native)", || {
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    r.step("clippy (runtime, wasm32)", || {
        cargo(&[
            "clippy",
            "-p",
            "engage-runtime",
            "--target",
            WASM,
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    r.step("native tests", || {
        cargo(&[
            "test",
            "--workspace",
            "--exclude",
            "engage-e2e",
            "--exclude",
            "engage-runtime",
        ])
    })?;
    r.step("server API suites on PostgreSQL", postgres_suites)?;
    r.step("engine builds for wasm32", || {
        cargo(&[
            "build",
            "-p",
            "engage-engine",
            "--target",
            WASM,
            "--no-default-features",
        ])
    })?;
    r.step("no regex/chrono in the wasm", || {
        no_banned_crates().map(|()| None)
    })?;
    r.step("build-wasm", || wasm::build(&tools).map(|()| None))?;
    r.step("wasm tests (headless Chromium)", browser_tests)?;
    r.step("end-to-end tests", end_to_end)?;
    r.step("API fuzz (schemathesis, from /openapi.json)", || {
        crate::fuzz::run().map(|()| None)
    })?;
    r.step("size budget", || size::run().map(|()| None))
}

/// The server's API suites again, every test app on a fresh database of a real PostgreSQL
/// cluster started here (SPEC §12; `replicas.rs` already ran with the native tests).
fn postgres_suites() -> Result<Option<&'static str>> {
    let cluster = crate::postgres::Cluster::start()?;
    println!("    PostgreSQL on 127.0.0.1:{}", cluster.port());
    let mut test = cmd::cargo();
    test.args(["test", "-p", "engage-server"]);
    for suite in POSTGRES_SUITES {
        test.args(["--test", suite]);
    }
    test.env("ENGAGE_TEST_POSTGRES", cluster.url("postgres"));
    cmd::run(&mut test).map(|()| None)
}

/// The suites that run on both backends (the rest test one process or SQLite's own limits).
const POSTGRES_SUITES: &[&str] = &[
    "api",
    "sms_api",
    "conversations_api",
    "scenarios",
    "socket",
    "keys",
];

fn cargo(args: &[&str]) -> Result<Option<&'static str>> {
    cmd::run(cmd::cargo().args(args)).map(|()| None)
}

/// `cargo tree` of both browser-side crates, as the wasm build resolves them.
fn no_banned_crates() -> Result {
    let trees: [&[&str]; 2] = [
        &[
            "tree",
            "-p",
            "engage-runtime",
            "--target",
            WASM,
            "-e",
            "normal",
            "--prefix",
            "none",
        ],
        &[
            "tree",
            "-p",
            "engage-engine",
            "--target",
            WASM,
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
        ],
    ];
    for args in trees {
        let mut tree = cmd::cargo();
        tree.args(args);
        let shown = cmd::show(&tree);
        let found = banned_crates(&cmd::capture(&mut tree)?);
        if !found.is_empty() {
            return Err(format!(
                "`{shown}` lists {}: the browser build must not depend on regex or chrono \
                 (use the engine with default-features = false)",
                found.join(", ")
            ));
        }
    }
    println!("    neither tree contains regex* or chrono*");
    Ok(())
}

/// Crate names (first word of each `--prefix none` line) starting with a banned name.
fn banned_crates(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| BANNED_IN_WASM.iter().any(|b| name.starts_with(b)))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// wasm-bindgen-test in headless Chromium, if runtime-wasm has any such tests yet.
fn browser_tests() -> Result<Option<&'static str>> {
    let crate_dir = cmd::root().join("runtime-wasm");
    let has_tests = crate_dir.join("tests").is_dir()
        || cmd::rust_sources_contain(&crate_dir.join("src"), "wasm_bindgen_test");
    if !has_tests {
        println!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!(
            "!!! NO BROWSER TESTS YET: runtime-wasm has no tests/ and no #[wasm_bindgen_test]"
        );
        println!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return Ok(Some("no browser tests yet"));
    }
    cmd::run(
        cmd::cargo()
            .args(["test", "-p", "engage-runtime", "--target", WASM])
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120"),
    )
    .map(|()| None)
}

/// The e2e crate drives Chromium against a real server; it cannot see another package's binary
/// through CARGO_BIN_EXE_*, so build the server here and pass its path as ENGAGE_SERVER_BIN.
fn end_to_end() -> Result<Option<&'static str>> {
    cmd::run(cmd::cargo().args(["build", "-p", "engage-server"]))?;
    let server = cmd::target_dir().join("debug").join("engage-server");
    let mut e2e = cmd::cargo();
    e2e.args(["test", "-p", "engage-e2e"])
        .env("ENGAGE_CHROMIUM", CHROMIUM)
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .env("ENGAGE_SERVER_BIN", &server);
    cmd::run(&mut e2e).map(|()| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_banned_crates() {
        let tree = "engage-runtime v0.1.0 (/w/runtime-wasm)\nserde v1.0.0\nregex-syntax v0.8.0\n\
                    chrono v0.4.0\nregex-syntax v0.8.0 (*)\n";
        assert_eq!(banned_crates(tree), ["chrono", "regex-syntax"]);
        assert!(banned_crates("serde v1.0.0\nserde_json v1.0.0\n").is_empty());
    }
}
