//! The report's SMS and conversation sections (SPEC §11): per SMS campaign and per outbound
//! engagement, recipients, sent, delivered, failed, opted out, replies and conversations
//! started; and conversations started by source (`web`, `offsite`, `sms`).

use engage_engine::bundle::Bundle;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use crate::store::conversations::ConversationCount;
use crate::store::sms::{CampaignRow, Progress};
use crate::store::Store;

/// The figures one SMS campaign (or a sum of them) contributes.
#[derive(Default, Clone, Copy)]
struct Figures {
    recipients: u64,
    sent: u64,
    delivered: u64,
    failed: u64,
    opted_out: u64,
    replies: u64,
    conversations: u64,
}

impl Figures {
    fn from(p: &Progress, conversations: u64) -> Self {
        Figures {
            recipients: p.recipients,
            // Delivered messages were sent too.
            sent: p.sent + p.delivered,
            delivered: p.delivered,
            failed: p.failed,
            opted_out: p.opted_out,
            replies: p.replies,
            conversations,
        }
    }

    fn add(&mut self, o: Figures) {
        self.recipients += o.recipients;
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.failed += o.failed;
        self.opted_out += o.opted_out;
        self.replies += o.replies;
        self.conversations += o.conversations;
    }

    fn json(&self) -> Map<String, Value> {
        let v = json!({
            "recipients": self.recipients, "sent": self.sent, "delivered": self.delivered,
            "failed": self.failed, "opted_out": self.opted_out, "replies": self.replies,
            "conversations_started": self.conversations,
        });
        v.as_object().cloned().unwrap_or_default()
    }
}

pub struct Sections {
    pub sms_campaigns: Value,
    pub outbound: Value,
    pub conversations: Value,
    /// Conversations started per (web) engagement id.
    pub by_engagement: HashMap<String, u64>,
}

/// Reads what the sections need for `[from, to)`.
pub fn sections(
    store: &Store,
    bundle: &Bundle,
    site: &str,
    from: i64,
    to: i64,
    now: i64,
) -> crate::store::Result<Sections> {
    let counts: Vec<ConversationCount> = store.conversation_counts(site, from, to)?;
    let mut by_source: HashMap<&str, u64> = HashMap::new();
    let mut by_engagement: HashMap<String, u64> = HashMap::new();
    let mut by_sms_campaign: HashMap<String, u64> = HashMap::new();
    for c in &counts {
        *by_source.entry(c.source.as_str()).or_default() += c.count;
        if let Some(e) = &c.engagement {
            *by_engagement.entry(e.clone()).or_default() += c.count;
        }
        if let Some(k) = &c.sms_campaign {
            *by_sms_campaign.entry(k.clone()).or_default() += c.count;
        }
    }
    let inboxes: HashMap<String, String> = store
        .inboxes(site)?
        .into_iter()
        .map(|i| (i.id, i.from))
        .collect();
    let started: Vec<CampaignRow> = store.campaigns_started(site, from, to)?;
    let mut sms = Vec::new();
    let mut per_outbound: HashMap<&str, Figures> = HashMap::new();
    for c in &started {
        let p = store.progress(site, c, now)?;
        let f = Figures::from(&p, by_sms_campaign.get(&c.id).copied().unwrap_or(0));
        let mut m = Map::new();
        m.insert("campaign".into(), json!(c.id));
        m.insert("title".into(), json!(c.title));
        m.insert("status".into(), json!(c.status));
        m.insert("engagement".into(), json!(c.engagement));
        m.extend(f.json());
        sms.push(Value::Object(m));
        // The outbound engagement the campaign's replies go to: named, else by sender.
        let from_number = inboxes.get(&c.inbox);
        let target = bundle.outbound.iter().find(|o| match &c.engagement {
            Some(e) => &o.engagement == e,
            None => o.sender.is_some() && o.sender.as_ref() == from_number,
        });
        if let Some(o) = target {
            let mut f = f;
            // Conversations are counted per engagement below, whatever broadcast linked them.
            f.conversations = 0;
            per_outbound
                .entry(o.engagement.as_str())
                .or_default()
                .add(f);
        }
    }
    let mut outbound = Vec::new();
    for o in &bundle.outbound {
        let mut f = per_outbound
            .get(o.engagement.as_str())
            .copied()
            .unwrap_or_default();
        if let Some(r) = &o.campaign_ref {
            // A provider's broadcasts: engage knows who they reached, not their delivery.
            let reach = store.broadcast_reach(site, r, from, to)?;
            f.recipients += reach;
            f.sent += reach;
        }
        f.conversations = by_engagement.get(&o.engagement).copied().unwrap_or(0);
        f.replies = f.replies.max(f.conversations);
        let mut m = Map::new();
        m.insert("engagement".into(), json!(o.engagement));
        m.insert("campaign".into(), json!(o.campaign));
        m.insert("campaign_ref".into(), json!(o.campaign_ref));
        m.insert("sender".into(), json!(o.sender));
        m.extend(f.json());
        outbound.push(Value::Object(m));
    }
    let get = |s: &str| by_source.get(s).copied().unwrap_or(0);
    let conversations = json!({
        "started": get("web") + get("offsite") + get("sms"),
        "by_source": {"web": get("web"), "offsite": get("offsite"), "sms": get("sms")},
    });
    Ok(Sections {
        sms_campaigns: Value::from(sms),
        outbound: Value::from(outbound),
        conversations,
        by_engagement,
    })
}
