//! Shared plumbing: the workspace root, running commands visibly, finding tools.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every failure is a message naming what failed; `main` prints it and exits 1.
pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root: xtask lives in `<root>/xtask`, so this holds wherever cargo was invoked from.
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Run from the workspace root so every relative path below (www/, target/, ./data) means one thing,
/// and put cargo's bin directory first on PATH: `cargo install` puts wasm-bindgen there, and
/// `wasm-bindgen-test-runner` (the wasm32 runner in .cargo/config.toml) must be found by name.
pub fn init() -> Result {
    let root = root();
    env::set_current_dir(&root).map_err(|e| format!("cannot enter {}: {e}", root.display()))?;
    let mut paths = vec![cargo_bin_dir()];
    paths.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    let joined = env::join_paths(paths).map_err(|e| format!("cannot extend PATH: {e}"))?;
    env::set_var("PATH", joined);
    Ok(())
}

/// Where `cargo install` puts binaries.
pub fn cargo_bin_dir() -> PathBuf {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin")
}

/// Cargo's target directory (honours CARGO_TARGET_DIR, like cargo does).
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// The cargo that invoked us (same toolchain), falling back to whatever is on PATH.
pub fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// A command line as a human would type it, with the environment we add in front.
pub fn show(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    let program = Path::new(cmd.get_program());
    // `cargo` rather than /root/.rustup/toolchains/.../bin/cargo: shorter and copy-pasteable.
    let name = match program.file_name() {
        Some(n) if n == OsStr::new("cargo") => "cargo".to_string(),
        _ => program.display().to_string(),
    };
    parts.push(name);
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:@,+".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Print `==> cmd` and run it with inherited stdio; any non-zero exit is an error naming the command.
pub fn run(cmd: &mut Command) -> Result {
    let shown = show(cmd);
    println!("==> {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Like `run`, but capture stdout (stderr still goes to the terminal).
pub fn capture(cmd: &mut Command) -> Result<String> {
    let shown = show(cmd);
    println!("==> {shown}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{shown}` failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("`{shown}` printed non-UTF-8 output"))
}

/// A silent query (`--version`, `target list`): its stdout if it ran and succeeded, else None.
pub fn probe(program: impl AsRef<OsStr>, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if out.status.success() {
        String::from_utf8(out.stdout).ok()
    } else {
        None
    }
}

/// The first executable called `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

pub fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Whether we may use apt-get without sudo. `id -u` keeps us std-only; unknown means "no".
pub fn is_root() -> bool {
    probe("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

/// Every `.rs` file's text under `dir` (recursively); used to look for exports and tests.
pub fn rust_sources_contain(dir: &Path, needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            rust_sources_contain(&path, needle)
        } else {
            path.extension() == Some(OsStr::new("rs"))
                && std::fs::read_to_string(&path).is_ok_and(|text| text.contains(needle))
        }
    })
}

/// A path relative to the workspace root for messages, absolute if it is elsewhere.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}
