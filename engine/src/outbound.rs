//! Which outbound engagement an SMS reply belongs to (SPEC §11), pure.
//!
//! A reply is linked to the outbound engagement of the **most recent broadcast to that number
//! whose entry point matches** — the engagement the broadcast named, else the one whose
//! `campaign_ref` is the broadcast's, else the one whose `sender` is the number it came from — if
//! the reply falls inside that engagement's campaign timeframe and the campaign and engagement
//! are enabled. Otherwise the conversation starts with no engagement, and the reason says why.

use crate::bundle::{Bundle, BundleCampaign, BundleOutbound};
use crate::Millis;

/// A broadcast that reached the number: engage's own SMS campaign, or a provider's notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast<'a> {
    pub at: Millis,
    pub campaign_ref: Option<&'a str>,
    pub sender: Option<&'a str>,
    /// The outbound engagement the broadcast named itself (an SMS campaign's `engagement`).
    pub engagement: Option<&'a str>,
}

/// Why a reply starts a conversation with no engagement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoLink {
    /// No broadcast reached the number before the reply.
    NoBroadcast,
    /// No outbound engagement's entry point matches the broadcasts.
    NoEngagement,
    /// The matching engagement, or its campaign, is disabled.
    Disabled,
    /// The reply came outside the campaign's timeframe (start/end or weekly windows).
    OutsideTimeframe,
}

impl NoLink {
    pub fn as_str(self) -> &'static str {
        match self {
            NoLink::NoBroadcast => "no_broadcast",
            NoLink::NoEngagement => "no_engagement",
            NoLink::Disabled => "disabled",
            NoLink::OutsideTimeframe => "timeframe",
        }
    }
}

/// A linked reply: the engagement, its campaign, and the broadcast that decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link<'a> {
    pub outbound: &'a BundleOutbound,
    pub campaign: &'a BundleCampaign,
    pub broadcast_at: Millis,
}

fn matches(e: &BundleOutbound, b: &Broadcast<'_>) -> bool {
    match b.engagement {
        Some(id) => e.engagement == id,
        None => {
            (b.campaign_ref.is_some() && e.campaign_ref.as_deref() == b.campaign_ref)
                || (e.sender.is_some() && e.sender.as_deref() == b.sender)
        }
    }
}

/// The engagement a reply at `reply_at` links to, given the broadcasts to its number (any order).
pub fn link_reply<'a>(
    bundle: &'a Bundle,
    broadcasts: &[Broadcast<'_>],
    reply_at: Millis,
) -> Result<Link<'a>, NoLink> {
    let mut earlier: Vec<&Broadcast<'_>> = broadcasts.iter().filter(|b| b.at <= reply_at).collect();
    if earlier.is_empty() {
        return Err(NoLink::NoBroadcast);
    }
    // Most recent first; among equal instants the later one in the list.
    earlier.sort_by_key(|b| std::cmp::Reverse(b.at));
    for b in earlier {
        let mut disabled = false;
        for e in bundle.outbound.iter().filter(|e| matches(e, b)) {
            let Some(c) = bundle.campaigns.iter().find(|c| *c.id == *e.campaign) else {
                continue;
            };
            if !(e.enabled && c.enabled) {
                disabled = true;
                continue;
            }
            return if c.schedule.contains(reply_at) {
                Ok(Link {
                    outbound: e,
                    campaign: c,
                    broadcast_at: b.at,
                })
            } else {
                Err(NoLink::OutsideTimeframe)
            };
        }
        if disabled {
            return Err(NoLink::Disabled);
        }
    }
    Err(NoLink::NoEngagement)
}
