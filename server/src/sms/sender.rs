//! The sender: one scheduler task that wakes at the exact `scheduled_at` of the next campaign and
//! freezes its audience into the outbox, and one lane task per inbox that claims due rows one at
//! a time, at no more than the inbox's `rate_per_second` (a GCRA limiter with no burst, paced 5 %
//! under the rate, so no one-second window ever holds more), with bounded concurrency.
//!
//! Crash safety comes from the outbox (see `store::sms`): a row is `sending` in the database
//! before its provider request starts, so after a restart every row is either untouched
//! (`queued`, sent once later), finished, or was in flight (queued again, counted `uncertain`).

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};

use super::provider::{Outgoing, Provider, SendError};
use super::{base_url, site_facts};
use crate::store::sms::{ContactRow, FreezeCounts, InboxRow, NewOutbox, OutboxRow, Outcome};
use crate::AppState;
use engage_engine::regexp::NativeRegex;
use engage_engine::schedule::{parse_hhmm, quiet_hours_end};
use engage_engine::sms::{render, segments, Audience, Recipient, MAX_SEGMENTS};

/// Provider requests in flight per inbox at most.
const CONCURRENCY: usize = 16;
/// Tries per message before it is `failed`.
pub const MAX_ATTEMPTS: u32 = 5;
/// A safety tick: the scheduler and lanes look again at least this often (clock changes,
/// other servers' writes).
const TICK: Duration = Duration::from_secs(30);

type Key = (String, String);
/// An estimate with the site generation and the instant it was computed at.
type CachedEstimate = (u64, std::time::Instant, Estimate);

/// The SMS side of the shared state.
pub struct Sms {
    pub http: reqwest::Client,
    schedule: Notify,
    lanes: Mutex<HashMap<Key, Arc<Notify>>>,
    limiters: Mutex<HashMap<Key, (u32, Arc<DefaultDirectRateLimiter>)>>,
    changes: watch::Sender<u64>,
    started: std::sync::atomic::AtomicBool,
    /// Per site: bumped whenever contacts or opt-outs change, so audience estimates are cached
    /// until then (a console polling a 100,000-contact site must not re-read it every time).
    generations: Mutex<HashMap<String, u64>>,
    estimates: Mutex<HashMap<Key, CachedEstimate>>,
}

/// What an audience reaches now.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    pub size: usize,
    pub opted_out: u64,
    pub duplicates: u64,
    pub no_consent: u64,
    /// The first selected contact (id, name, phone): the console's preview fills placeholders.
    pub sample: Option<(String, Option<String>, String)>,
}

/// Cached estimates are also dropped after this long (other servers' writes).
const ESTIMATE_TTL: Duration = Duration::from_secs(10);

