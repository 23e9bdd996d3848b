//! `cargo xtask build-wasm`: the browser runtime, optimized and content-hashed into `www/pkg/`;
//! then the admin console's validator into `www/admin/pkg/` ([`build_admin`]).
//!
//! Output (www/pkg/, not committed):
//! - `engage_runtime.<h8>.js`       — wasm-bindgen `--target web` glue with the runtime's JS
//!   (`runtime-wasm/js/host.js`, `ui.js`: wasm-bindgen snippets) bundled in, minified by esbuild
//! - `engage_runtime_bg.<h8>.wasm`  — the wasm-opt'ed module
//! - `manifest.json` — `{"js": ..., "wasm": ..., "glue_default_wasm": ...}`
//!
//! The glue's default `init()` URL is rewritten to the hashed wasm name (recorded as
//! `glue_default_wasm`), so loading the glue and calling `init()` works; tag.js may still pass
//! `/pkg/<manifest.wasm>` explicitly. Hashed names let the server cache both files forever.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::cmd::{self, Result};
use crate::setup::Tools;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";
/// Default name wasm-bindgen gives the wasm, and what the glue fetches unless told otherwise.
const BG_WASM: &str = "engage_runtime_bg.wasm";
const PKG_DIR: &str = "www/pkg";
const ADMIN_PKG_DIR: &str = "www/admin/pkg";
/// The runtime's debug panel (`runtime-wasm/js/debug.js`): loaded on demand, not bundled.
const DEBUG_JS: &str = "debug.js";

/// rustc ≥ 1.82 emits these by default for wasm32-unknown-unknown (`rustc --print cfg --target
/// wasm32-unknown-unknown`); older wasm-opt (Debian bookworm's 108) rejects them unless enabled.
/// All are supported by every browser that runs wasm-bindgen `--target web` output.
const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

pub fn build(tools: &Tools) -> Result {
    warn_if_no_exports();
    let target = cmd::target_dir();
    let input = target
        .join(TARGET)
        .join(PROFILE)
        .join("engage_runtime.wasm");
    let out_dir = target.join("wasm-bindgen");

    cargo_build("engage-runtime")?;
    // A clean output dir, so no stale `snippets/` from an earlier build gets published.
    if out_dir.exists() {
        fs::remove_dir_all(&out_dir)
            .map_err(|e| format!("cannot clear {}: {e}", cmd::rel(&out_dir)))?;
    }
    bindgen(tools, &input, &out_dir)?;
    let optimized = out_dir.join("engage_runtime_bg.opt.wasm");
    cmd::run(
        Command::new(&tools.wasm_opt)
            // Flattening and re-relooping before two -Oz rounds shaves ~0.5 KB gzip more than
            // -Oz alone (--converge, --gufa, -Os measured no better).
            .args(["--flatten", "--rereloop", "-Oz", "-Oz"])
            .args(WASM_OPT_FEATURES)
            // Names and producers sections are dead weight on the wire.
            .args(["--strip-debug", "--strip-producers"])
            .arg(cmd::rel(&out_dir.join(BG_WASM)))
            .arg("-o")
            .arg(cmd::rel(&optimized)),
    )?;
    // One file for the page to load: the glue with its snippets (host.js, ui.js), minified.
    // ui.js's `import("./debug.js")` stays a request of its own, made only when someone opens
    // the debug panel: debug.js is minified on its own and published as
    // `engage_debug.<hash>.js` (esbuild's `--splitting` would also move a helper the two
    // share into a third file the page then always loads).
    let bundled = out_dir.join("engage_runtime.bundle.js");
    shorten_glue_warning(&out_dir.join("engage_runtime.js"))?;
    // The entry names what tag.js, the tests and the benchmarks use, so the glue's `initSync`
    // is left out.
    let entry = out_dir.join("entry.js");
    fs::write(
        &entry,
        "export { default, start, command, runtime } from \"./engage_runtime.js\";\n",
    )
    .map_err(|e| format!("{}: {e}", entry.display()))?;
    cmd::run(
        Command::new(&tools.esbuild)
            .arg(cmd::rel(&entry))
            .args([
                "--bundle",
                "--format=esm",
                "--minify",
                "--legal-comments=none",
                &format!("--external:./{DEBUG_JS}"),
                &format!("--mangle-props=^({})$", PRIVATE_PROPS.join("|")),
            ])
            .arg(format!("--outfile={}", cmd::rel(&bundled))),
    )?;
    let debug = out_dir.join("debug.min.js");
    cmd::run(
        Command::new(&tools.esbuild)
            .arg(cmd::rel(&snippet(&out_dir, DEBUG_JS)?))
            .args(["--format=esm", "--minify", "--legal-comments=none"])
            .arg(format!("--outfile={}", cmd::rel(&debug))),
    )?;
    publish(&bundled, &optimized, &debug)?;
    minify_tag(tools)?;
    build_admin(tools)
}

