//! Document → bundle (native only).
//!
//! Validates first (an invalid document never compiles), then resolves library references,
//! expands schedules in the site's time zone into UTC intervals up to a horizon, compiles URL
//! matchers, sanitizes messages into node trees and drops what the browser does not need.
//! Deterministic: the same document, options and `now` give the same bytes.

use crate::bundle::{
    BehaviorProgram, Bundle, BundleCampaign, BundleEngagement, BundleOutbound, BundleSettings,
    BundleSkill, CompiledCreative, CreativeProgram, EntryPointProgram, PageTest, Schedule,
    BUNDLE_FORMAT, FOREVER,
};
use crate::model::{
    Behavior, Campaign, Channel, Creative, CreativeSet, Document, Engagement, EntryPoint, Format,
    Kind, OrRef, PageMatcher, Source, Style, WeeklyWindow, Zone,
};
use crate::schedule::{expand_weekly, intersect, parse_instant, parse_timezone};
use crate::validate::{check_document, validate, Problem};
use crate::{html, urlmatch, Millis};
use serde_json::Value;

const DAY_MS: Millis = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// The compile instant: schedules are expanded from a day before it.
    pub now: Millis,
    /// How far ahead weekly schedules and business hours are expanded.
    pub horizon_days: u32,
    /// The document version recorded in the bundle.
    pub version: u64,
}

impl CompileOptions {
    pub fn at(now: Millis) -> Self {
        CompileOptions {
            now,
            horizon_days: 35,
            version: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub bundle: Bundle,
    pub warnings: Vec<Problem>,
}

/// Parses, validates and compiles JSON text; every problem is reported.
pub fn compile_text(text: &str, opts: CompileOptions) -> Result<Compiled, Vec<Problem>> {
    let doc = check_document(text, opts.now)?;
    compile(&doc, opts)
}

/// Validates and compiles a parsed document.
pub fn compile(doc: &Document, opts: CompileOptions) -> Result<Compiled, Vec<Problem>> {
    let v = validate(doc, opts.now);
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    let bundle = Compiler::new(doc, opts)?.bundle()?;
    Ok(Compiled {
        bundle,
        warnings: v.warnings,
    })
}

struct Compiler<'d> {
    doc: &'d Document,
    opts: CompileOptions,
    tz: chrono_tz::Tz,
    from: Millis,
    until: Millis,
    /// Whether anything was expanded over the horizon (else the bundle never expires).
    horizon_used: std::cell::Cell<bool>,
    audiences: Table<Value>,
    page_tests: Table<PageTest>,
}

/// Distinct items in first-use order, each stored once (keyed by its JSON form).
struct Table<T> {
    items: std::cell::RefCell<Vec<T>>,
    index: std::cell::RefCell<std::collections::HashMap<String, u32>>,
}

impl<T: serde::Serialize> Table<T> {
    fn new() -> Self {
        Table {
            items: Default::default(),
            index: Default::default(),
        }
    }

    fn intern(&self, item: T) -> u32 {
        let key = serde_json::to_string(&item).unwrap_or_default();
        let mut index = self.index.borrow_mut();
        if let Some(&i) = index.get(&key) {
            return i;
        }
        let mut items = self.items.borrow_mut();
        let i = items.len() as u32;
        items.push(item);
        index.insert(key, i);
        i
    }

    fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.items.borrow_mut())
    }
}

fn problem(path: String, message: impl Into<String>) -> Vec<Problem> {
    vec![Problem {
        path,
        message: message.into(),
    }]
}

/// Every outbound engagement with its entry point (SPEC §11), in document order.
fn outbound(doc: &Document) -> Vec<BundleOutbound> {
    doc.campaigns
        .iter()
        .flat_map(|c| {
            c.engagements
                .iter()
                .filter(|e| e.source == Source::Outbound)
                .map(move |e| {
                    let entry = e.outbound.clone().unwrap_or_default();
                    BundleOutbound {
                        campaign: c.id.clone(),
                        engagement: e.id.clone(),
                        enabled: e.enabled,
                        campaign_ref: entry.campaign_ref,
                        sender: entry.sender,
                        skill: e.skill.clone(),
                        language: e.language.clone(),
                        agent_note: e.agent_note.clone(),
                    }
                })
        })
        .collect()
}

