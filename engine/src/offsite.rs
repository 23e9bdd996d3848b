//! Offsite links (SPEC §6): where a click on an email, ad or printed link leads, decided at
//! click time with what the server knows of the visitor.

use crate::availability::{engagement_state, Availability, State};
use crate::bundle::{Bundle, BundleCampaign, BundleEngagement};
use crate::condition::eval_condition;
use crate::model::{Kind, Source};
use crate::regexp::RegexEngine;
use crate::visit::{Profile, Reason};
use crate::Millis;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OffsiteOutcome {
    /// Eligible: go to the landing page, which opens the engagement.
    Open { url: String },
    /// Not now (outside timeframe or business hours, no agents, audience not met): go to the
    /// offline survey. `url` is `None` when the engagement has no survey.
    Survey { url: Option<String>, reason: Reason },
    /// Disabled, deleted, unknown or expired: go to the site's inactive-engagement page.
    Inactive,
}

/// Decides an offsite link click at `now`.
pub fn decide(
    bundle: &Bundle,
    engagement: &str,
    now: Millis,
    profile: &Profile,
    availability: &Availability,
    regex: &dyn RegexEngine,
) -> OffsiteOutcome {
    let Some((c, e)) = find_offsite(bundle, engagement) else {
        return OffsiteOutcome::Inactive;
    };
    let Some(offsite) = &e.offsite else {
        return OffsiteOutcome::Inactive;
    };
    if !c.enabled || !e.enabled || expired(c, now) {
        return OffsiteOutcome::Inactive;
    }
    let survey = |reason| OffsiteOutcome::Survey {
        url: offsite.offline_survey_url.clone(),
        reason,
    };
    if now >= bundle.valid_until || !c.schedule.contains(now) {
        return survey(Reason::Timeframe);
    }
    if c.business_hours_only
        && !bundle
            .business_hours
            .as_ref()
            .is_some_and(|h| h.contains(now))
    {
        return survey(Reason::BusinessHours);
    }
    if let Some(cond) = bundle.audience(c) {
        if !eval_condition(&attributes(profile), cond, regex) {
            return survey(Reason::Audience);
        }
    }
    if e.follows_availability() && engagement_state(bundle, e, availability) == State::Offline {
        return survey(Reason::Availability);
    }
    OffsiteOutcome::Open {
        url: with_query_param(&offsite.landing_url, "engage_open", &e.id),
    }
}

fn find_offsite<'b>(
    bundle: &'b Bundle,
    id: &str,
) -> Option<(&'b BundleCampaign, &'b BundleEngagement)> {
    bundle.campaigns.iter().find_map(|c| {
        c.engagements
            .iter()
            .find(|e| &*e.id == id && e.source == Source::Offsite && e.kind == Kind::Conversation)
            .map(|e| (c, e))
    })
}

/// The timeframe has ended for good: no interval now or later.
fn expired(c: &BundleCampaign, now: Millis) -> bool {
    c.schedule.0.last().is_none_or(|last| last[1] <= now)
}

/// What the server knows of a clicking visitor, as audience attributes.
fn attributes(p: &Profile) -> Value {
    let mut a = Map::new();
    a.insert("device".into(), Value::from(p.device.as_str()));
    if let Some(l) = &p.language {
        a.insert("language".into(), Value::from(l.as_str()));
    }
    if let Some(c) = &p.country {
        a.insert("country".into(), Value::from(c.as_str()));
    }
    Value::Object(a)
}

/// `url` with `name=value` added to its query (before any fragment). Ids are URL-safe, so no
/// escaping is needed for `value`.
pub fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = String::with_capacity(url.len() + name.len() + value.len() + 2);
    out.push_str(base);
    out.push_str(sep);
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_query_params() {
        assert_eq!(
            with_query_param("https://a.example/x", "engage_open", "e"),
            "https://a.example/x?engage_open=e"
        );
        assert_eq!(
            with_query_param("https://a.example/x?a=1#top", "engage_open", "e"),
            "https://a.example/x?a=1&engage_open=e#top"
        );
        assert_eq!(
            with_query_param("https://a.example/x?", "k", "v"),
            "https://a.example/x?k=v"
        );
    }
}