/// Properties only host.js and ui.js use among themselves, which esbuild may therefore shorten
/// (≈ 250 bytes gzip). Never a name the wasm reads or writes (inputs, outcomes), the debug chunk
/// reads (`j`, `vid`, `device`, `E`, `server`, `site`), the handle exposes, tag.js sends (`pre`,
/// `etag`, `body`, `status`) or an embedder passes as an option (`network`, `prefix`,
/// `flushMs`, `storage`, …): a name added here must be private to the two files.
const PRIVATE_PROPS: &[&str] = &[
    "bundleBackoff",
    "bundleLoading",
    "bundleText",
    "waitingAvail",
    "haveAvail",
    "availLoading",
    "needsLive",
    "zoneIds",
    "byId",
    "timers",
    "offs",
    "early",
    "inFlight",
    "debugLoading",
    "debugOn",
    "pageUrl",
    "pageAuto",
    "scrollSent",
    "exitSent",
    "pagesHere",
    "sitePages",
    "openId",
    "wakeMissed",
    "observer",
    "placing",
    "prevFocus",
    "onClick",
    "warned",
    "loading",
    "booted",
    "stopped",
    "last",
    "list",
    "main",
    "panel",
    "post",
    "cache",
];

/// wasm-bindgen's glue explains, at length, mistakes our loader never makes (a wrong wasm MIME
/// type: our server always sends `application/wasm`; the old positional init argument: tag.js
/// passes an object); every shop page downloads those sentences, so short notes stand in
/// (≈ 150 bytes gzip of the 60 KB budget). Text the glue does not hold is left alone.
fn shorten_glue_warning(glue: &Path) -> Result {
    const SHORTER: [(&str, &str); 3] = [
        (
            "\"`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\\n\"",
            "\"engage: wasm is not served as application/wasm:\"",
        ),
        (
            "'using deprecated parameters for the initialization function; pass a single object instead'",
            "'engage: init takes an object'",
        ),
        (
            "`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`",
            "`engage: wasm ${module.status}`",
        ),
    ];
    let mut text =
        fs::read_to_string(glue).map_err(|e| format!("cannot read {}: {e}", cmd::rel(glue)))?;
    for (long, short) in SHORTER {
        text = text.replace(long, short);
    }
    write(glue, text.as_bytes())
}