impl<'d> Compiler<'d> {
    fn new(doc: &'d Document, opts: CompileOptions) -> Result<Self, Vec<Problem>> {
        let tz = parse_timezone(&doc.timezone).map_err(|m| problem("timezone".into(), m))?;
        Ok(Compiler {
            doc,
            opts,
            tz,
            from: opts.now - DAY_MS,
            until: opts.now + i64::from(opts.horizon_days) * DAY_MS,
            horizon_used: std::cell::Cell::new(false),
            audiences: Table::new(),
            page_tests: Table::new(),
        })
    }

    fn bundle(&self) -> Result<Bundle, Vec<Problem>> {
        let doc = self.doc;
        let s = &doc.settings;
        let business_hours = match &doc.business_hours {
            None => None,
            Some(w) => Some(self.weekly(&self.resolve_schedule(w, "business_hours")?, true)),
        };
        let mut campaigns = Vec::with_capacity(doc.campaigns.len());
        for (i, c) in doc.campaigns.iter().enumerate() {
            campaigns.push(self.campaign(c, &format!("campaigns[{i}]"))?);
        }
        Ok(Bundle {
            format: BUNDLE_FORMAT,
            site: doc.site.clone(),
            version: self.opts.version,
            compiled_at: self.opts.now,
            valid_until: if self.horizon_used.get() {
                self.until
            } else {
                FOREVER
            },
            settings: BundleSettings {
                displays_per_visit: s.displays_per_visit,
                invite_after_decline: s.invite_after_decline,
                control_group_percent: s.control_group_percent,
                visit_idle_minutes: s.visit_idle_minutes,
                conversation_url: s.conversation_url.clone(),
            },
            skills: doc
                .skills
                .iter()
                .map(|k| BundleSkill {
                    id: k.id.clone(),
                    max_wait_seconds: k.max_wait_seconds,
                })
                .collect(),
            business_hours,
            audiences: self.audiences.take(),
            page_tests: self.page_tests.take(),
            campaigns,
            outbound: outbound(doc),
            index: Default::default(),
        })
    }

    /// Weekly windows over the horizon; special occasions apply to business hours only.
    fn weekly(&self, windows: &[WeeklyWindow], business: bool) -> Schedule {
        self.horizon_used.set(true);
        let occasions = if business {
            &self.doc.special_occasions[..]
        } else {
            &[]
        };
        expand_weekly(self.tz, windows, occasions, self.from, self.until)
    }

    fn resolve_schedule(
        &self,
        w: &OrRef<Vec<WeeklyWindow>>,
        path: &str,
    ) -> Result<Vec<WeeklyWindow>, Vec<Problem>> {
        resolve(w, &self.doc.library.schedules, path, "schedule")
    }

