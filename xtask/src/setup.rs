//! `cargo xtask setup`: install what is missing, each tool only if missing, so a second run is a
//! quick no-op. SPEC §9: wasm32 target, the pinned wasm-bindgen CLI, wasm-opt; Chromium,
//! chromedriver and Kannel (the SMS gateway the SMS tests and the demo run) for `test`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, Result};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Used only when neither Cargo.lock nor runtime-wasm/Cargo.toml names wasm-bindgen yet.
const FALLBACK_WASM_BINDGEN: &str = "0.2.130";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Kannel's boxes (Debian `kannel`) and its fake SMSC (Debian `kannel-extras`), as
/// server/tests/common/kannel.rs runs them.
pub const BEARERBOX: &str = "/usr/sbin/bearerbox";
pub const SMSBOX: &str = "/usr/sbin/smsbox";
pub const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";
/// The system-wide configuration Debian's init script (/etc/init.d/kannel) runs Kannel with.
const DEBIAN_KANNEL_CONF: &str = "/etc/kannel/kannel.conf";
/// Where the npm fallback puts binaryen (inside target/ so `cargo clean` removes it).
const NPM_TOOLS_DIR: &str = "target/tools";
/// binaryen before 110 (Debian bookworm and Ubuntu 24.04 ship 108) corrupts wasm-bindgen output:
/// it re-points the `__wbindgen_externrefs` export at the funcref table, so `init()` throws.
const MIN_WASM_OPT: u32 = 110;
/// Pinned so every machine produces the same bytes for the size budget; tested with 0.2.130.
const NPM_BINARYEN: &str = "binaryen@132.0.0";
/// Bundles the glue with the runtime's JS snippets and minifies it (pinned for stable bytes).
const NPM_ESBUILD: &str = "esbuild@0.24.2";

/// The API fuzzer (`cargo xtask fuzz-api`), pinned, in a venv of its own.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const VENV_DIR: &str = "target/tools/venv";

/// The tools later steps call by path.
pub struct Tools {
    pub wasm_bindgen: PathBuf,
    pub wasm_opt: PathBuf,
    pub esbuild: PathBuf,
}

impl Tools {
    /// Locate already-installed tools without installing anything (for `build-wasm` on its own).
    pub fn find() -> Result<Tools> {
        let version = pinned_wasm_bindgen()?;
        let wasm_bindgen = wasm_bindgen_at(&version).ok_or_else(|| {
            format!("wasm-bindgen {version} is not installed: run `cargo xtask setup`")
        })?;
        let wasm_opt =
            find_wasm_opt().ok_or("wasm-opt is not installed: run `cargo xtask setup`")?;
        let esbuild = find_esbuild().ok_or("esbuild is not installed: run `cargo xtask setup`")?;
        Ok(Tools {
            wasm_bindgen,
            wasm_opt,
            esbuild,
        })
    }
}

/// Install what is missing. `browser` adds Chromium + chromedriver and the tests' npm packages.
pub fn run(browser: bool) -> Result<Tools> {
    ensure_wasm_target()?;
    let wasm_bindgen = ensure_wasm_bindgen()?;
    let wasm_opt = ensure_wasm_opt()?;
    let esbuild = ensure_esbuild()?;
    if browser {
        ensure_chromium()?;
        ensure_kannel()?;
        ensure_postgres()?;
        ensure_schemathesis()?;
    }
    ensure_npm_packages(browser)?;
    println!(
        "setup: {} ok",
        if browser {
            "toolchain + browser"
        } else {
            "toolchain"
        }
    );
    Ok(Tools {
        wasm_bindgen,
        wasm_opt,
        esbuild,
    })
}