/// `www/tag.js` minified to `www/pkg/tag.min.js`, which the server sends in its place when it
/// is there. The manifest placeholder (a comment) would not survive minifying, so it goes in as
/// an identifier and comes back out.
fn minify_tag(tools: &Tools) -> Result {
    const MARK: &str = "__ENGAGE_MANIFEST__";
    let root = cmd::root();
    let source = root.join("www/tag.js");
    let text = fs::read_to_string(&source).map_err(|e| format!("cannot read www/tag.js: {e}"))?;
    if text.matches(MANIFEST_PLACEHOLDER).count() != 1 {
        return Err(format!("www/tag.js must hold {MANIFEST_PLACEHOLDER} once"));
    }
    let out_dir = cmd::target_dir().join("wasm-bindgen");
    let input = out_dir.join("tag.js");
    write(&input, text.replace(MANIFEST_PLACEHOLDER, MARK).as_bytes())?;
    let minified = out_dir.join("tag.min.js");
    cmd::run(
        Command::new(&tools.esbuild)
            .arg(cmd::rel(&input))
            .args(["--minify", "--legal-comments=none"])
            .arg(format!("--outfile={}", cmd::rel(&minified))),
    )?;
    let min = fs::read_to_string(&minified)
        .map_err(|e| format!("cannot read {}: {e}", cmd::rel(&minified)))?;
    if min.matches(MARK).count() != 1 {
        return Err(format!("esbuild renamed or dropped {MARK} in tag.js"));
    }
    let out = root.join(PKG_DIR).join("tag.min.js");
    write(&out, min.replace(MARK, MANIFEST_PLACEHOLDER).as_bytes())?;
    println!(
        "    {PKG_DIR}/tag.min.js ({} bytes, served as /tag.js)",
        min.len()
    );
    Ok(())
}

/// What the server replaces with the manifest (`server/src/statics.rs`).
const MANIFEST_PLACEHOLDER: &str = "/*__ENGAGE_MANIFEST__*/null";

/// The console's validator (`admin-wasm/`, the engine with its native features: regex, time
/// zones) into `www/admin/pkg/`. Only `/admin/` loads it, so it is optimized for speed, not
/// squeezed like the shop's runtime.
fn build_admin(tools: &Tools) -> Result {
    let target = cmd::target_dir();
    let input = target.join(TARGET).join(PROFILE).join("engage_admin.wasm");
    let out_dir = target.join("wasm-bindgen-admin");
    cargo_build("engage-admin")?;
    bindgen(tools, &input, &out_dir)?;
    let pkg = cmd::root().join(ADMIN_PKG_DIR);
    fs::create_dir_all(&pkg).map_err(|e| format!("cannot create {ADMIN_PKG_DIR}: {e}"))?;
    cmd::run(
        Command::new(&tools.wasm_opt)
            .arg("-O2")
            .args(WASM_OPT_FEATURES)
            .args(["--strip-debug", "--strip-producers"])
            .arg(cmd::rel(&out_dir.join("engage_admin_bg.wasm")))
            .arg("-o")
            .arg(cmd::rel(&pkg.join("engage_admin_bg.wasm"))),
    )?;
    let glue = out_dir.join("engage_admin.js");
    fs::copy(&glue, pkg.join("engage_admin.js"))
        .map_err(|e| format!("cannot copy {}: {e}", cmd::rel(&glue)))?;
    let size = fs::metadata(pkg.join("engage_admin_bg.wasm")).map_or(0, |m| m.len());
    println!("    {ADMIN_PKG_DIR}/engage_admin.js, engage_admin_bg.wasm ({size} bytes)");
    Ok(())
}

/// One of the workspace's wasm packages, for wasm32 in the size-first profile.
fn cargo_build(package: &str) -> Result {
    cmd::run(
        cmd::cargo()
            .args(["build", "-p", package, "--target", TARGET])
            .args(["--profile", PROFILE])
            .env("CARGO_ENCODED_RUSTFLAGS", remapped_paths()),
    )
}

/// wasm-bindgen `--target web`: the glue and `<name>_bg.wasm` into `out_dir`.
fn bindgen(tools: &Tools, input: &Path, out_dir: &Path) -> Result {
    cmd::run(
        Command::new(&tools.wasm_bindgen)
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(cmd::rel(out_dir))
            .arg(cmd::rel(input)),
    )
}