    fn campaign(&self, c: &Campaign, path: &str) -> Result<BundleCampaign, Vec<Problem>> {
        let tf = c.timeframe.clone().unwrap_or_default();
        let instant = |s: &Option<String>, field: &str| -> Result<Option<Millis>, Vec<Problem>> {
            s.as_deref()
                .map(parse_instant)
                .transpose()
                .map_err(|m| problem(format!("{path}.timeframe.{field}"), m))
        };
        let start = instant(&tf.start, "start")?.unwrap_or(-FOREVER);
        let end = instant(&tf.end, "end")?.unwrap_or(FOREVER);
        let mut schedule = Schedule(if start < end {
            vec![[start, end]]
        } else {
            vec![]
        });
        if let Some(w) = &tf.weekly {
            let windows = self.resolve_schedule(w, &format!("{path}.timeframe.weekly"))?;
            schedule = intersect(&schedule, &self.weekly(&windows, false));
        }
        let audience = match &c.audience {
            None => None,
            Some(a) => Some(resolve(
                a,
                &self.doc.library.audiences,
                &format!("{path}.audience"),
                "audience",
            )?),
        };
        let mut engagements = Vec::with_capacity(c.engagements.len());
        for (i, e) in c.engagements.iter().enumerate() {
            // Outbound engagements are never on a page: they go to `Bundle::outbound`.
            if e.source != Source::Outbound {
                engagements.push(self.engagement(e, &format!("{path}.engagements[{i}]"))?);
            }
        }
        Ok(BundleCampaign {
            id: c.id.as_str().into(),
            enabled: c.enabled,
            priority: c.priority,
            control_group_percent: c.control_group_percent,
            schedule,
            business_hours_only: c.business_hours_only,
            audience: audience
                .filter(|a: &Value| a.as_object().is_none_or(|o| !o.is_empty()))
                .map(|a| self.audiences.intern(a)),
            engagements,
        })
    }

    fn engagement(&self, e: &Engagement, path: &str) -> Result<BundleEngagement, Vec<Problem>> {
        let lib = &self.doc.library;
        let entry = match &e.entry_point {
            None => EntryPoint::default(),
            Some(r) => resolve(
                r,
                &lib.entry_points,
                &format!("{path}.entry_point"),
                "entry point",
            )?,
        };
        let behavior = match &e.behavior {
            None => Behavior::default(),
            Some(r) => resolve(r, &lib.behaviors, &format!("{path}.behavior"), "behavior")?,
        };
        let creative = resolve(
            &e.creative,
            &lib.creatives,
            &format!("{path}.creative"),
            "creative",
        )?;
        let web = e.source == Source::Web;
        let zone = match (web, e.format, &e.zone) {
            (false, _, _) => None,
            (true, _, Some(z)) => Some(z.clone()),
            (true, Some(Format::Sticky), None) => Some(Zone::Right),
            (true, Some(f), None) if f.is_proactive() => Some(Zone::Proactive),
            (true, _, None) => None,
        };
        Ok(BundleEngagement {
            id: e.id.as_str().into(),
            enabled: e.enabled,
            kind: e.kind,
            channel: match e.kind {
                Kind::Conversation => Some(e.channel.unwrap_or(Channel::Chat)),
                Kind::Content => None,
            },
            source: e.source,
            format: if web { e.format } else { None },
            zone,
            skill: e.skill.clone(),
            ignore_max_wait: e.ignore_max_wait,
            refresh_seconds: e.refresh_seconds,
            language: e.language.clone(),
            agent_note: e.agent_note.clone(),
            entry_point: EntryPointProgram {
                include: self.tests(&entry.include, &format!("{path}.entry_point.include"))?,
                exclude: self.tests(&entry.exclude, &format!("{path}.entry_point.exclude"))?,
            },
            behavior: BehaviorProgram {
                time_on_page: behavior.time_on_page,
                time_on_site: behavior.time_on_site,
                pages_viewed: behavior.pages_viewed,
                visited: behavior
                    .visited
                    .as_ref()
                    .map(|m| page_test(m, &format!("{path}.behavior.visited")))
                    .transpose()?,
                referrer: behavior
                    .referrer
                    .as_ref()
                    .map(|m| page_test(m, &format!("{path}.behavior.referrer")))
                    .transpose()?,
                exit_intent: behavior.exit_intent,
                scroll_percent: behavior.scroll_percent,
                idle_seconds: behavior.idle_seconds,
                engaged: behavior.engaged.clone(),
            },
            creative: creatives(&creative, e.style.as_ref()),
            sender: e.sender.clone(),
            authenticated: e.authenticated,
            window_mode: e.window_mode,
            offsite: if web { None } else { e.offsite.clone() },
        })
    }
}

