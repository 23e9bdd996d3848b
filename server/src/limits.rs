//! Per-address rules for the public routes: which address a request comes from (a proxy's
//! `X-Forwarded-For` is believed only from `--trusted-proxy` addresses, never by default), and
//! how many SSE streams each address and the whole server may hold open. Above the per-address
//! cap a new stream is answered 429; above the total cap the stream idle longest is shed.

use axum::http::{HeaderMap, HeaderName};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// An address or a CIDR block (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not an IP address or CIDR block (e.g. 10.0.0.0/8)");
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { net, bits })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
            let (full, rest) = ((bits / 8) as usize, bits % 8);
            if a[..full] != b[..full] {
                return false;
            }
            rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0
        }
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => prefix(&n.octets(), &i.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(i)) => prefix(&n.octets(), &i.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V4(i)) => {
                prefix(&n.octets(), &i.to_ipv6_mapped().octets(), self.bits)
            }
            (IpAddr::V4(_), IpAddr::V6(i)) => i
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
        }
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
/// address of the forwarding header that is not itself a trusted proxy.
pub fn client_addr(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    header: &HeaderName,
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !trusted.iter().any(|c| c.contains(peer)) {
        return Some(peer);
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for v in headers.get_all(header) {
        let Ok(text) = v.to_str() else {
            return Some(peer);
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => chain.push(ip),
                // A mangled hop: believe nothing further left than it.
                Err(_) => chain.clear(),
            }
        }
    }
    chain
        .into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|c| c.contains(*ip)))
        .or(Some(peer))
}

struct Open {
    ip: IpAddr,
    last: Instant,
    shed: Arc<Notify>,
}

/// Every open public SSE stream.
pub struct Streams {
    pub per_address: usize,
    pub total: usize,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Streams {
    pub fn new(per_address: usize, total: usize) -> Arc<Streams> {
        Arc::new(Streams {
            per_address: per_address.max(1),
            total: total.max(1),
            next: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more stream from `ip`, or `None` when that address holds its cap.
    /// At the total cap the stream idle longest is told to end.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        {
            let mut per_ip = lock(&self.per_ip);
            let n = per_ip.entry(ip).or_default();
            if *n >= self.per_address {
                return None;
            }
            *n += 1;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let shed = Arc::new(Notify::new());
        let mut open = lock(&self.open);
        if open.len() >= self.total {
            if let Some((&oldest, _)) = open.iter().min_by_key(|(_, o)| o.last) {
                if let Some(o) = open.remove(&oldest) {
                    o.shed.notify_one();
                    // Its ticket still decrements the per-address count when it drops.
                    let _ = o.ip;
                }
            }
        }
        open.insert(
            id,
            Open {
                ip,
                last: Instant::now(),
                shed: shed.clone(),
            },
        );
        Some(Ticket {
            id,
            ip,
            shed,
            streams: self.clone(),
        })
    }

    pub fn open_count(&self) -> usize {
        lock(&self.open).len()
    }
}

/// One admitted stream; dropping it frees its place.
pub struct Ticket {
    id: u64,
    ip: IpAddr,
    pub shed: Arc<Notify>,
    streams: Arc<Streams>,
}

impl Ticket {
    /// The stream sent something: it is not idle.
    pub fn touch(&self) {
        if let Some(o) = lock(&self.streams.open).get_mut(&self.id) {
            o.last = Instant::now();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.streams.open).remove(&self.id);
        let mut per_ip = lock(&self.streams.per_ip);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_forwarded_for() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(c.contains("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!c.contains("11.1.2.3".parse().unwrap_or(IpAddr::from([10, 0, 0, 0]))));
        assert!("1.2.3.4/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
        let lo: Cidr = "127.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"));
        let h = HeaderName::from_static("x-forwarded-for");
        let mut headers = HeaderMap::new();
        headers.insert(
            &h,
            "203.0.113.9, 10.0.0.2".parse().unwrap_or_else(|_| panic!()),
        );
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap_or_else(|_| panic!());
        let other: SocketAddr = "198.51.100.7:5000".parse().unwrap_or_else(|_| panic!());
        // Not trusted by default: the peer.
        assert_eq!(client_addr(Some(peer), &headers, &h, &[]), Some(peer.ip()));
        // From a trusted proxy: the right-most untrusted hop.
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(
            client_addr(Some(peer), &headers, &h, &[lo, c]),
            ip("203.0.113.9")
        );
        assert_eq!(client_addr(Some(peer), &headers, &h, &[lo]), ip("10.0.0.2"));
        // A client that is not a proxy cannot claim another address.
        assert_eq!(
            client_addr(Some(other), &headers, &h, &[lo]),
            Some(other.ip())
        );
    }

    #[test]
    fn caps_per_address_and_in_total() {
        let s = Streams::new(2, 3);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let t1 = s.admit(a);
        let t2 = s.admit(a);
        assert!(t1.is_some() && t2.is_some());
        assert!(s.admit(a).is_none(), "third from one address");
        let t3 = s.admit(b);
        assert!(t3.is_some());
        assert_eq!(s.open_count(), 3);
        drop(t2);
        let t5 = s.admit(a);
        assert!(t5.is_some(), "a place freed");
        if let Some(t) = &t3 {
            t.touch();
        }
        // At the total cap the stream idle longest (t1) is told to end.
        let c: IpAddr = [192, 0, 2, 3].into();
        let t4 = s.admit(c);
        assert!(t4.is_some());
        assert_eq!(s.open_count(), 3);
        let shed = |t: &Option<Ticket>| {
            t.as_ref()
                .and_then(|t| futures_util::FutureExt::now_or_never(t.shed.notified()))
                .is_some()
        };
        assert!(shed(&t1), "the oldest idle stream is shed");
        assert!(!shed(&t3) && !shed(&t5) && !shed(&t4));
    }
}
