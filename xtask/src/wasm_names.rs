//! Short names for the wasm-bindgen plumbing between the glue and the wasm.
//!
//! wasm-bindgen names every import after its Rust path plus a 16-digit hash
//! (`__wbg_includes_40dae55ee37516e5`), under the module names `./engage_runtime_bg.js` and
//! `./snippets/engage-runtime-<hash>/js/host.js`, and spells them twice: in the wasm's import
//! section and as keys of the glue's import object. The hashes do not compress, and a shop page
//! downloads both copies (≈ 1.3 KB gzip of the 60 KB budget). Here every such import, the
//! plumbing's exports (`__wbindgen_malloc`, the closure trampolines) and the two module names
//! get one- or two-letter names, in the wasm and in the glue alike; the exports a page or a test
//! calls (`start`, `command`, `runtime`, `memory`) keep theirs.

use std::collections::{BTreeMap, BTreeSet};

use crate::cmd::Result;

/// The wasm and the glue with the plumbing's names shortened in both.
pub fn shorten(wasm: &[u8], glue: &str) -> Result<(Vec<u8>, String)> {
    let mut names = Names {
        taken: tokens(glue).map(str::to_string).collect(),
        ..Names::default()
    };
    let wasm = rewrite(wasm, &mut names)?;
    let mut glue = replace_identifiers(glue, &names.map);
    for (long, short) in &names.map {
        if long.starts_with("./") {
            glue = glue.replace(&format!("\"{long}\""), &format!("\"{short}\""));
        }
    }
    // Every renamed import (and module) must now be a name of the glue's, token for token.
    let have: BTreeSet<&str> = tokens(&glue).collect();
    for (long, short) in &names.imports {
        if !have.contains(short.as_str()) {
            return Err(format!(
                "the glue does not provide the wasm's import `{long}`"
            ));
        }
    }
    for (long, short) in names.map.iter().filter(|(l, _)| l.starts_with("./")) {
        if !glue.contains(&format!("\"{short}\"")) {
            return Err(format!(
                "the glue does not name the wasm's import module `{long}`"
            ));
        }
    }
    Ok((wasm, glue))
}

/// Old name → new name; `imports` lists the import names the glue must provide; `taken`, the
/// glue's own identifiers, which a new name must not be.
#[derive(Default)]
struct Names {
    map: BTreeMap<String, String>,
    imports: BTreeMap<String, String>,
    taken: BTreeSet<String>,
    next: usize,
}