/// The inline item, or the library item a reference names.
fn resolve<T: Clone>(
    r: &OrRef<T>,
    library: &std::collections::BTreeMap<String, T>,
    path: &str,
    what: &str,
) -> Result<T, Vec<Problem>> {
    match r {
        OrRef::Inline(t) => Ok(t.clone()),
        OrRef::Ref(id) => library
            .get(id)
            .cloned()
            .ok_or_else(|| problem(path.to_owned(), format!("no library {what} named \"{id}\""))),
    }
}

fn page_test(m: &PageMatcher, path: &str) -> Result<PageTest, Vec<Problem>> {
    let (field, matcher) = m.split();
    let matcher =
        urlmatch::compile(field, &matcher).map_err(|msg| problem(path.to_owned(), msg))?;
    Ok(PageTest { field, matcher })
}

impl Compiler<'_> {
    fn tests(&self, list: &[PageMatcher], path: &str) -> Result<Vec<u32>, Vec<Problem>> {
        list.iter()
            .enumerate()
            .map(|(i, m)| {
                Ok(self
                    .page_tests
                    .intern(page_test(m, &format!("{path}[{i}]"))?))
            })
            .collect()
    }
}

fn creatives(set: &CreativeSet, engagement_style: Option<&Style>) -> CreativeProgram {
    let base = merge_style(engagement_style, set.style.as_ref());
    let one = |c: &Option<Creative>| c.as_ref().map(|c| creative(c, base.as_ref()));
    CreativeProgram {
        online: one(&set.online),
        busy: one(&set.busy),
        offline: one(&set.offline),
        content: one(&set.content),
    }
}

fn creative(c: &Creative, base: Option<&Style>) -> CompiledCreative {
    CompiledCreative {
        title: c.title.clone(),
        message: c.message.as_deref().map(html::sanitize).unwrap_or_default(),
        cta: c.cta.clone(),
        url: c.url.clone(),
        image_url: c.image_url.clone(),
        style: merge_style(base, c.style.as_ref()),
    }
}

