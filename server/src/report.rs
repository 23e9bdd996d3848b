//! The report: per campaign and engagement, counts, exposed and control groups, conversions
//! within `settings.attribution_days` of each visitor's first exposure (or control event), lift
//! and its 95% confidence interval.
//!
//! Confidence interval: the lift is `RR − 1` where `RR = exposed_rate / control_rate` (relative
//! risk of converting). Its 95% interval is Katz's log method (the delta method on `ln RR`):
//! `exp(ln RR ± 1.96 · sqrt(1/x₁ − 1/n₁ + 1/x₀ − 1/n₀)) − 1`, with `x` converting visitors and
//! `n` visitors in each group. Undefined (null) when either group has no visitor or no converter.

use crate::store::{EventCount, GroupQuery, Store};
use axum::Json;
use engage_engine::schedule::{format_instant, parse_date, parse_instant};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::error::{ApiError, Detail};
use crate::publish::run_blocking;
use crate::AppState;

const DAY_MS: i64 = 86_400_000;
/// Default window when `from` is not given.
const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Group {
    /// Distinct visitors in the group.
    pub visitors: u64,
    /// Of those, visitors with at least one goal within the attribution window.
    pub converters: u64,
    /// Goal events within the window.
    pub conversions: u64,
    /// Sum of their values.
    pub value: f64,
    /// converters / visitors (null without visitors).
    pub conversion_rate: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub impressions: u64,
    pub accepts: u64,
    pub declines: u64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// `(lift, 95% interval)`; see the module doc.
pub fn lift(exposed: &Group, control: &Group) -> (Option<f64>, Option<Interval>) {
    let (n1, x1, n0, x0) = (
        exposed.visitors as f64,
        exposed.converters as f64,
        control.visitors as f64,
        control.converters as f64,
    );
    if n1 == 0.0 || n0 == 0.0 || x0 == 0.0 {
        return (None, None);
    }
    let rr = (x1 / n1) / (x0 / n0);
    let lift = rr - 1.0;
    if x1 == 0.0 {
        return (Some(lift), None);
    }
    let se = (1.0 / x1 - 1.0 / n1 + 1.0 / x0 - 1.0 / n0).max(0.0).sqrt();
    let ln = rr.ln();
    let ci = Interval {
        low: (ln - 1.96 * se).exp() - 1.0,
        high: (ln + 1.96 * se).exp() - 1.0,
    };
    (Some(lift), Some(ci))
}

/// `from`/`to`: RFC 3339, or `YYYY-MM-DD` (UTC; `to` as a date includes that whole day).
fn bound(s: &str, name: &str, end: bool) -> Result<i64, ApiError> {
    if let Ok(t) = parse_instant(s) {
        return Ok(t);
    }
    let d = parse_date(s).map_err(|_| {
        let m = format!(
            "\"{}\" is not an RFC 3339 date-time or a YYYY-MM-DD date",
            s.escape_default()
        );
        ApiError::bad_request("invalid_query", m.clone()).with_details(vec![Detail::new(name, m)])
    })?;
    let start = d
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or_default();
    Ok(if end { start + DAY_MS } else { start })
}

type Key = (String, Option<String>);
/// An id and its display name.
type Named = (String, Option<String>);

/// Impressions, accepts and declines per campaign (engagement `None`) and per engagement.
fn counts(rows: Vec<EventCount>) -> BTreeMap<Key, Counts> {
    let mut out: BTreeMap<Key, Counts> = BTreeMap::new();
    for r in rows {
        let mut keys = vec![(r.campaign.clone(), None)];
        if r.engagement.is_some() {
            keys.push((r.campaign, r.engagement));
        }
        for key in keys {
            let e = out.entry(key).or_default();
            match r.kind.as_str() {
                "impression" => e.impressions += r.count,
                "accept" => e.accepts += r.count,
                _ => e.declines += r.count,
            }
        }
    }
    out
}

/// Group statistics for `kind` (`impression`: exposed, `control`: control) per campaign and
/// engagement (`by_engagement`) or per campaign.
fn groups(
    store: &Store,
    q: &GroupQuery<'_>,
    kind: &str,
    by_engagement: bool,
) -> crate::store::Result<BTreeMap<Key, Group>> {
    let q = GroupQuery {
        kind,
        by_engagement,
        ..*q
    };
    let mut out = BTreeMap::new();
    for r in store.event_groups(&q)? {
        out.insert(
            (r.campaign, r.engagement),
            Group {
                visitors: r.visitors,
                converters: r.converters,
                conversions: r.conversions,
                value: r.value,
                conversion_rate: (r.visitors > 0).then(|| r.converters as f64 / r.visitors as f64),
            },
        );
    }
    Ok(out)
}

fn entry(
    counts: Option<&Counts>,
    exposed: Option<&Group>,
    control: Option<&Group>,
) -> serde_json::Map<String, Value> {
    let c = counts.copied().unwrap_or_default();
    let e = exposed.copied().unwrap_or_default();
    let k = control.copied().unwrap_or_default();
    let (lift, ci) = lift(&e, &k);
    let v = json!({
        "impressions": c.impressions,
        "accepts": c.accepts,
        "declines": c.declines,
        "exposed_visitors": e.visitors,
        "control_visitors": k.visitors,
        "exposed": e,
        "control": k,
        "lift": lift,
        "lift_ci95": ci,
    });
    match v {
        Value::Object(m) => m,
        _ => Default::default(),
    }
}

pub async fn report(
    st: &AppState,
    site: &str,
    from: Option<&str>,
    to: Option<&str>,
    goal: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let active =
        st.sites.get(site).and_then(|s| s.active()).ok_or_else(|| {
            ApiError::not_found(format!("site \"{site}\" has no campaign document"))
        })?;
    let to = match to {
        Some(s) => bound(s, "to", true)?,
        None => st.now(),
    };
    let from = match from {
        Some(s) => bound(s, "from", false)?,
        None => to - DEFAULT_DAYS * DAY_MS,
    };
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`from` must be before `to`",
        ));
    }
    if let Some(g) = &goal {
        if !crate::ids::is_label(g, 100) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "`goal` is 1 to 100 printable characters",
            ));
        }
    }
    let settings = &active.document.settings;
    let days = i64::from(settings.attribution_days);
    let window = days * DAY_MS;
    let store = st.store.clone();
    let site_id = site.to_owned();
    let goal2 = goal.clone();
    let bundle = active.bundle.clone();
    let now = st.now();
    let (counts, exposed, control, exposed_c, control_c, sections) = run_blocking(move || {
        let sections = crate::report_outbound::sections(&*store, &bundle, &site_id, from, to, now)?;
        let q = GroupQuery {
            site: &site_id,
            kind: "impression",
            from,
            to,
            window_ms: window,
            goal: goal2.as_deref(),
            by_engagement: true,
        };
        Ok((
            counts(store.event_counts(&site_id, from, to)?),
            groups(&*store, &q, "impression", true)?,
            groups(&*store, &q, "control", true)?,
            groups(&*store, &q, "impression", false)?,
            groups(&*store, &q, "control", false)?,
            sections,
        ))
    })
    .await?;

    // Campaigns and engagements of the active document first, in its order, then any others
    // the events name (deleted or renamed since).
    let mut order: Vec<(String, Option<String>, Vec<Named>)> = active
        .document
        .campaigns
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                c.name.clone(),
                c.engagements
                    .iter()
                    .map(|e| (e.id.clone(), e.name.clone()))
                    .collect(),
            )
        })
        .collect();
    let seen = counts.keys().chain(exposed.keys()).chain(control.keys());
    for (campaign, engagement) in seen {
        let idx = match order.iter().position(|(c, _, _)| c == campaign) {
            Some(i) => i,
            None => {
                order.push((campaign.clone(), None, Vec::new()));
                order.len() - 1
            }
        };
        if let Some(e) = engagement {
            if !order[idx].2.iter().any(|(id, _)| id == e) {
                order[idx].2.push((e.clone(), None));
            }
        }
    }
    let campaigns: Vec<Value> = order
        .into_iter()
        .map(|(id, name, engagements)| {
            let ck: Key = (id.clone(), None);
            let mut m = serde_json::Map::new();
            m.insert("campaign".into(), json!(id));
            m.insert("name".into(), json!(name));
            m.extend(entry(
                counts.get(&ck),
                exposed_c.get(&ck),
                control_c.get(&ck),
            ));
            let es: Vec<Value> = engagements
                .into_iter()
                .map(|(eid, ename)| {
                    let k: Key = (id.clone(), Some(eid.clone()));
                    let mut em = serde_json::Map::new();
                    em.insert("engagement".into(), json!(eid));
                    em.insert("name".into(), json!(ename));
                    em.extend(entry(counts.get(&k), exposed.get(&k), control.get(&k)));
                    let started = sections.by_engagement.get(&eid).copied().unwrap_or(0);
                    em.insert("conversations_started".into(), json!(started));
                    Value::Object(em)
                })
                .collect();
            m.insert("engagements".into(), Value::Array(es));
            Value::Object(m)
        })
        .collect();
    Ok(Json(json!({
        "site": site,
        "version": active.version,
        "from": format_instant(from),
        "to": format_instant(to),
        "currency": settings.currency,
        "attribution_days": settings.attribution_days,
        "goal": goal,
        "ci_method": "katz-log (delta method on ln relative risk), 95%",
        "campaigns": campaigns,
        "conversations": sections.conversations,
        "sms_campaigns": sections.sms_campaigns,
        "outbound": sections.outbound,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(visitors: u64, converters: u64) -> Group {
        Group {
            visitors,
            converters,
            ..Default::default()
        }
    }

    #[test]
    fn lift_and_interval() {
        // 20% vs 10% → lift 1.0; the Katz interval around RR = 2.
        let (l, ci) = lift(&g(1000, 200), &g(1000, 100));
        assert!((l.unwrap() - 1.0).abs() < 1e-12);
        let ci = ci.unwrap();
        let se = (1.0f64 / 200.0 - 1.0 / 1000.0 + 1.0 / 100.0 - 1.0 / 1000.0).sqrt();
        assert!((ci.low - ((2f64.ln() - 1.96 * se).exp() - 1.0)).abs() < 1e-12);
        assert!(ci.low > 0.5 && ci.high < 1.6, "{ci:?}");
        assert_eq!(lift(&g(10, 1), &g(10, 0)), (None, None));
        assert_eq!(lift(&g(10, 0), &g(10, 2)).1, None);
        assert_eq!(lift(&g(0, 0), &g(10, 2)), (None, None));
    }

    #[test]
    fn bounds() {
        assert_eq!(
            bound("2026-01-02", "from", false).unwrap(),
            1_767_312_000_000
        );
        assert_eq!(
            bound("2026-01-02", "to", true).unwrap(),
            1_767_312_000_000 + DAY_MS
        );
        assert_eq!(
            bound("2026-01-02T00:00:00Z", "to", true).unwrap(),
            1_767_312_000_000
        );
        assert!(bound("yesterday", "from", false).is_err());
    }
}
