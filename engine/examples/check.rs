//! Validates and compiles a campaign document: `cargo run -p engage-engine --example check -- FILE`.
//! Prints every error and warning with its path; exits 1 on errors.

use engage_engine::compile::{compile_text, CompileOptions};
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check FILE.json");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    match compile_text(&text, CompileOptions::at(now)) {
        Ok(c) => {
            for w in &c.warnings {
                println!("warning: {}: {}", w.path, w.message);
            }
            let bytes = serde_json::to_vec(&c.bundle).map_or(0, |b| b.len());
            println!(
                "ok: {} campaigns, bundle {} bytes, {} warning(s)",
                c.bundle.campaigns.len(),
                bytes,
                c.warnings.len()
            );
        }
        Err(errors) => {
            for e in &errors {
                println!("error: {}: {}", e.path, e.message);
            }
            std::process::exit(1);
        }
    }
}