/// esbuild from npm, under target/tools (its platform binary comes as an npm optional package).
fn ensure_esbuild() -> Result<PathBuf> {
    if let Some(path) = find_esbuild() {
        return Ok(path);
    }
    if cmd::which("npm").is_none() {
        return Err(format!(
            "esbuild is missing and so is npm: install Node.js/npm (sudo apt-get install -y \
             nodejs npm), then run `npm install --prefix {NPM_TOOLS_DIR} {NPM_ESBUILD}`"
        ));
    }
    cmd::run(Command::new("npm").args(["install", "--prefix", NPM_TOOLS_DIR, NPM_ESBUILD]))?;
    find_esbuild().ok_or_else(|| format!("npm installed {NPM_ESBUILD} but esbuild does not run"))
}

/// Our npm copy of esbuild, when it runs.
pub fn find_esbuild() -> Option<PathBuf> {
    let path = cmd::root()
        .join(NPM_TOOLS_DIR)
        .join("node_modules/.bin/esbuild");
    cmd::probe(&path, &["--version"]).map(|_| path)
}

fn ensure_wasm_target() -> Result {
    let installed = cmd::probe("rustup", &["target", "list", "--installed"]);
    match installed {
        Some(list) if list.lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        Some(_) => cmd::run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        None => {
            // No rustup (distro Rust?): only fail if the target's std really is missing.
            let sysroot = cmd::probe("rustc", &["--print", "sysroot"]).unwrap_or_default();
            let std_dir = Path::new(sysroot.trim())
                .join("lib/rustlib")
                .join(WASM_TARGET);
            if std_dir.is_dir() {
                Ok(())
            } else {
                Err(format!(
                    "the {WASM_TARGET} target is missing and rustup is not available: install \
                     rustup (https://rustup.rs) and run `rustup target add {WASM_TARGET}`"
                ))
            }
        }
    }
}

/// The CLI must match the `wasm-bindgen` crate exactly: the glue format changes between versions.
fn ensure_wasm_bindgen() -> Result<PathBuf> {
    let version = pinned_wasm_bindgen()?;
    if let Some(path) = wasm_bindgen_at(&version) {
        return Ok(path);
    }
    let install = || {
        let mut c = cmd::cargo();
        c.args(["install", "wasm-bindgen-cli", "--version", &version]);
        c
    };
    // --locked reproduces the CLI's own tested dependency set; some releases' lockfiles no longer
    // build on a newer toolchain, so retry without it rather than give up.
    if cmd::run(install().arg("--locked")).is_err() {
        println!("    retrying without --locked");
        cmd::run(&mut install())?;
    }
    wasm_bindgen_at(&version).ok_or_else(|| {
        let found = cmd::probe("wasm-bindgen", &["--version"]).unwrap_or_default();
        format!(
            "installed wasm-bindgen-cli {version}, but `wasm-bindgen --version` says `{}`: \
             another wasm-bindgen earlier on PATH?",
            found.trim()
        )
    })
}

/// `wasm-bindgen` on PATH if it reports exactly `version` and its test runner is installed too.
fn wasm_bindgen_at(version: &str) -> Option<PathBuf> {
    let path = cmd::which("wasm-bindgen")?;
    let out = cmd::probe(&path, &["--version"])?;
    // "wasm-bindgen 0.2.130" (possibly followed by a commit hash)
    let found = out.split_whitespace().nth(1)?;
    let runner_ok = cmd::which("wasm-bindgen-test-runner").is_some();
    (found == version && runner_ok).then_some(path)
}

/// The resolved version in Cargo.lock, else the `=X` requirement in runtime-wasm/Cargo.toml.
pub fn pinned_wasm_bindgen() -> Result<String> {
    let root = cmd::root();
    if let Some(v) = fs::read_to_string(root.join("Cargo.lock"))
        .ok()
        .and_then(|lock| lock_version(&lock, "wasm-bindgen"))
    {
        return Ok(v);
    }
    if let Some(v) = fs::read_to_string(root.join("runtime-wasm/Cargo.toml"))
        .ok()
        .and_then(|toml| manifest_version(&toml, "wasm-bindgen"))
    {
        return Ok(v);
    }
    println!(
        "note: runtime-wasm does not depend on wasm-bindgen yet; using {FALLBACK_WASM_BINDGEN}"
    );
    Ok(FALLBACK_WASM_BINDGEN.to_string())
}

