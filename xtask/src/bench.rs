//! `cargo xtask bench`: the engine's criterion benchmarks (SPEC §8 budgets), then the medians and
//! where criterion keeps its results, for the README.

use std::fs;
use std::path::Path;

use crate::cmd::{self, Result};

pub fn run(extra: &[String]) -> Result {
    let mut bench = cmd::cargo();
    bench.args(["bench", "-p", "engage-engine"]);
    if !extra.is_empty() {
        bench.arg("--").args(extra);
    }
    cmd::run(&mut bench)?;
    let dir = cmd::target_dir().join("criterion");
    println!(
        "\ncriterion results: {}/<group>/<bench>/new/estimates.json",
        cmd::rel(&dir)
    );
    let mut medians = Vec::new();
    collect_medians(&dir, &dir, &mut medians);
    medians.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, median_ns) in medians {
        println!("    {name:<50} median {}", human(median_ns));
    }
    Ok(())
}

/// `cargo xtask bench-store`: the storage benchmark (`server/examples/store_bench.rs`) on SQLite
/// and on a PostgreSQL cluster started here, one after the other on the same machine.
pub fn store(ingest: u64, total: u64) -> Result {
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "engage-server",
        "--example",
        "store_bench",
    ]))?;
    let bin = cmd::target_dir().join("release/examples/store_bench");
    let (ingest, total) = (ingest.to_string(), total.to_string());
    cmd::run(std::process::Command::new(&bin).args(["sqlite", &ingest, &total]))?;
    let cluster = crate::postgres::Cluster::start()?;
    let url = cluster.create_database("bench")?;
    cmd::run(std::process::Command::new(&bin).args([url.as_str(), &ingest, &total]))
}

/// `cargo xtask bench-browser`: the browser benchmark (`tests/tests/bench_browser.rs`) in
/// headless Chromium against a release server: start-up over 10 to 10,000 campaigns, then the
/// decisions beside GrowthBook's SDK and Chatwoot's URLPattern filter. Prints the tables and
/// writes `tests/artifacts/bench-browser.json`.
pub fn browser() -> Result {
    crate::wasm::build(&crate::setup::Tools::find()?)?;
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "engage-server"]))?;
    let server = cmd::target_dir().join("release").join("engage-server");
    cmd::run(
        cmd::cargo()
            .args([
                "test",
                "-p",
                "engage-e2e",
                "--test",
                "bench_browser",
                "--",
                "--nocapture",
            ])
            .env("ENGAGE_CHROMIUM", crate::setup::CHROMIUM)
            .env("CHROMEDRIVER", crate::setup::CHROMEDRIVER)
            .env("ENGAGE_SERVER_BIN", &server)
            .env("ENGAGE_BENCH_SIZES", "10,100,1000,10000")
            .env("ENGAGE_BENCH_LOADS", "5"),
    )
}

/// Every `<bench>/new/estimates.json` under `dir`, as (bench path, median in ns).
fn collect_medians(base: &Path, dir: &Path, out: &mut Vec<(String, f64)>) {
    let estimates = dir.join("new").join("estimates.json");
    if let Some(median) = fs::read_to_string(&estimates)
        .ok()
        .and_then(|t| median_ns(&t))
    {
        let name = dir.strip_prefix(base).unwrap_or(dir).display().to_string();
        out.push((name, median));
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && entry.file_name() != "new" && entry.file_name() != "base" {
            collect_medians(base, &path, out);
        }
    }
}

/// `"median":{"confidence_interval":{...},"point_estimate":X,...}` → X. The interval has no
/// point_estimate of its own, so the first one after "median" is the median's.
fn median_ns(estimates: &str) -> Option<f64> {
    let after = estimates.split_once("\"median\"")?.1;
    let value = after
        .split_once("\"point_estimate\"")?
        .1
        .trim_start()
        .strip_prefix(':')?;
    let end = value.find([',', '}']).unwrap_or(value.len());
    value[..end].trim().parse().ok()
}

fn human(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_criterion_median() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.0,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1}}"#;
        assert_eq!(super::median_ns(json), Some(1.5));
    }
}
