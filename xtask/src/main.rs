//! `cargo xtask <command>`: set-up, build, checks and the demo for engage (SPEC §9).
//! Each command prints every step it runs (`==> ...`) and stops at the first failure, exiting 1.

mod bench;
mod bench_sms;
mod cmd;
mod demo;
mod demo_receiver;
mod demo_sms;
mod fuzz;
#[path = "../../server/tests/common/postgres.rs"]
mod postgres;
mod setup;
mod size;
mod test;
mod wasm;
mod wasm_names;

use cmd::Result;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup [--browser]   install what is missing: wasm32 target, pinned wasm-bindgen CLI, wasm-opt
                      (--browser: also Chromium + chromedriver, Kannel, PostgreSQL and
                      schemathesis in target/tools/venv)
  build-wasm          build the runtime to www/pkg/ (content-hashed, with manifest.json)
  size                gzip weight of tag.js + glue + wasm against the 60 KB budget
  test                everything CI checks (what .ci/run calls)
  fuzz-api            schemathesis against a running server, from its /openapi.json
  demo [--listen ADDR] [--data DIR]
                      build and run the server with the demo campaigns
  bench [-- ARGS]     the engine's criterion benchmarks
  bench-browser       in headless Chromium: start-up over 10 to 10,000 campaigns, decisions
                      beside GrowthBook's SDK and Chatwoot's URLPattern filter
  bench-sms [RATE]    SMS figures: 100,000-contact freeze, send rate through Kannel, RSS
  bench-store [INGEST] [TOTAL]
                      storage figures on SQLite and PostgreSQL: event ingestion rows/s,
                      report query time over TOTAL events (default 200000 10000000)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = cmd::init().and_then(|()| dispatch(&args)) {
        eprintln!("\nxtask: error: {e}");
        std::process::exit(1);
    }
}

fn dispatch(args: &[String]) -> Result {
    let Some((command, rest)) = args.split_first() else {
        return Err(format!("no command given\n\n{USAGE}"));
    };
    match command.as_str() {
        "setup" => match rest {
            [] => setup::run(false).map(drop),
            [flag] if flag == "--browser" => setup::run(true).map(drop),
            _ => Err(format!("setup: unexpected arguments {rest:?}")),
        },
        "build-wasm" => no_args(command, rest).and_then(|()| wasm::build(&setup::Tools::find()?)),
        "size" => no_args(command, rest).and_then(|()| size::run()),
        "test" => no_args(command, rest).and_then(|()| test::run()),
        "fuzz-api" => no_args(command, rest).and_then(|()| fuzz::run()),
        "demo" => demo::run(&demo::parse(rest)?),
        "bench-store" => {
            let n = |i: usize, default: u64| -> Result<u64> {
                rest.get(i).map_or(Ok(default), |v| {
                    v.parse()
                        .map_err(|_| format!("bench-store: {v} is not a number"))
                })
            };
            if rest.len() > 2 {
                return Err(format!("bench-store: unexpected arguments {rest:?}"));
            }
            bench::store(n(0, 200_000)?, n(1, 10_000_000)?)
        }
        "bench-sms" => match rest {
            [] => bench_sms::run(500),
            [rate] => bench_sms::run(
                rate.parse()
                    .map_err(|_| format!("bench-sms: {rate} is not a rate"))?,
            ),
            _ => Err(format!("bench-sms: unexpected arguments {rest:?}")),
        },
        "bench-browser" => no_args(command, rest).and_then(|()| bench::browser()),
        "bench" => bench::run(rest.strip_prefix(&["--".to_string()][..]).unwrap_or(rest)),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    }
}

fn no_args(command: &str, rest: &[String]) -> Result {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!("{command}: unexpected arguments {rest:?}"))
    }
}