/// Panic locations name source files; with the build machine's paths
/// (`/root/.rustup/toolchains/…/library/alloc/src/…`, `~/.cargo/registry/src/index…/talc-4.4.3/…`)
/// they are long, and they make the wasm's bytes depend on where the toolchain lives. Short fixed
/// prefixes instead: smaller, and the same bytes on every machine. `\x1f`-separated, as
/// `CARGO_ENCODED_RUSTFLAGS` wants (paths may contain spaces).
fn remapped_paths() -> String {
    let mut pairs: Vec<(String, &str)> = Vec::new();
    if let Some(sysroot) = cmd::probe("rustc", &["--print", "sysroot"]) {
        pairs.push((format!("{}/lib/rustlib/src/rust", sysroot.trim()), "/rust"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    if let Some(home) = cargo_home {
        pairs.push((home.join("registry/src").display().to_string(), "/crates"));
    }
    pairs.push((cmd::root().display().to_string(), "/engage"));
    pairs
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={from}={to}"))
        .collect::<Vec<_>>()
        .join("\x1f")
}

/// runtime-wasm is written concurrently; without exports the build still works but the glue is
/// an empty shell, which would otherwise fail later in a confusing way.
fn warn_if_no_exports() {
    if !cmd::rust_sources_contain(&cmd::root().join("runtime-wasm/src"), "wasm_bindgen") {
        println!();
        println!("!!! runtime-wasm/src has no #[wasm_bindgen] exports yet: the glue will export");
        println!("!!! nothing but init(), and the page cannot run the runtime.");
        println!();
    }
}

/// Copy the outputs into www/pkg/ under content-hashed names, then the manifest, then drop older
/// hashed files: a server reading the manifest never sees it point at a missing file.
/// wasm-bindgen's copy of one of the crate's `js/` files (`snippets/<crate-hash>/js/<name>`).
fn snippet(out_dir: &Path, name: &str) -> Result<std::path::PathBuf> {
    let dir = out_dir.join("snippets");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", cmd::rel(&dir)))?;
    entries
        .flatten()
        .map(|e| e.path().join("js").join(name))
        .find(|p| p.exists())
        .ok_or_else(|| format!("wasm-bindgen wrote no js/{name} under {}", cmd::rel(&dir)))
}

fn publish(glue_path: &Path, wasm_path: &Path, debug_path: &Path) -> Result {
    let wasm =
        fs::read(wasm_path).map_err(|e| format!("cannot read {}: {e}", cmd::rel(wasm_path)))?;
    let glue = fs::read_to_string(glue_path)
        .map_err(|e| format!("cannot read {}: {e}", cmd::rel(glue_path)))?;

    let debug =
        fs::read(debug_path).map_err(|e| format!("cannot read {}: {e}", cmd::rel(debug_path)))?;

    let (wasm, glue) = crate::wasm_names::shorten(&wasm, &glue)?;
    let wasm_name = format!("engage_runtime_bg.{}.wasm", hash8(&wasm));
    let debug_name = format!("engage_debug.{}.js", hash8(&debug));
    let (glue, rewritten) = point_glue_at(&glue, &wasm_name);
    if !rewritten {
        println!("warning: the glue does not mention '{BG_WASM}'; tag.js must pass the wasm URL to init()");
    }
    let lazy = format!("./{DEBUG_JS}");
    if !glue.contains(&lazy) {
        return Err(format!("the bundled glue does not import {lazy}"));
    }
    let glue = glue.replace(&lazy, &format!("./{debug_name}"));
    let js_name = format!("engage_runtime.{}.js", hash8(glue.as_bytes()));

    let pkg = cmd::root().join(PKG_DIR);
    fs::create_dir_all(&pkg).map_err(|e| format!("cannot create {PKG_DIR}: {e}"))?;
    write(&pkg.join(&wasm_name), &wasm)?;
    write(&pkg.join(&js_name), glue.as_bytes())?;
    write(&pkg.join(&debug_name), &debug)?;
    write(
        &pkg.join(format!("{debug_name}.gz")),
        &crate::size::gzip(&debug)?,
    )?;
    // Pre-compressed siblings: the server sends them as they are (no compression per request).
    write(
        &pkg.join(format!("{wasm_name}.gz")),
        &crate::size::gzip(&wasm)?,
    )?;
    write(
        &pkg.join(format!("{js_name}.gz")),
        &crate::size::gzip(glue.as_bytes())?,
    )?;
    // Snippets are bundled into the glue now; an older build's copies are not served.
    let old_snippets = pkg.join("snippets");
    if old_snippets.exists() {
        fs::remove_dir_all(&old_snippets)
            .map_err(|e| format!("cannot clear {}: {e}", cmd::rel(&old_snippets)))?;
    }
    write_manifest(&pkg, &js_name, &wasm_name, rewritten)?;
    remove_stale(&pkg, &[&js_name, &wasm_name, &debug_name])?;

    println!("    {PKG_DIR}/{js_name} ({} bytes)", glue.len());
    println!("    {PKG_DIR}/{wasm_name} ({} bytes)", wasm.len());
    println!(
        "    {PKG_DIR}/{debug_name} ({} bytes, loaded only for the debug panel)",
        debug.len()
    );
    println!("    {PKG_DIR}/manifest.json");
    Ok(())
}

/// `--target web` glue defaults to `new URL('engage_runtime_bg.wasm', import.meta.url)`.
fn point_glue_at(glue: &str, wasm_name: &str) -> (String, bool) {
    let mut out = glue.to_string();
    let mut found = false;
    for quote in ['\'', '"'] {
        let from = format!("{quote}{BG_WASM}{quote}");
        if out.contains(&from) {
            found = true;
            out = out.replace(&from, &format!("{quote}{wasm_name}{quote}"));
        }
    }
    (out, found)
}

fn write_manifest(pkg: &Path, js: &str, wasm: &str, rewritten: bool) -> Result {
    let glue_default = if rewritten {
        format!("\"{wasm}\"")
    } else {
        "null".to_string()
    };
    let json = format!(
        "{{\n  \"js\": \"{js}\",\n  \"wasm\": \"{wasm}\",\n  \"glue_default_wasm\": {glue_default}\n}}\n"
    );
    // Write-then-rename: a running server never reads a half-written manifest.
    let tmp = pkg.join("manifest.json.tmp");
    write(&tmp, json.as_bytes())?;
    fs::rename(&tmp, pkg.join("manifest.json"))
        .map_err(|e| format!("cannot write {PKG_DIR}/manifest.json: {e}"))
}

fn remove_stale(pkg: &Path, keep: &[&str]) -> Result {
    let entries = fs::read_dir(pkg).map_err(|e| format!("cannot list {PKG_DIR}: {e}"))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let base = name.strip_suffix(".gz").unwrap_or(&name);
        let ours = is_hashed(base, "engage_runtime.", ".js")
            || is_hashed(base, "engage_runtime_bg.", ".wasm")
            || is_hashed(base, "engage_debug.", ".js");
        if ours && !keep.contains(&base) {
            fs::remove_file(entry.path())
                .map_err(|e| format!("cannot remove old {PKG_DIR}/{name}: {e}"))?;
        }
    }
    Ok(())
}

fn is_hashed(name: &str, prefix: &str, suffix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn write(path: &Path, bytes: &[u8]) -> Result {
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", cmd::rel(path)))
}

/// 8 hex digits of FNV-1a 64: stable across Rust versions (unlike `DefaultHasher`) and plenty
/// for cache busting; not a security property.
fn hash8(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_default_wasm_url() {
        let glue = "module_or_path = new URL('engage_runtime_bg.wasm', import.meta.url);";
        let (out, found) = point_glue_at(glue, "engage_runtime_bg.0123abcd.wasm");
        assert!(found);
        assert!(out.contains("new URL('engage_runtime_bg.0123abcd.wasm', import.meta.url)"));
        assert!(!point_glue_at("nothing", "x").1);
    }

    #[test]
    fn recognises_only_hashed_names() {
        assert!(is_hashed(
            "engage_runtime.0123abcd.js",
            "engage_runtime.",
            ".js"
        ));
        assert!(!is_hashed("engage_runtime.js", "engage_runtime.", ".js"));
        assert!(!is_hashed(
            "engage_runtime.notahash.js",
            "engage_runtime.",
            ".js"
        ));
        assert_eq!(hash8(b"a").len(), 8);
        assert_ne!(hash8(b"a"), hash8(b"b"));
    }
}
