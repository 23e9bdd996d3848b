//! GrowthBook-compatible hashing: FNV-1a 32, the v1/v2 bucket hashes, control groups, bucket
//! ranges and namespaces.
//!
//! Strings are hashed as the JavaScript SDK does (over UTF-16 code units), so ids hash the same
//! here and in any GrowthBook SDK. For ASCII ids this is plain FNV-1a over the bytes. Nothing here
//! allocates: concatenations are fed to the hash piece by piece.

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// Streaming FNV-1a 32 state.
#[derive(Clone, Copy)]
struct Fnv(u32);

impl Fnv {
    fn new() -> Self {
        Fnv(FNV_OFFSET)
    }

    fn unit(&mut self, unit: u32) {
        self.0 = (self.0 ^ unit).wrapping_mul(FNV_PRIME);
    }

    fn str(mut self, s: &str) -> Self {
        if s.is_ascii() {
            for &b in s.as_bytes() {
                self.unit(u32::from(b));
            }
        } else {
            for u in s.encode_utf16() {
                self.unit(u32::from(u));
            }
        }
        self
    }

    /// Feeds the decimal representation of `n` (what JavaScript's `n + ""` gives).
    fn decimal(mut self, n: u32) -> Self {
        let mut buf = crate::text::IntBuf::default();
        for &d in crate::text::int_bytes(u64::from(n), false, &mut buf) {
            self.unit(u32::from(d));
        }
        self
    }
}

/// FNV-1a 32 of `s` (over UTF-16 code units, as GrowthBook's JavaScript SDK does).
pub fn fnv1a32(s: &str) -> u32 {
    Fnv::new().str(s).0
}

/// GrowthBook's `hash(seed, value, version)`: a number in `[0, 1)`.
///
/// - v1: `(fnv1a32(value + seed) % 1000) / 1000` (the original, slightly biased hash);
/// - v2: `(fnv1a32(decimal(fnv1a32(seed + value))) % 10000) / 10000`;
/// - any other version: `None`.
pub fn hash(seed: &str, value: &str, version: u32) -> Option<f64> {
    match version {
        1 => Some(hash_v1(&[value, seed])),
        2 => Some(hash_v2(seed, value)),
        _ => None,
    }
}

fn hash_v1(parts: &[&str]) -> f64 {
    let n = parts.iter().fold(Fnv::new(), |h, p| h.str(p)).0;
    f64::from(n % 1000) / 1000.0
}

fn hash_v2(seed: &str, value: &str) -> f64 {
    let inner = Fnv::new().str(seed).str(value).0;
    let n = Fnv::new().decimal(inner).0;
    f64::from(n % 10_000) / 10_000.0
}

/// Whether `visitor_id` falls in the control group of `percent` percent (0–100) for `seed`
/// (a campaign id, or the site id for the site-level control group): `hash_v2(seed, visitor_id)
/// < percent / 100`. 0 % is never, 100 % always; the same inputs always give the same answer.
pub fn in_control(seed: &str, visitor_id: &str, percent: f64) -> bool {
    // NaN compares false: no control group.
    hash_v2(seed, visitor_id) < percent / 100.0
}

/// Rounds to 4 decimals, as GrowthBook does for bucket ranges (so `0.2 + 0.06` is `0.26`).
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// GrowthBook's `getBucketRanges`: the `[start, end)` hash range of each variation.
///
/// `coverage` is clamped to `[0, 1]` (NaN counts as 0). Weights default to equal when missing,
/// of the wrong length, or not summing to 1 (± 0.01). Bounds are rounded to 4 decimals.
pub fn get_bucket_ranges(
    num_variations: usize,
    coverage: f64,
    weights: Option<&[f64]>,
) -> Vec<(f64, f64)> {
    let coverage = if coverage.is_nan() {
        0.0
    } else {
        coverage.clamp(0.0, 1.0)
    };
    let equal = 1.0 / num_variations as f64;
    let weights = weights.filter(|w| {
        let total: f64 = w.iter().sum();
        w.len() == num_variations && (0.99..=1.01).contains(&total)
    });
    let weight = |i: usize| weights.map_or(equal, |w| w[i]);

    let mut cumulative = 0.0;
    (0..num_variations)
        .map(|i| {
            let w = weight(i);
            let start = cumulative;
            cumulative += w;
            (round4(start), round4(start + coverage * w))
        })
        .collect()
}