/// Field by field, `over` wins.
fn merge_style(under: Option<&Style>, over: Option<&Style>) -> Option<Style> {
    match (under, over) {
        (None, None) => None,
        (Some(s), None) | (None, Some(s)) => Some(s.clone()),
        (Some(u), Some(o)) => Some(Style {
            background: o.background.clone().or_else(|| u.background.clone()),
            color: o.color.clone().or_else(|| u.color.clone()),
            accent: o.accent.clone().or_else(|| u.accent.clone()),
            radius: o.radius.clone().or_else(|| u.radius.clone()),
            offset_x: o.offset_x.clone().or_else(|| u.offset_x.clone()),
            offset_y: o.offset_y.clone().or_else(|| u.offset_y.clone()),
            width: o.width.clone().or_else(|| u.width.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::Node;
    use crate::schedule::parse_instant;

    const DOC: &str = r#"{
      "site": "acme", "timezone": "Europe/London",
      "business_hours": [{"days": ["mon","tue","wed","thu","fri"], "from": "09:00", "to": "17:30"}],
      "skills": [{"id": "sales"}],
      "library": {"audiences": {"uk": {"country": "GB"}},
                  "entry_points": {"shop": {"include": [{"url": {"pattern": "https://acme.example/shop/*"}}]}}},
      "campaigns": [
        {"id": "a", "audience": {"ref": "uk"}, "engagements": [
          {"id": "a-tab", "kind": "conversation", "format": "sticky", "skill": "sales",
           "entry_point": {"ref": "shop"},
           "creative": {"online": {"title": "Hi", "message": "<b>Hi</b><script>alert(1)</script><a href=\"javascript:alert(1)\">x</a>"}}}]},
        {"id": "b", "audience": {"country": "GB"},
         "timeframe": {"weekly": [{"days": ["sat"], "from": "10:00", "to": "12:00"}]},
         "engagements": [
          {"id": "b-ov", "kind": "conversation", "format": "overlay", "skill": "sales",
           "entry_point": {"include": [{"url": {"pattern": "https://acme.example/shop/*"}}]},
           "creative": {"online": {"title": "Hello"}}},
          {"id": "b-link", "kind": "conversation", "source": "offsite", "skill": "sales",
           "offsite": {"source": "email", "landing_url": "https://acme.example/help"},
           "creative": {"online": {"title": "Hello"}}}]}
      ]}"#;

    fn now() -> Millis {
        parse_instant("2026-11-20T10:00:00Z").unwrap_or(0)
    }

    #[test]
    fn same_document_same_bytes() {
        let a = compile_text(DOC, CompileOptions::at(now()))
            .map(|c| serde_json::to_vec(&c.bundle).ok());
        let b = compile_text(DOC, CompileOptions::at(now()))
            .map(|c| serde_json::to_vec(&c.bundle).ok());
        assert!(matches!(&a, Ok(Some(_))), "{a:?}");
        assert_eq!(a.ok(), b.ok());
    }

    #[test]
    fn resolves_sanitizes_and_shares() {
        let b = compile_text(DOC, CompileOptions::at(now()))
            .map(|c| c.bundle)
            .expect("compiles");
        // The library audience and the identical inline one share one table entry; so do the
        // library entry point and the identical inline page test.
        assert_eq!(b.audiences, vec![serde_json::json!({"country": "GB"})]);
        assert_eq!(b.page_tests.len(), 1);
        assert_eq!(b.campaigns[0].audience, Some(0));
        assert_eq!(b.campaigns[1].audience, Some(0));
        let tab = &b.campaigns[0].engagements[0];
        assert_eq!(tab.zone, Some(Zone::Right), "sticky defaults to the right");
        assert_eq!(tab.channel, Some(Channel::Chat));
        let msg = &tab
            .creative
            .online
            .as_ref()
            .expect("online creative")
            .message;
        let json = serde_json::to_string(msg).unwrap_or_default();
        assert!(
            !json.contains("script") && !json.contains("javascript"),
            "{json}"
        );
        assert!(matches!(&msg[0], Node::Element { c, .. } if c == &vec![Node::Text("Hi".into())]));
        let ov = &b.campaigns[1].engagements[0];
        assert_eq!(ov.zone, Some(Zone::Proactive));
        let link = &b.campaigns[1].engagements[1];
        assert_eq!((link.zone.as_ref(), link.format), (None, None));
        assert!(link.offsite.is_some());
    }

    #[test]
    fn weekly_schedules_are_utc_intervals_within_the_horizon() {
        let b = compile_text(DOC, CompileOptions::at(now()))
            .map(|c| c.bundle)
            .expect("compiles");
        assert_eq!(b.valid_until, now() + 35 * DAY_MS);
        let s = &b.campaigns[1].schedule;
        // Saturday 21 November 2026, 10:00–12:00 London (GMT).
        assert!(s.contains(parse_instant("2026-11-21T10:30:00Z").unwrap_or(0)));
        assert!(!s.contains(parse_instant("2026-11-21T12:00:00Z").unwrap_or(0)));
        assert!(s.0.iter().all(|iv| iv[1] <= b.valid_until));
        assert_eq!(b.campaigns[0].schedule, Schedule::always());
        let hours = b.business_hours.as_ref().expect("business hours");
        assert!(hours.contains(parse_instant("2026-11-20T10:00:00Z").unwrap_or(0)));
    }

    #[test]
    fn invalid_documents_do_not_compile() {
        let bad = DOC.replace("\"ref\": \"shop\"", "\"ref\": \"shopp\"");
        let errors = compile_text(&bad, CompileOptions::at(now()))
            .err()
            .unwrap_or_default();
        assert!(
            errors.iter().any(|p| p
                .path
                .starts_with("campaigns[0].engagements[0].entry_point")),
            "{errors:?}"
        );
    }
}
