//! Decimal integers as text without `core::fmt`: `format!`, `to_string` and `write!` would
//! bring the formatting machinery (argument walking, padding, every `Display` impl reached)
//! into the browser build. Bytes, not `&str`: `str::from_utf8`'s validator is code too.

/// Room for any `u64` (20 digits) and a sign.
pub(crate) type IntBuf = [u8; 21];

/// `n` (negated when `negative` and not 0) in decimal ASCII, written to the end of `buf`.
pub(crate) fn int_bytes(n: u64, negative: bool, buf: &mut IntBuf) -> &[u8] {
    let mut i = buf.len();
    let mut u = n;
    // 21 slots hold 20 digits and the sign: `get_mut` never fails, and no panic path remains.
    loop {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (u % 10) as u8;
        }
        u /= 10;
        if u == 0 || i == 0 {
            break;
        }
    }
    if negative && n != 0 && i > 0 {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'-';
        }
    }
    buf.get(i..).unwrap_or_default()
}

/// Text built piece by piece: what `format!` would make.
pub(crate) struct Text(String);

impl Text {
    pub(crate) fn new() -> Self {
        // Room for a trace detail: one allocation, no regrowth.
        Text(String::with_capacity(64))
    }

    /// Appends text.
    #[inline(never)]
    pub(crate) fn s(mut self, s: &str) -> Self {
        self.0.push_str(s);
        self
    }

    /// Appends an integer in decimal.
    #[inline(never)]
    pub(crate) fn n(mut self, n: i64) -> Self {
        for &b in int_bytes(n.unsigned_abs(), n < 0, &mut IntBuf::default()) {
            self.0.push(char::from(b));
        }
        self
    }

    pub(crate) fn done(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_display() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            12345,
            i64::MAX,
            i64::MIN,
            -7_000_000,
        ] {
            assert_eq!(Text::new().s("x").n(n).done(), format!("x{n}"));
        }
        let mut b = IntBuf::default();
        assert_eq!(
            int_bytes(u64::MAX, false, &mut b),
            u64::MAX.to_string().as_bytes()
        );
        assert_eq!(int_bytes(0, true, &mut b), b"0");
    }
}
