//! `cargo xtask size`: the wire weight a page pays for the runtime (SPEC §8): `www/tag.js` + the
//! JS glue (with the runtime's JS bundled in) + the wasm named by `www/pkg/manifest.json`, as
//! the server sends them gzip-encoded, total ≤ 60 KB; above that the step fails.
//!
//! The glue and the wasm are counted as their precompressed `.gz` siblings (written by
//! `build-wasm` with Zopfli; the server's `/pkg/` sends exactly those bytes); `tag.js` as the
//! server sends it: the manifest spliced in, gzip level 9.

use std::fs;
use std::path::Path;

use crate::cmd::{self, Result};

/// 60 KB with KB = 1000 bytes: the stricter reading, so the budget holds under either reading.
const BUDGET_BYTES: usize = 60_000;

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
    // What the server sends for /tag.js: the minified copy when build-wasm wrote one.
    let min = root.join("www/pkg/tag.min.js");
    let (tag_name, tag) = if min.is_file() {
        ("www/pkg/tag.min.js", min)
    } else {
        ("www/tag.js", tag)
    };
    let files = [
        (tag_name.to_string(), tag),
        (format!("www/pkg/{js}"), root.join("www/pkg").join(&js)),
        (format!("www/pkg/{wasm}"), root.join("www/pkg").join(&wasm)),
    ];

    println!("==> gzip weight of what a page loads for the runtime (KB = 1000 bytes)");
    row("file", "raw bytes", "gzip bytes", "gzip KB");
    let (mut raw_total, mut gz_total) = (0, 0);
    for (i, (name, path)) in files.iter().enumerate() {
        let mut bytes = fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let gz = if i == 0 {
            bytes = served_tag(&bytes, &root.join("www/pkg/manifest.json"));
            gzip9(&bytes)?
        } else {
            gzip_len(path, &bytes)?
        };
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
    // Not in the total: only a page with the debug panel open fetches it.
    let pkg = root.join("www/pkg");
    if let Ok(entries) = fs::read_dir(&pkg) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("engage_debug.") && name.ends_with(".js") {
                let bytes =
                    fs::read(e.path()).map_err(|err| format!("cannot read {name}: {err}"))?;
                let gz = gzip_len(&e.path(), &bytes)?;
                row(
                    &format!("(debug panel, on demand) {name}"),
                    &bytes.len().to_string(),
                    &gz.to_string(),
                    &kb(gz),
                );
            }
        }
    }
    if gz_total > BUDGET_BYTES {
        return Err(format!(
            "over the SPEC §8 budget: {gz_total} gzip bytes > {BUDGET_BYTES} (by {})",
            gz_total - BUDGET_BYTES
        ));
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

/// tag.js as `GET /tag.js` serves it: the manifest in place of its placeholder.
fn served_tag(tag: &[u8], manifest: &Path) -> Vec<u8> {
    let text = String::from_utf8_lossy(tag);
    match fs::read_to_string(manifest) {
        Ok(m) => text
            .replace("/*__ENGAGE_MANIFEST__*/null", m.trim())
            .into_bytes(),
        Err(_) => tag.to_vec(),
    }
}

/// Gzip level 9, as the server compresses what it builds at run time (tag.js).
fn gzip9(bytes: &[u8]) -> Result<usize> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)
        .and_then(|()| gz.finish())
        .map(|v| v.len())
        .map_err(|e| format!("gzip failed: {e}"))
}

/// The served gzip size: the precompressed sibling when it is there and holds these bytes,
/// else compressed now.
fn gzip_len(path: &Path, bytes: &[u8]) -> Result<usize> {
    let mut sibling = path.as_os_str().to_owned();
    sibling.push(".gz");
    if let Ok(gz) = fs::read(&sibling) {
        if inflates_to(&gz, bytes) {
            return Ok(gz.len());
        }
    }
    gzip(bytes).map(|out| out.len())
}

/// Whether `gz` is a gzip stream of exactly `bytes`.
fn inflates_to(gz: &[u8], bytes: &[u8]) -> bool {
    use std::io::Read;
    let mut out = Vec::with_capacity(bytes.len());
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .is_ok()
        && out == bytes
}

/// Gzip as the server sends `/pkg/*`: precompressed once at build time with Zopfli, which
/// writes standard gzip (any browser inflates it) a few percent smaller than `gzip -9`. The
/// budget counts exactly these bytes.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        bytes,
        &mut out,
    )
    .map_err(|e| format!("gzip (zopfli) failed: {e}"))?;
    Ok(out)
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