/// `version` of the `[[package]]` named `name` in a Cargo.lock.
fn lock_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    lock.split("[[package]]").find_map(|block| {
        if !block.lines().any(|l| l.trim() == wanted) {
            return None;
        }
        let version = block
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("version = "))?;
        Some(version.trim_matches('"').to_string())
    })
}

/// The version requirement of dependency `name` in a Cargo.toml, without its `=`:
/// `wasm-bindgen = "=0.2.130"` or `wasm-bindgen = { version = "=0.2.130", ... }`.
fn manifest_version(toml: &str, name: &str) -> Option<String> {
    toml.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('{') {
            Some(table) => table
                .split_once("version")?
                .1
                .trim_start()
                .strip_prefix('=')?,
            None => value,
        };
        let quoted = value.trim_start().strip_prefix('"')?;
        let requirement = quoted.split('"').next()?;
        Some(requirement.trim_start_matches('=').trim().to_string())
    })
}

/// wasm-opt: on PATH (Debian `binaryen`) if recent enough, else our npm copy, else install one.
fn ensure_wasm_opt() -> Result<PathBuf> {
    if let Some(path) = find_wasm_opt() {
        return Ok(path);
    }
    if let Some(old) = cmd::which("wasm-opt") {
        println!(
            "note: {} is version {}; wasm-bindgen's externref table needs wasm-opt >= \
             {MIN_WASM_OPT} (older ones re-point its export at the function table)",
            old.display(),
            wasm_opt_version(&old).map_or("unknown".to_string(), |v| v.to_string()),
        );
    }
    let apt_is_new_enough = apt_candidate_version("binaryen").is_some_and(|v| v >= MIN_WASM_OPT);
    if cmd::is_root() && apt_is_new_enough {
        match apt_install(&["binaryen"]) {
            Ok(()) => {
                if let Some(path) = find_wasm_opt() {
                    return Ok(path);
                }
            }
            Err(e) => println!("    {e}; trying npm instead"),
        }
    }
    if cmd::which("npm").is_some() {
        cmd::run(Command::new("npm").args(["install", "--prefix", NPM_TOOLS_DIR, NPM_BINARYEN]))?;
        if let Some(path) = find_wasm_opt() {
            return Ok(path);
        }
    }
    Err(format!(
        "wasm-opt (binaryen) >= {MIN_WASM_OPT} is missing. Install Node.js/npm and run\n    \
         npm install --prefix {NPM_TOOLS_DIR} {NPM_BINARYEN}\n\
         or put a binaryen >= {MIN_WASM_OPT} release's wasm-opt on PATH"
    ))
}

/// The first usable wasm-opt: on PATH, else the npm copy under target/tools.
pub fn find_wasm_opt() -> Option<PathBuf> {
    let npm = cmd::root()
        .join(NPM_TOOLS_DIR)
        .join("node_modules/.bin/wasm-opt");
    cmd::which("wasm-opt")
        .into_iter()
        .chain(cmd::is_executable(&npm).then_some(npm))
        .find(|path| wasm_opt_version(path).is_some_and(|v| v >= MIN_WASM_OPT))
}

/// "wasm-opt version 132 (version_132)" → 132.
fn wasm_opt_version(path: &Path) -> Option<u32> {
    let out = cmd::probe(path, &["--version"])?;
    leading_number(out.split("version").nth(1)?)
}

/// The version apt would install, e.g. "Version: 108-1" → 108; None without apt.
fn apt_candidate_version(package: &str) -> Option<u32> {
    cmd::which("apt-get")?;
    let policy = cmd::probe("apt-cache", &["policy", package])?;
    let candidate = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))?;
    leading_number(candidate)
}

