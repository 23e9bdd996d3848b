//! Storage benchmark (`cargo xtask bench-store`, which starts a PostgreSQL cluster and runs this
//! on both backends): event ingestion rows/s through the store's own insert (one call per beacon
//! batch of 10 events, 4 writers, as concurrent POST /events would), then the table filled to
//! `total` events in bulk, then the report's queries (counts + exposed/control groups per
//! campaign and per engagement) over a 30-day window, median of 3.
//!
//!   cargo run --release -p engage-server --example store_bench -- <database-url|sqlite> <ingest> <total>

use engage_engine::visit::{Event, EventKind};
use engage_server::store::{self, GroupQuery, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SITE: &str = "bench";
const CAMPAIGNS: u64 = 20;
const DAY: i64 = 86_400_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, ingest, total] = args.as_slice() else {
        anyhow::bail!("usage: store_bench <postgres://…|sqlite> <ingest events> <total events>");
    };
    let ingest: u64 = ingest.parse()?;
    let total: u64 = total.parse()?;
    let dir = tempfile::tempdir()?;
    let url = (url != "sqlite").then_some(url.as_str());
    let store: Arc<Store> = store::open(url, dir.path())?;
    let backend = store.backend();
    let now = chrono::Utc::now().timestamp_millis();
    // Events of the last 20 days (one or two monthly partitions on PostgreSQL).
    let base = now - 20 * DAY;

    // 1. Ingestion through the store, 4 writers.
    let t0 = Instant::now();
    let writers = 4;
    let batches = ingest / 10;
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut stored = 0;
                for b in (w..batches).step_by(writers as usize) {
                    let events = batch(b, base);
                    stored +=
                        store.insert_events(SITE, &format!("visitor-{b}"), &events, now)? as u64;
                }
                Ok(stored)
            })
        })
        .collect();
    let mut stored = 0;
    for h in handles {
        stored += h
            .join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    let took = t0.elapsed();
    println!(
        "{backend}: ingested {stored} events in {:.2} s: {:.0} rows/s ({} batches of 10, {writers} writers)",
        took.as_secs_f64(),
        stored as f64 / took.as_secs_f64(),
        batches
    );

    // 2. Fill to `total` in bulk.
    if total > stored {
        let t1 = Instant::now();
        fill(url, dir.path(), stored, total, base, now)?;
        println!(
            "{backend}: filled to {total} events in {:.1} s",
            t1.elapsed().as_secs_f64()
        );
    }

    // 3. The report's queries.
    let mut times = Vec::new();
    let mut exposed = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let q = GroupQuery {
            site: SITE,
            kind: "impression",
            from: now - 30 * DAY,
            to: now + DAY,
            window_ms: 7 * DAY,
            goal: None,
            by_engagement: true,
        };
        store.event_counts(SITE, q.from, q.to)?;
        exposed = store
            .event_groups(&q)?
            .iter()
            .map(|g| g.visitors)
            .sum::<u64>();
        store.event_groups(&GroupQuery {
            kind: "control",
            ..q
        })?;
        store.event_groups(&GroupQuery {
            by_engagement: false,
            ..q
        })?;
        store.event_groups(&GroupQuery {
            kind: "control",
            by_engagement: false,
            ..q
        })?;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{backend}: report over {total} events: median {:.2} s (runs {:?}); {exposed} exposed visitor-engagements",
        times[1].as_secs_f64(),
        times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>()
    );
    Ok(())
}

/// Beacon batch `b`: a visitor's 10 events (7 impressions or controls, an accept, a decline
/// and a goal), each at a distinct instant.
fn batch(b: u64, base: i64) -> Vec<Event> {
    let c = b % CAMPAIGNS;
    let at = base + (b as i64) * 10;
    (0..10)
        .map(|i| {
            let kind = match i {
                0 if matches!(b % 10, 0) => EventKind::Control,
                7 => EventKind::Accept,
                8 => EventKind::Decline,
                9 => EventKind::Goal,
                _ => EventKind::Impression,
            };
            let goal = kind == EventKind::Goal;
            Event {
                kind,
                at: at + i,
                visit: 1,
                campaign: (!goal).then(|| format!("campaign-{c}")),
                engagement: (!goal).then(|| format!("engagement-{c}-{}", i % 3)),
                zone: (!goal).then(|| "right".to_owned()),
                state: None,
                name: goal.then(|| "purchase".to_owned()),
                value: goal.then_some(10.0),
            }
        })
        .collect()
}

/// Rows `from..to` in bulk, shaped like [`batch`]'s (SQL on PostgreSQL, one transaction of
/// prepared inserts on SQLite).
fn fill(
    url: Option<&str>,
    dir: &std::path::Path,
    from: u64,
    to: u64,
    base: i64,
    now: i64,
) -> anyhow::Result<()> {
    let kind_sql = "CASE WHEN g % 10 = 0 AND (g / 10) % 10 = 0 THEN 'control'
                         WHEN g % 10 = 7 THEN 'accept' WHEN g % 10 = 8 THEN 'decline'
                         WHEN g % 10 = 9 THEN 'goal' ELSE 'impression' END";
    match url {
        Some(url) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                let step = 1_000_000u64;
                let mut start = from;
                while start < to {
                    let end = (start + step).min(to);
                    let sql = format!(
                        "INSERT INTO events (site, visitor, visit, kind, at, campaign, engagement,
                                             zone, state, name, value, received_at)
                         SELECT '{SITE}', 'visitor-' || (g / 10), 1, k,
                                {base} + g, CASE WHEN k = 'goal' THEN NULL
                                                 ELSE 'campaign-' || ((g / 10) % {CAMPAIGNS}) END,
                                CASE WHEN k = 'goal' THEN NULL
                                     ELSE 'engagement-' || ((g / 10) % {CAMPAIGNS}) || '-' || (g % 3) END,
                                CASE WHEN k = 'goal' THEN NULL ELSE 'right' END, NULL,
                                CASE WHEN k = 'goal' THEN 'purchase' END,
                                CASE WHEN k = 'goal' THEN 10.0 END, {now}
                         FROM (SELECT g, {kind_sql} AS k
                               FROM generate_series({start}::bigint, {end}::bigint - 1) g) s"
                    );
                    c.batch_execute(&sql).await?;
                    start = end;
                }
                c.batch_execute("ANALYZE events").await?;
                anyhow::Ok(())
            })
        }
        None => {
            let mut c = rusqlite::Connection::open(dir.join(store::DB_FILE))?;
            c.busy_timeout(Duration::from_secs(30))?;
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare(
                    "INSERT INTO events (site, visitor, visit, kind, at, campaign, engagement,
                                         zone, state, name, value, received_at)
                     VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?10)",
                )?;
                for g in from..to {
                    let b = g / 10;
                    let kind = match g % 10 {
                        0 if matches!(b % 10, 0) => "control",
                        7 => "accept",
                        8 => "decline",
                        9 => "goal",
                        _ => "impression",
                    };
                    let goal = kind == "goal";
                    st.execute(rusqlite::params![
                        SITE,
                        format!("visitor-{b}"),
                        kind,
                        base + g as i64,
                        (!goal).then(|| format!("campaign-{}", b % CAMPAIGNS)),
                        (!goal).then(|| format!("engagement-{}-{}", b % CAMPAIGNS, g % 3)),
                        (!goal).then_some("right"),
                        goal.then_some("purchase"),
                        goal.then_some(10.0),
                        now
                    ])?;
                }
            }
            tx.commit()?;
            c.execute_batch("ANALYZE")?;
            Ok(())
        }
    }
}