/// GrowthBook's `inNamespace`: `namespace = (id, start, end)`; true when
/// `hash_v1("__" + id, user_id)` lies in `[start, end)`.
pub fn in_namespace(user_id: &str, namespace: (&str, f64, f64)) -> bool {
    let (id, start, end) = namespace;
    // v1 hashes value + seed, and the seed is "__" + id.
    let n = hash_v1(&[user_id, "__", id]);
    start <= n && n < end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_vectors() {
        assert_eq!(fnv1a32(""), 0x811c_9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn hash_versions() {
        assert_eq!(hash("", "a", 1), Some(0.22));
        assert_eq!(hash("seed", "a", 2), Some(0.0505));
        assert_eq!(hash("abc", "def", 99), None);
        assert_eq!(hash("abc", "def", 0), None);
    }

    #[test]
    fn decimal_feeding_matches_string() {
        for n in [0u32, 7, 10, 99, 12345, u32::MAX] {
            assert_eq!(Fnv::new().decimal(n).0, fnv1a32(&n.to_string()));
        }
    }

    #[test]
    fn non_ascii_hashes_utf16_code_units() {
        // "é" is one UTF-16 unit (0xE9); "😀" is two (a surrogate pair).
        let manual = |units: &[u32]| {
            let mut h = Fnv::new();
            for &u in units {
                h.unit(u);
            }
            h.0
        };
        assert_eq!(fnv1a32("é"), manual(&[0xe9]));
        assert_eq!(fnv1a32("a😀"), manual(&[0x61, 0xd83d, 0xde00]));
    }

    #[test]
    fn control_zero_percent_is_never() {
        for i in 0..10_000 {
            assert!(!in_control("summer-sale", &format!("visitor-{i}"), 0.0));
        }
    }

    #[test]
    fn control_hundred_percent_is_always() {
        for i in 0..10_000 {
            assert!(in_control("summer-sale", &format!("visitor-{i}"), 100.0));
        }
    }

    #[test]
    fn control_ten_percent_is_about_ten_percent() {
        let n = (0..10_000)
            .filter(|i| in_control("summer-sale", &format!("visitor-{i}"), 10.0))
            .count();
        // Binomial(10000, 0.1): sd = 30; allow 5 sd.
        assert!(
            (850..=1150).contains(&n),
            "{n} of 10000 in a 10% control group"
        );
    }

    #[test]
    fn control_is_deterministic_and_seeded() {
        let ids: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        let a: Vec<bool> = ids.iter().map(|v| in_control("a", v, 50.0)).collect();
        let again: Vec<bool> = ids.iter().map(|v| in_control("a", v, 50.0)).collect();
        let b: Vec<bool> = ids.iter().map(|v| in_control("b", v, 50.0)).collect();
        assert_eq!(a, again);
        assert_ne!(a, b, "different seeds must split visitors differently");
    }

    #[test]
    fn control_is_monotonic_in_percent() {
        // A visitor in a 5% control group is also in a 10% one.
        for i in 0..2000 {
            let v = format!("visitor-{i}");
            if in_control("s", &v, 5.0) {
                assert!(in_control("s", &v, 10.0));
            }
        }
    }

    #[test]
    fn control_nan_or_negative_is_never() {
        assert!(!in_control("s", "v", f64::NAN));
        assert!(!in_control("s", "v", -5.0));
    }

    #[test]
    fn bucket_ranges_edge_cases() {
        assert_eq!(get_bucket_ranges(0, 1.0, None), Vec::<(f64, f64)>::new());
        assert_eq!(
            get_bucket_ranges(3, 1.0, None),
            vec![(0.0, 0.3333), (0.3333, 0.6667), (0.6667, 1.0)]
        );
        assert_eq!(
            get_bucket_ranges(2, f64::NAN, None),
            vec![(0.0, 0.0), (0.5, 0.5)]
        );
    }
}
