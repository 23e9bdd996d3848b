//! Prometheus metrics, lock-free on the request path (atomics per route).

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::AppState;

/// Latency histogram bounds, seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct RouteStats {
    /// Index: status − 100.
    by_status: Vec<AtomicU64>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl RouteStats {
    fn new() -> Self {
        RouteStats {
            by_status: (100..600).map(|_| AtomicU64::new(0)).collect(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    routes: RwLock<BTreeMap<String, Arc<RouteStats>>>,
    pub events_ingested: AtomicU64,
    pub events_rejected: AtomicU64,
    pub sse_clients: AtomicI64,
    pub versions_stored: AtomicU64,
    pub compiles: AtomicU64,
    pub rate_limited: AtomicU64,
    pub connections_open: AtomicI64,
    pub connections_refused: AtomicU64,
    pub sse_refused: AtomicU64,
    /// SMS messages this process handed to a provider.
    pub sms_sent: AtomicU64,
}

impl Metrics {
    fn route(&self, route: &str) -> Arc<RouteStats> {
        if let Some(r) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return r.clone();
        }
        let mut w = self.routes.write().unwrap_or_else(|p| p.into_inner());
        w.entry(route.to_owned())
            .or_insert_with(|| Arc::new(RouteStats::new()))
            .clone()
    }

    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        let r = self.route(route);
        if let Some(c) = r.by_status.get(usize::from(status.saturating_sub(100))) {
            c.fetch_add(1, Relaxed);
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                r.buckets[i].fetch_add(1, Relaxed);
            }
        }
        r.count.fetch_add(1, Relaxed);
        r.sum_micros.fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP engage_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE engage_http_requests_total counter\n");
        for (route, r) in routes.iter() {
            for (i, c) in r.by_status.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "engage_http_requests_total{{route=\"{}\",status=\"{}\"}} {n}",
                        escape(route),
                        i + 100
                    );
                }
            }
        }
        out.push_str("# HELP engage_http_request_duration_seconds Time to response headers.\n");
        out.push_str("# TYPE engage_http_request_duration_seconds histogram\n");
        for (route, r) in routes.iter() {
            let route = escape(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "engage_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                    r.buckets[i].load(Relaxed)
                );
            }
            let count = r.count.load(Relaxed);
            let _ = writeln!(
                out,
                "engage_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "engage_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                r.sum_micros.load(Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "engage_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        let scalars: [(&str, &str, &str, i64); 10] = [
            (
                "engage_sms_sent_total",
                "counter",
                "SMS messages this server handed to a provider.",
                self.sms_sent.load(Relaxed) as i64,
            ),
            (
                "engage_connections_open",
                "gauge",
                "Open client connections.",
                self.connections_open.load(Relaxed),
            ),
            (
                "engage_connections_refused_total",
                "counter",
                "Connections answered 503 above --max-connections.",
                self.connections_refused.load(Relaxed) as i64,
            ),
            (
                "engage_sse_refused_total",
                "counter",
                "Availability streams refused 429 above the per-address cap.",
                self.sse_refused.load(Relaxed) as i64,
            ),
            (
                "engage_events_ingested_total",
                "counter",
                "Runtime events stored.",
                self.events_ingested.load(Relaxed) as i64,
            ),
            (
                "engage_events_rejected_total",
                "counter",
                "Event batches rejected as invalid.",
                self.events_rejected.load(Relaxed) as i64,
            ),
            (
                "engage_rate_limited_total",
                "counter",
                "Requests answered 429.",
                self.rate_limited.load(Relaxed) as i64,
            ),
            (
                "engage_sse_clients",
                "gauge",
                "Open availability streams.",
                self.sse_clients.load(Relaxed),
            ),
            (
                "engage_versions_stored",
                "gauge",
                "Campaign document versions stored, all sites.",
                self.versions_stored.load(Relaxed) as i64,
            ),
            (
                "engage_compiles_total",
                "counter",
                "Successful document compilations (uploads, edits, refreshes).",
                self.compiles.load(Relaxed) as i64,
            ),
        ];
        for (name, kind, help, v) in scalars {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts one open SSE stream while alive.
pub struct SseGuard(AppState);

impl SseGuard {
    pub fn new(st: &AppState) -> Self {
        st.metrics.sse_clients.fetch_add(1, Relaxed);
        SseGuard(st.clone())
    }
}

impl Drop for SseGuard {
    fn drop(&mut self) {
        self.0.metrics.sse_clients.fetch_sub(1, Relaxed);
    }
}

/// Records each request under its route template (`/v1/sites/{site}/bundle`), so the label set
/// stays bounded whatever paths clients ask for.
pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let start = Instant::now();
    let res = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    match matched.as_ref().map(MatchedPath::as_str) {
        Some(p) => match p.find("{*") {
            Some(i) => st
                .metrics
                .observe(&format!("{}*", &p[..i]), status, elapsed),
            None => st.metrics.observe(p, status, elapsed),
        },
        None => st.metrics.observe("unmatched", status, elapsed),
    }
    res
}