impl Default for Sms {
    fn default() -> Self {
        Sms {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(CONCURRENCY)
                .build()
                .unwrap_or_default(),
            schedule: Notify::new(),
            lanes: Mutex::new(HashMap::new()),
            limiters: Mutex::new(HashMap::new()),
            changes: watch::channel(0).0,
            started: Default::default(),
            generations: Mutex::new(HashMap::new()),
            estimates: Mutex::new(HashMap::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sms {
    /// Contacts or opt-outs of a site changed: cached estimates are stale.
    pub fn contacts_changed(&self, site: &str) {
        *lock(&self.generations).entry(site.to_owned()).or_default() += 1;
        lock(&self.estimates).retain(|(s, _), _| s != site);
    }

    /// How many distinct numbers `audience` reaches now (cached per site generation).
    pub fn estimate(
        &self,
        st: &AppState,
        site: &str,
        audience: &Audience,
    ) -> anyhow::Result<Estimate> {
        let key = (
            site.to_owned(),
            format!(
                "{:?}|{:?}|{:?}",
                audience.any, audience.none, audience.condition
            ),
        );
        let generation = lock(&self.generations).get(site).copied().unwrap_or(0);
        if let Some((g, at, e)) = lock(&self.estimates).get(&key) {
            if *g == generation && at.elapsed() < ESTIMATE_TTL {
                return Ok(e.clone());
            }
        }
        let contacts = st.store.all_contacts(site)?;
        let opted = st.store.opted_out_set(site)?;
        let sel = select_audience(&contacts, audience, &opted, &st.regex);
        let e = Estimate {
            size: sel.chosen.len(),
            opted_out: sel.opted_out,
            duplicates: sel.duplicates,
            no_consent: sel.no_consent,
            sample: sel.chosen.first().map(|&i| {
                let c = &contacts[i];
                (c.id.clone(), c.name.clone(), c.phone.clone())
            }),
        };
        let mut cache = lock(&self.estimates);
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(key, (generation, std::time::Instant::now(), e.clone()));
        Ok(e)
    }

    /// A campaign was created, edited, cancelled or deleted: the scheduler looks again.
    pub fn schedule_changed(&self) {
        self.schedule.notify_one();
    }

    /// Something a progress stream shows changed.
    pub fn progressed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// An inbox's settings changed: its limiter is rebuilt on next use and its lane wakes.
    pub fn inbox_changed(&self, site: &str, inbox: &str) {
        let key = (site.to_owned(), inbox.to_owned());
        lock(&self.limiters).remove(&key);
        if let Some(n) = lock(&self.lanes).get(&key) {
            n.notify_one();
        }
    }

    /// The inbox's limiter: one message every `1 / rate` seconds, no burst.
    pub fn limiter(&self, site: &str, inbox: &str, rate: u32) -> Arc<DefaultDirectRateLimiter> {
        let key = (site.to_owned(), inbox.to_owned());
        let mut map = lock(&self.limiters);
        if let Some((r, l)) = map.get(&key) {
            if *r == rate {
                return l.clone();
            }
        }
        // 5 % slower than the rate: requests leave evenly spaced, but the network and the
        // gateway add jitter, and no one-second window at the gateway may hold more than `rate`.
        let period = Duration::from_nanos(1_050_000_000 / u64::from(rate.max(1)));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let l = Arc::new(RateLimiter::direct(quota));
        map.insert(key, (rate, l.clone()));
        l
    }
}

/// Starts the sender (once): recovers rows a crash left in flight, then runs the scheduler and
/// a lane for every inbox with queued rows.
pub fn start(st: &AppState) -> anyhow::Result<()> {
    if st
        .sms
        .started
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return Ok(());
    }
    let now = st.now();
    let n = st.store.recover_inflight(now)?;
    if n > 0 {
        tracing::warn!(
            rows = n,
            "SMS messages were in flight at the last stop: sending them again (counted uncertain)"
        );
    }
    for (site, campaign) in st.store.sending_campaigns()? {
        st.store.complete_if_done(&site, &campaign, now)?;
    }
    for (site, inbox) in st.store.pending_inboxes()? {
        kick(st, &site, &inbox);
    }
    tokio::spawn(scheduler(st.clone()));
    Ok(())
}

/// Wakes (or starts) the lane of an inbox.
pub fn kick(st: &AppState, site: &str, inbox: &str) {
    let key = (site.to_owned(), inbox.to_owned());
    let mut lanes = lock(&st.sms.lanes);
    if let Some(n) = lanes.get(&key) {
        n.notify_one();
        return;
    }
    let notify = Arc::new(Notify::new());
    lanes.insert(key.clone(), notify.clone());
    drop(lanes);
    tokio::spawn(lane(st.clone(), key.0, key.1, notify));
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// Sleeps until `at` (milliseconds on the state's clock), a notification, or shutdown; false on
/// shutdown.
async fn wait_until(st: &AppState, at: Option<i64>, notify: &Notify) -> bool {
    let delay = match at {
        Some(t) => Duration::from_millis((t - st.now()).clamp(0, TICK.as_millis() as i64) as u64),
        None => TICK,
    };
    let mut shutdown = st.shutdown.subscribe();
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = notify.notified() => true,
        _ = shutdown.wait_for(|s| *s) => false,
    }
}

/// Freezes each campaign when its `scheduled_at` comes (not on a polling tick: it sleeps until
/// that exact instant).
async fn scheduler(st: AppState) {
    loop {
        let st2 = st.clone();
        let next = blocking(move || Ok(st2.store.next_scheduled()?)).await;
        let due = match next {
            Ok(Some((site, id, at))) if at <= st.now() => Some((site, id)),
            Ok(Some((_, _, at))) => {
                if !wait_until(&st, Some(at), &st.sms.schedule).await {
                    return;
                }
                None
            }
            Ok(None) => {
                if !wait_until(&st, None, &st.sms.schedule).await {
                    return;
                }
                None
            }
            Err(e) => {
                tracing::error!("SMS scheduler: {e:#}");
                if !wait_until(&st, Some(st.now() + 1000), &st.sms.schedule).await {
                    return;
                }
                None
            }
        };
        if let Some((site, id)) = due {
            let st2 = st.clone();
            let (s2, i2) = (site.clone(), id.clone());
            match blocking(move || freeze(&st2, &s2, &i2)).await {
                Ok(Some(inbox)) => kick(&st, &site, &inbox),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(%site, campaign = %id, "cannot start the SMS campaign: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            st.sms.progressed();
        }
        // Other servers' edits and clock jumps are picked up by the tick in `wait_until`.
        let st2 = st.clone();
        let _ = blocking(move || Ok(st2.store.reclaim_expired(st2.now())?)).await;
    }
}

/// What an audience selects: one contact per distinct number (indices into the contacts).
#[derive(Default, Clone)]
pub struct Selection {
    pub chosen: Vec<usize>,
    pub opted_out: u64,
    pub duplicates: u64,
    pub no_consent: u64,
}

/// The condition sees the contact's fields and its attributes (also at the top level, so
/// `{"city": "Leeds"}` works as it does for visitors).
pub fn contact_fields(c: &ContactRow) -> Value {
    let mut m = match &c.attributes {
        Value::Object(a) => a.clone(),
        _ => Map::new(),
    };
    m.insert("id".into(), c.id.clone().into());
    m.insert("phone".into(), c.phone.clone().into());
    m.insert("name".into(), c.name.clone().into());
    m.insert("tags".into(), c.tags.clone().into());
    m.insert("timezone".into(), c.timezone.clone().into());
    m.insert("consent".into(), c.consent.into());
    m.insert("attributes".into(), c.attributes.clone());
    Value::Object(m)
}

/// Matching contacts in id order; the first contact of a number wins, later ones count as
/// duplicates; opted-out numbers and contacts without consent are skipped and counted.
pub fn select_audience(
    contacts: &[ContactRow],
    audience: &Audience,
    opted_out: &HashSet<String>,
    regex: &NativeRegex,
) -> Selection {
    let mut s = Selection::default();
    let mut seen = HashSet::new();
    for (i, c) in contacts.iter().enumerate() {
        if !audience.matches(&c.tags, &contact_fields(c), regex) {
            continue;
        }
        if !seen.insert(c.phone.as_str()) {
            s.duplicates += 1;
            continue;
        }
        if opted_out.contains(&c.phone) {
            s.opted_out += 1;
            continue;
        }
        if !c.consent {
            s.no_consent += 1;
            continue;
        }
        s.chosen.push(i);
    }
    s
}

/// Quiet hours of a campaign as local minutes.
fn quiet_minutes(q: Option<&Value>) -> Option<(u32, u32)> {
    let q = q?;
    let from = parse_hhmm(q.get("from")?.as_str()?).ok()?;
    let to = parse_hhmm(q.get("to")?.as_str()?).ok()?;
    Some((from, to))
}

fn quiet_end(
    now: i64,
    tz: &str,
    quiet: Option<(u32, u32)>,
    fallback: chrono_tz::Tz,
) -> Option<i64> {
    let (from, to) = quiet?;
    let tz = tz.parse().unwrap_or(fallback);
    quiet_hours_end(now, tz, from, to)
}

/// Freezes a due campaign's audience; returns its inbox when it started sending.
fn freeze(st: &AppState, site: &str, id: &str) -> anyhow::Result<Option<String>> {
    let Some(c) = st.store.campaign(site, id)? else {
        return Ok(None);
    };
    if c.status != "scheduled" {
        return Ok(None);
    }
    let now = st.now();
    let facts = site_facts(st, site);
    let contacts = st.store.all_contacts(site)?;
    let opted = st.store.opted_out_set(site)?;
    let audience = super::campaigns::audience_of(&c);
    let sel = select_audience(&contacts, &audience, &opted, &st.regex);
    let quiet = quiet_minutes(c.quiet_hours.as_ref());
    let site_tz = facts.timezone.name().to_owned();
    let rows: Vec<NewOutbox> = sel
        .chosen
        .iter()
        .map(|&i| {
            let ct = &contacts[i];
            let tz = ct.timezone.clone().unwrap_or_else(|| site_tz.clone());
            let wait = quiet_end(now, &tz, quiet, facts.timezone);
            let body = render(
                &c.message,
                &Recipient {
                    id: &ct.id,
                    name: ct.name.as_deref(),
                    attributes: &ct.attributes,
                },
            );
            NewOutbox {
                phone: ct.phone.clone(),
                contact: ct.id.clone(),
                body,
                timezone: tz,
                not_before: wait.unwrap_or(now),
                quiet: wait.is_some(),
            }
        })
        .collect();
    let counts = FreezeCounts {
        opted_out: sel.opted_out,
        duplicates: sel.duplicates,
        no_consent: sel.no_consent,
    };
    let started = st
        .store
        .freeze(site, id, c.updated_at, &rows, &counts, now)?;
    if started {
        tracing::info!(%site, campaign = %id, recipients = rows.len(), opted_out = counts.opted_out,
            duplicates = counts.duplicates, "SMS campaign started");
        Ok(Some(c.inbox))
    } else {
        Ok(None)
    }
}

/// How long a process holds an inbox's lane without renewing it (servers sharing a database
/// send an inbox's messages one process at a time, so the inbox's rate holds).
const LANE_LEASE_MS: i64 = 10_000;

/// This process's hold on an inbox's lane: held until `until`; while another process holds
/// it, not asked again before `next_try` (its progress hints wake the lane often).
struct LaneLease {
    until: i64,
    next_try: i64,
}

/// Whether this process holds the lane, renewing the lease when half of it is gone.
async fn holds_lane(st: &AppState, site: &str, inbox: &str, lease: &mut LaneLease) -> bool {
    let now = st.now();
    if now < lease.until.saturating_sub(LANE_LEASE_MS / 2) {
        return true;
    }
    if now < lease.next_try {
        return false;
    }
    let (st2, s2, i2) = (st.clone(), site.to_owned(), inbox.to_owned());
    match blocking(move || Ok(st2.store.lane_lease(&s2, &i2, now, LANE_LEASE_MS)?)).await {
        Ok(true) => {
            lease.until = now + LANE_LEASE_MS;
            true
        }
        Ok(false) => {
            lease.next_try = now + LANE_LEASE_MS / 2;
            false
        }
        Err(e) => {
            tracing::warn!(%site, %inbox, "cannot take the SMS lane: {e:#}");
            lease.next_try = now + 1000;
            false
        }
    }
}

/// One inbox's sending loop.
async fn lane(st: AppState, site: String, inbox: String, notify: Arc<Notify>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut lease = LaneLease {
        until: i64::MIN,
        next_try: i64::MIN,
    };
    loop {
        if *st.shutdown.borrow() {
            return;
        }
        if !holds_lane(&st, &site, &inbox, &mut lease).await {
            // Another server sends this inbox's messages; take over if its lease runs out.
            if !wait_until(&st, Some(st.now() + LANE_LEASE_MS), &notify).await {
                return;
            }
            continue;
        }
        let st2 = st.clone();
        let (s2, i2) = (site.clone(), inbox.clone());
        let row = match blocking(move || Ok(st2.store.inbox(&s2, &i2)?)).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                if !wait_until(&st, None, &notify).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::error!(%site, %inbox, "SMS lane: {e:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let provider = match Provider::parse(&row.provider, Some(&row.config), None) {
            Ok(p) => Arc::new(p),
            Err(_) => {
                tracing::error!(%site, %inbox, "the inbox's provider settings are not usable");
                if !wait_until(&st, None, &notify).await {
                    return;
                }
                continue;
            }
        };
        let limiter = st.sms.limiter(&site, &inbox, row.rate_per_second);
        let row = Arc::new(row);
        // A sending campaign cannot be edited, so its quiet hours are read once.
        let mut quiet_of: HashMap<String, Option<(u32, u32)>> = HashMap::new();
        // Send until nothing is due; then sleep until the next row is.
        loop {
            if !holds_lane(&st, &site, &inbox, &mut lease).await {
                break;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            limiter.until_ready().await;
            let st2 = st.clone();
            let (s2, i2) = (site.clone(), inbox.clone());
            let claimed = blocking(move || Ok(st2.store.claim(&s2, &i2, st2.now())?)).await;
            match claimed {
                Ok(Some(out)) => {
                    let quiet = match quiet_of.get(&out.campaign) {
                        Some(q) => *q,
                        None => {
                            let (st2, s2, c2) =
                                (st.clone(), out.site.clone(), out.campaign.clone());
                            let c = blocking(move || Ok(st2.store.campaign(&s2, &c2)?))
                                .await
                                .ok()
                                .flatten();
                            let q = c.and_then(|c| quiet_minutes(c.quiet_hours.as_ref()));
                            quiet_of.insert(out.campaign.clone(), q);
                            q
                        }
                    };
                    let (st2, row2, p2) = (st.clone(), row.clone(), provider.clone());
                    tokio::spawn(async move {
                        send_one(&st2, &row2, &p2, out, quiet).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    break;
                }
                Err(e) => {
                    drop(permit);
                    tracing::error!(%site, %inbox, "cannot claim an SMS message: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
        let st2 = st.clone();
        let (s2, i2) = (site.clone(), inbox.clone());
        let next = blocking(move || Ok(st2.store.next_due(&s2, &i2)?))
            .await
            .ok()
            .flatten();
        // A row due now that could not be claimed is being sent elsewhere: look again soon.
        let at = next.map(|t| t.max(st.now() + 20));
        if !wait_until(&st, at, &notify).await {
            return;
        }
    }
}

/// The delivery-report URL of one message, in the provider's own form.
pub fn status_url(st: &AppState, inbox: &InboxRow, provider: &Provider, reference: &str) -> String {
    let inbox_url = format!("{}/v1/sms/{}/{}", base_url(st), inbox.site, inbox.id);
    provider.status_url(&inbox_url, &inbox.webhook_secret, reference)
}

/// Backoff before try `attempt + 1`: 1 s, 2 s, 4 s, 8 s … at most a minute.
fn backoff_ms(attempt: u32) -> i64 {
    1000i64 << attempt.saturating_sub(1).min(6)
}

async fn send_one(
    st: &AppState,
    inbox: &InboxRow,
    provider: &Provider,
    out: OutboxRow,
    quiet: Option<(u32, u32)>,
) {
    let now = st.now();
    // Quiet hours may have begun since the row was queued (a long campaign).
    let site_tz = site_facts(st, &out.site).timezone;
    let outcome = if let Some(end) = quiet_end(now, &out.timezone, quiet, site_tz) {
        Outcome::Quiet { not_before: end }
    } else {
        let result = if segments(&out.body).segments > MAX_SEGMENTS {
            Err(SendError::Permanent(format!(
                "the message with its placeholders filled is longer than {MAX_SEGMENTS} segments"
            )))
        } else {
            let reference = out.id.to_string();
            let url = status_url(st, inbox, provider, &reference);
            let msg = Outgoing {
                to: &out.phone,
                from: &inbox.from,
                text: &out.body,
                reference: &reference,
                status_url: &url,
            };
            provider.send(&st.sms.http, msg).await
        };
        let now = st.now();
        match result {
            Ok(a) => {
                st.metrics
                    .sms_sent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Outcome::Sent(a.provider_ref)
            }
            Err(SendError::Transient(e)) if out.attempts < MAX_ATTEMPTS => {
                tracing::info!(
                    row = out.id,
                    attempt = out.attempts,
                    "SMS send failed, retrying: {e}"
                );
                Outcome::Retry {
                    not_before: now + backoff_ms(out.attempts),
                    error: e,
                }
            }
            Err(SendError::OptedOut(e)) => {
                let (st2, site, phone) = (st.clone(), out.site.clone(), out.phone.clone());
                let _ = blocking(move || {
                    Ok(st2.store.opt_out(&site, &phone, "provider", st2.now())?)
                })
                .await;
                st.sms.contacts_changed(&out.site);
                Outcome::Failed(format!("opted out at the provider: {e}"))
            }
            Err(e) => {
                tracing::warn!(row = out.id, "SMS send failed for good: {e}");
                Outcome::Failed(e.to_string())
            }
        }
    };
    let wake_lane = matches!(outcome, Outcome::Retry { .. } | Outcome::Quiet { .. });
    let (st2, o) = (st.clone(), out.clone());
    let done = blocking(move || Ok(st2.store.finish_row(&o, &outcome, st2.now())?)).await;
    match done {
        Ok(true) => {
            tracing::info!(site = %out.site, campaign = %out.campaign, "SMS campaign completed")
        }
        Ok(false) => {}
        Err(e) => tracing::error!(row = out.id, "cannot record an SMS send: {e:#}"),
    }
    st.sms.progressed();
    // A retry or a quiet-hours wait becomes due later: make sure the lane sleeps until then.
    if wake_lane {
        if let Some(n) = lock(&st.sms.lanes).get(&(out.site.clone(), out.inbox.clone())) {
            n.notify_one();
        }
    }
}

/// Sends a one-off reply (opt-out confirmation, help text) through the inbox, within its rate.
pub async fn send_reply(st: &AppState, inbox: &InboxRow, to: &str, text: &str, kind: &str) {
    let Ok(provider) = Provider::parse(&inbox.provider, Some(&inbox.config), None) else {
        return;
    };
    st.sms
        .limiter(&inbox.site, &inbox.id, inbox.rate_per_second)
        .until_ready()
        .await;
    let reference = format!("r{}", st.now());
    let url = status_url(st, inbox, &provider, &reference);
    let result = provider
        .send(
            &st.sms.http,
            Outgoing {
                to,
                from: &inbox.from,
                text,
                reference: &reference,
                status_url: &url,
            },
        )
        .await;
    if let Err(e) = &result {
        tracing::warn!(site = %inbox.site, inbox = %inbox.id, "cannot send the {kind} reply: {e}");
    }
    let (st2, i2, to2, text2, kind2) = (
        st.clone(),
        inbox.clone(),
        to.to_owned(),
        text.to_owned(),
        kind.to_owned(),
    );
    let _ = blocking(move || {
        Ok(st2.store.log_message(
            &i2.site,
            &i2.id,
            "out",
            &to2,
            &text2,
            &kind2,
            None,
            st2.now(),
        )?)
    })
    .await;
}