fn leading_number(text: &str) -> Option<u32> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// Chromium and its matching driver come from the same Debian source, so versions agree.
fn ensure_chromium() -> Result {
    let present = || Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if present() {
        return Ok(());
    }
    let hint = "sudo apt-get update && sudo apt-get install -y chromium chromium-driver";
    if !cmd::is_root() || cmd::which("apt-get").is_none() {
        return Err(format!(
            "{CHROMIUM} and {CHROMEDRIVER} are required for the browser tests. Run:\n    {hint}"
        ));
    }
    apt_install(&["chromium", "chromium-driver"])?;
    if present() {
        Ok(())
    } else {
        Err(format!(
            "apt-get installed chromium but {CHROMIUM} or {CHROMEDRIVER} is still missing"
        ))
    }
}

/// Kannel for the SMS tests and the demo. The harness runs private instances on free ports with
/// configs of its own; it needs only the binaries, not Debian's service.
/// PostgreSQL's server binaries (`initdb`, `pg_ctl`) for the tests' clusters; the Debian
/// package's own cluster is not used (tests start theirs on free ports).
pub fn ensure_postgres() -> Result {
    if crate::postgres::bin_dir().is_ok() {
        return Ok(());
    }
    let hint = "sudo apt-get update && sudo apt-get install -y postgresql";
    if !cmd::is_root() || cmd::which("apt-get").is_none() {
        return Err(format!(
            "PostgreSQL (initdb, pg_ctl) is required for the PostgreSQL tests. Run:\n    {hint}"
        ));
    }
    apt_install(&["postgresql"])?;
    crate::postgres::bin_dir().map(drop)
}

pub fn ensure_kannel() -> Result {
    let present = || {
        [BEARERBOX, SMSBOX, FAKESMSC]
            .iter()
            .all(|path| Path::new(path).exists())
    };
    if present() {
        return Ok(());
    }
    let hint = "sudo apt-get update && sudo apt-get install -y kannel kannel-extras";
    if !cmd::is_root() || cmd::which("apt-get").is_none() {
        return Err(format!(
            "Kannel ({BEARERBOX}, {SMSBOX} and {FAKESMSC}) is required for the SMS tests and \
             the demo. Run:\n    {hint}"
        ));
    }
    apt_install(&["kannel", "kannel-extras"])?;
    if !present() {
        return Err(format!(
            "apt-get installed kannel and kannel-extras but {BEARERBOX}, {SMSBOX} or {FAKESMSC} \
             is still missing"
        ));
    }
    stop_debian_kannel()
}

/// The kannel package's postinst may start Debian's own gateway (/etc/init.d/kannel: a bearerbox,
/// plus the wapbox/smsbox that /etc/default/kannel enables, each under a run_kannel_box that
/// restarts it) on the fixed ports of /etc/kannel/kannel.conf. Nothing of ours uses it, so stop
/// it rather than leave a gateway listening.
fn stop_debian_kannel() -> Result {
    if debian_kannel_processes().is_empty() {
        return Ok(());
    }
    println!(
        "    the kannel package started Debian's Kannel service ({DEBIAN_KANNEL_CONF}); \
         stopping it"
    );
    if Path::new("/etc/init.d/kannel").exists() {
        if let Err(e) = cmd::run(Command::new("/etc/init.d/kannel").arg("stop")) {
            println!("    {e}");
        }
    }
    // The script stops only the boxes /etc/default/kannel names (START_WAPBOX, START_SMSBOX) and
    // that have pid files; signal whatever is left, the run_kannel_box wrappers included.
    for signal in ["TERM", "KILL"] {
        let left = debian_kannel_processes();
        if left.is_empty() {
            break;
        }
        let pids: Vec<String> = left.iter().map(|(pid, _)| pid.to_string()).collect();
        if let Err(e) = cmd::run(Command::new("kill").arg(format!("-{signal}")).args(&pids)) {
            println!("    {e}");
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !debian_kannel_processes().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let left = debian_kannel_processes();
    if !left.is_empty() {
        let list: Vec<String> = left
            .iter()
            .map(|(pid, line)| format!("{pid} {line}"))
            .collect();
        return Err(format!(
            "could not stop Debian's Kannel service:\n    {}\nRun: sudo /etc/init.d/kannel stop",
            list.join("\n    ")
        ));
    }
    println!(
        "    stopped; it starts again at boot unless disabled (sudo update-rc.d kannel disable)"
    );
    Ok(())
}

/// Running Kannel processes started with Debian's configuration (the boxes and their
/// run_kannel_box wrappers), as (pid, command line), read from /proc.
fn debian_kannel_processes() -> Vec<(u32, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let raw = fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            let is_kannel = args.iter().any(|arg| {
                ["bearerbox", "smsbox", "wapbox", "run_kannel_box"]
                    .iter()
                    .any(|name| arg.ends_with(name))
            });
            let debian_conf = args.iter().any(|arg| arg == DEBIAN_KANNEL_CONF);
            (is_kannel && debian_conf).then(|| (pid, args.join(" ")))
        })
        .collect()
}

