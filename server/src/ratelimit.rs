//! Token buckets keyed by client IP and by visitor id, in memory, sharded to keep lock hold
//! times short. Idle buckets are dropped when a shard grows large, so memory stays bounded.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Instant;

const SHARDS: usize = 16;
/// A shard holding more keys than this drops its full (idle) buckets, then, if still too big, all.
const SHARD_LIMIT: usize = 20_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimiter {
    /// Tokens per second.
    rate: f64,
    /// Bucket size (the burst allowed after a quiet period).
    burst: f64,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    /// `per_minute` requests per minute on average, bursts of up to `burst`; 0 disables.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }

    /// Takes one token for `key`: `Ok` if allowed, else `Err(seconds until one is available)`.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SHARD_LIMIT && !map.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
            if map.len() >= SHARD_LIMIT {
                map.clear();
            }
        }
        let b = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills() {
        let rl = RateLimiter::new(60, 3);
        let t = Instant::now();
        assert!(rl.check("a", t).is_ok());
        assert!(rl.check("a", t).is_ok());
        assert!(rl.check("a", t).is_ok());
        assert_eq!(rl.check("a", t), Err(1));
        assert!(rl.check("b", t).is_ok());
        assert!(rl.check("a", t + Duration::from_millis(1100)).is_ok());
        assert!(RateLimiter::new(0, 1).check("a", t).is_ok());
    }
}