impl Names {
    /// The name to write for `name`: a short one for wasm-bindgen's plumbing, else itself.
    fn get(&mut self, name: &str) -> String {
        let plumbing = [
            "__wbg",
            "__wbindgen",
            "wasm_bindgen_",
            "__externref",
            "__abort",
            "__instance",
            "./",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        if !plumbing {
            return name.to_string();
        }
        if let Some(short) = self.map.get(name) {
            return short.clone();
        }
        let short = loop {
            let s = short_name(self.next);
            self.next += 1;
            if !self.taken.contains(&s) {
                break s;
            }
        };
        self.map.insert(name.to_string(), short.clone());
        short
    }
}

/// `a` … `Z`, then `a1` … : never a JavaScript keyword, never one of the kept names.
fn short_name(n: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let letter = LETTERS[n % LETTERS.len()] as char;
    match n / LETTERS.len() {
        0 => format!("W{letter}"),
        k => format!("W{letter}{k}"),
    }
}

fn ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// The identifier-like tokens of `js` (inside strings too: a new name avoids them all).
fn tokens(js: &str) -> impl Iterator<Item = &str> {
    js.split(|c: char| !ident(c)).filter(|t| !t.is_empty())
}

/// Every identifier token of `js` found in `map` replaced by its new name.
fn replace_identifiers(js: &str, map: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(js.len());
    let mut rest = js;
    while let Some(start) = rest.find(ident) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
        let token = &tail[..end];
        out.push_str(map.get(token).map_or(token, String::as_str));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The module with its import (2) and export (7) sections' names rewritten; every other
/// section is copied byte for byte.
fn rewrite(wasm: &[u8], names: &mut Names) -> Result<Vec<u8>> {
    if wasm.get(..4) != Some(b"\0asm") || wasm.len() < 8 {
        return Err("not a wasm module".into());
    }
    let mut out = wasm[..8].to_vec();
    let mut r = Reader { b: wasm, at: 8 };
    while r.at < wasm.len() {
        let id = r.byte()?;
        let size = r.leb()? as usize;
        let body = r.take(size)?;
        let body = match id {
            2 => imports(body, names)?,
            7 => exports(body, names)?,
            _ => body.to_vec(),
        };
        out.push(id);
        leb(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    Ok(out)
}

fn imports(body: &[u8], names: &mut Names) -> Result<Vec<u8>> {
    let mut r = Reader { b: body, at: 0 };
    let count = r.leb()?;
    let mut out = Vec::with_capacity(body.len());
    leb(&mut out, count);
    for _ in 0..count {
        let module = names.get(&r.name()?);
        let name = r.name()?;
        let short = names.get(&name);
        if short != name {
            names.imports.insert(name, short.clone());
        }
        let desc = r.at;
        match r.byte()? {
            0 => drop(r.leb()?), // function: type index
            1 => {
                r.byte()?; // table: reference type, then limits
                r.limits()?;
            }
            2 => r.limits()?,      // memory
            3 => drop(r.take(2)?), // global: value type, mutability
            4 => {
                r.byte()?; // tag: attribute, type index
                r.leb()?;
            }
            k => return Err(format!("unknown import kind {k}")),
        }
        string(&mut out, &module);
        string(&mut out, &short);
        out.extend_from_slice(&body[desc..r.at]);
    }
    Ok(out)
}

fn exports(body: &[u8], names: &mut Names) -> Result<Vec<u8>> {
    let mut r = Reader { b: body, at: 0 };
    let count = r.leb()?;
    let mut out = Vec::with_capacity(body.len());
    leb(&mut out, count);
    for _ in 0..count {
        let name = names.get(&r.name()?);
        let desc = r.at;
        r.byte()?;
        r.leb()?;
        string(&mut out, &name);
        out.extend_from_slice(&body[desc..r.at]);
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self.b.get(self.at).ok_or("wasm ends early")?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or("wasm section ends early")?;
        self.at += n;
        Ok(s)
    }

    fn leb(&mut self) -> Result<u64> {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err("overlong LEB128 in wasm".into());
            }
        }
    }

    fn name(&mut self) -> Result<String> {
        let n = self.leb()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a wasm name is not UTF-8".into())
    }

    /// Limits: flags, minimum, and a maximum when flag bit 0 is set.
    fn limits(&mut self) -> Result<()> {
        let flags = self.byte()?;
        self.leb()?;
        if flags & 1 != 0 {
            self.leb()?;
        }
        Ok(())
    }
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    leb(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module importing `./engage_runtime_bg.js`/`__wbg_log_0123456789abcdef` (a function)
    /// and `env`/`mem` (a memory with a maximum), exporting `start` and `__wbindgen_malloc`.
    fn module() -> Vec<u8> {
        let mut imports = Vec::new();
        leb(&mut imports, 2);
        string(&mut imports, "./engage_runtime_bg.js");
        string(&mut imports, "__wbg_log_0123456789abcdef");
        imports.extend([0, 0]);
        string(&mut imports, "env");
        string(&mut imports, "mem");
        imports.extend([2, 1, 1, 2]);
        let mut exports = Vec::new();
        leb(&mut exports, 2);
        string(&mut exports, "start");
        exports.extend([0, 1]);
        string(&mut exports, "__wbindgen_malloc");
        exports.extend([0, 2]);
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        for (id, body) in [(2u8, imports), (7, exports)] {
            m.push(id);
            leb(&mut m, body.len() as u64);
            m.extend(body);
        }
        m
    }

    #[test]
    fn names_are_shortened_in_both_and_kept_names_stay() {
        let glue =
            "const i={\"./engage_runtime_bg.js\":{__wbg_log_0123456789abcdef:function(){}}};\
                    w.__wbindgen_malloc(1);w.start();x__wbg_log_0123456789abcdefy;";
        let (wasm, js) = shorten(&module(), glue).unwrap();
        assert_eq!(
            js,
            "const i={\"Wa\":{Wb:function(){}}};w.Wc(1);w.start();x__wbg_log_0123456789abcdefy;"
        );
        let mut names = Names::default();
        let again = rewrite(&wasm, &mut names).unwrap();
        assert_eq!(
            again, wasm,
            "a shortened module has nothing left to shorten"
        );
        let text = String::from_utf8_lossy(&wasm);
        for kept in ["env", "mem", "start"] {
            assert!(text.contains(kept), "{kept} kept");
        }
        assert!(!text.contains("__wbg"), "no long names left");
        assert_eq!(
            &wasm[8..14],
            &module()[8..14],
            "other sections copied as they were"
        );
    }

    #[test]
    fn a_new_name_is_never_one_the_glue_already_uses() {
        let glue =
            "let Wa=1,Wc=2;const i={\"./engage_runtime_bg.js\":{__wbg_log_0123456789abcdef(){}}};";
        let (_, js) = shorten(&module(), glue).unwrap();
        assert_eq!(js, "let Wa=1,Wc=2;const i={\"Wb\":{Wd(){}}};");
    }

    #[test]
    fn an_import_the_glue_does_not_provide_is_an_error() {
        let err = shorten(&module(), "nothing here").unwrap_err();
        assert!(err.contains("__wbg_log_0123456789abcdef"), "{err}");
        // A new name inside a longer word is not the import.
        let err = shorten(
            &module(),
            r#"x={"./engage_runtime_bg.js":{}};WebAssembly.Wbx;"#,
        )
        .unwrap_err();
        assert!(err.contains("__wbg_log_0123456789abcdef"), "{err}");
        let err = shorten(&module(), "__wbg_log_0123456789abcdef").unwrap_err();
        assert!(err.contains("import module"), "{err}");
    }

    #[test]
    fn a_truncated_module_is_an_error() {
        let m = module();
        assert!(shorten(&m[..m.len() - 3], "").is_err());
        assert!(shorten(b"nope", "").is_err());
    }
}