/// Our venv's `st`, when it runs and is the pinned version.
pub fn find_schemathesis() -> Option<PathBuf> {
    let st = cmd::root().join(VENV_DIR).join("bin").join("st");
    let pinned = SCHEMATHESIS.split("==").nth(1)?;
    cmd::probe(&st, &["--version"])
        .filter(|v| v.contains(pinned))
        .map(|_| st)
}

/// schemathesis from PyPI into target/tools/venv (python3 with venv and pip).
fn ensure_schemathesis() -> Result {
    if find_schemathesis().is_some() {
        return Ok(());
    }
    let venv = cmd::root().join(VENV_DIR);
    if !venv.join("bin").join("pip").exists() {
        let python = cmd::which("python3").ok_or(
            "schemathesis needs python3 (with venv): sudo apt-get install -y python3-venv",
        )?;
        cmd::run(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    }
    cmd::run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        SCHEMATHESIS,
    ]))?;
    find_schemathesis()
        .map(drop)
        .ok_or_else(|| format!("pip installed {SCHEMATHESIS} but `st --version` does not say so"))
}

fn apt_install(packages: &[&str]) -> Result {
    let apt = || {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    cmd::run(apt().arg("update"))?;
    cmd::run(apt().args(["install", "-y"]).args(packages))
}

/// JS dependencies of the web pages (always) and of the tests (with `browser`), only when a
/// package.json exists and its node_modules does not.
fn ensure_npm_packages(browser: bool) -> Result {
    let dirs: &[&str] = if browser { &["www", "tests"] } else { &["www"] };
    for dir in dirs.iter().map(|d| cmd::root().join(d)) {
        if !dir.join("package.json").exists() || dir.join("node_modules").exists() {
            continue;
        }
        if cmd::which("npm").is_none() {
            return Err(format!(
                "{}/package.json needs npm, which is missing: \
                 sudo apt-get install -y nodejs npm",
                cmd::rel(&dir)
            ));
        }
        let verb = if dir.join("package-lock.json").exists() {
            "ci"
        } else {
            "install"
        };
        cmd::run(Command::new("npm").arg(verb).current_dir(&dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lock_version() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"0.2.1\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(
            lock_version(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(lock_version(lock, "js-sys"), None);
    }

    #[test]
    fn reads_manifest_version() {
        let plain = "[dependencies]\nwasm-bindgen-test = \"=0.3.1\"\nwasm-bindgen = \"=0.2.130\"\n";
        assert_eq!(
            manifest_version(plain, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        let table = "wasm-bindgen = { version = \"=0.2.130\", default-features = false }\n";
        assert_eq!(
            manifest_version(table, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(manifest_version("serde = \"1\"\n", "wasm-bindgen"), None);
    }

    #[test]
    fn reads_leading_numbers() {
        assert_eq!(leading_number(" 132 (version_132)"), Some(132));
        assert_eq!(leading_number(" 108-1"), Some(108));
        assert_eq!(leading_number(" (none)"), None);
    }
}
