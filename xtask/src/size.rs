//! `cargo xtask size`: the wire weight a page pays for the runtime (SPEC §8): `www/tag.js` + the
//! JS glue + the wasm named by `www/pkg/manifest.json`, each gzip level 9, total ≤ 60 KB.
//!
//! The runtime is not yet within that budget (README, "Measured numbers"; the open browser
//! runtime issue): until it is, the weight is reported against the budget and the step fails
//! only above [`CEILING_BYTES`], so that nothing makes it heavier meanwhile. Lower the ceiling
//! with every reduction; at or under the budget, the budget itself is enforced.

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::cmd::{self, Result};

/// 60 KB with KB = 1000 bytes: the stricter reading, so the budget holds under either reading.
const BUDGET_BYTES: usize = 60_000;

/// Today's weight (99.0 KB) plus a little room: the regression guard while over budget.
const CEILING_BYTES: usize = 101_000;

pub fn run() -> Result {
    let root = cmd::root();
    let tag = root.join("www/tag.js");
    if !tag.exists() {
        return Err(
            "www/tag.js does not exist yet: the size budget (SPEC §8) counts tag.js + \
                    JS glue + wasm; write www/tag.js, then rerun `cargo xtask size`"
                .to_string(),
        );
    }
    let (js, wasm) = read_manifest(&root.join("www/pkg/manifest.json"))?;
    let files = [
        ("www/tag.js".to_string(), tag),
        (format!("www/pkg/{js}"), root.join("www/pkg").join(&js)),
        (format!("www/pkg/{wasm}"), root.join("www/pkg").join(&wasm)),
    ];

    println!("==> gzip -9 of what a page loads for the runtime (KB = 1000 bytes)");
    row("file", "raw bytes", "gzip bytes", "gzip KB");
    let (mut raw_total, mut gz_total) = (0, 0);
    for (name, path) in &files {
        let bytes = fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let gz = gzip_len(&bytes)?;
        row(name, &bytes.len().to_string(), &gz.to_string(), &kb(gz));
        raw_total += bytes.len();
        gz_total += gz;
    }
    row(
        "total",
        &raw_total.to_string(),
        &gz_total.to_string(),
        &kb(gz_total),
    );
    row("budget", "", &BUDGET_BYTES.to_string(), &kb(BUDGET_BYTES));
    row(
        "ceiling",
        "",
        &CEILING_BYTES.to_string(),
        &kb(CEILING_BYTES),
    );
    if gz_total > CEILING_BYTES {
        return Err(format!(
            "the runtime got heavier: {gz_total} gzip bytes > the {CEILING_BYTES}-byte ceiling \
             (SPEC §8 budget: {BUDGET_BYTES})"
        ));
    }
    if gz_total > BUDGET_BYTES {
        println!(
            "    OVER THE SPEC §8 BUDGET by {} gzip bytes ({} > {BUDGET_BYTES}): not yet met, \
             see README \"Measured numbers\"; failing only above the {CEILING_BYTES}-byte ceiling",
            gz_total - BUDGET_BYTES,
            gz_total
        );
        return Ok(());
    }
    println!(
        "    within budget: {} gzip bytes to spare",
        BUDGET_BYTES - gz_total
    );
    Ok(())
}

/// The two file names from `{"js": "...", "wasm": "...", ...}`; xtask writes this file itself, so
/// a two-field lookup is enough and avoids a JSON dependency.
fn read_manifest(path: &Path) -> Result<(String, String)> {
    let text = fs::read_to_string(path).map_err(|_| {
        "www/pkg/manifest.json is missing: run `cargo xtask build-wasm` first".to_string()
    })?;
    let field = |key: &str| {
        json_string(&text, key)
            .filter(|v| !v.is_empty() && !v.contains('/') && !v.contains(".."))
            .ok_or_else(|| format!("www/pkg/manifest.json has no valid \"{key}\" file name"))
    };
    Ok((field("js")?, field("wasm")?))
}

/// The string value of `"key": "value"` in a flat JSON object (no escapes in our file names).
fn json_string(text: &str, key: &str) -> Option<String> {
    let after_key = text.split_once(&format!("\"{key}\""))?.1.trim_start();
    let value = after_key
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(value.split_once('"')?.0.to_string())
}

fn gzip_len(bytes: &[u8]) -> Result<usize> {
    gzip(bytes).map(|out| out.len())
}

/// Gzip at level 9: what the budget counts and what the server sends for `/pkg/*`.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes)
        .and_then(|()| gz.finish())
        .map_err(|e| format!("gzip failed: {e}"))
}

fn row(name: &str, raw: &str, gz: &str, gz_kb: &str) {
    println!("    {name:<44} {raw:>10} {gz:>10} {gz_kb:>8}");
}

fn kb(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_manifest_fields() {
        let text = "{\n  \"js\": \"engage_runtime.0123abcd.js\",\n  \"wasm\": \"engage_runtime_bg.89abcdef.wasm\",\n  \"glue_default_wasm\": null\n}";
        assert_eq!(
            json_string(text, "js").as_deref(),
            Some("engage_runtime.0123abcd.js")
        );
        assert_eq!(
            json_string(text, "wasm").as_deref(),
            Some("engage_runtime_bg.89abcdef.wasm")
        );
        assert_eq!(json_string(text, "css"), None);
    }
}
