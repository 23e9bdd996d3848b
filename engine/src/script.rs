//! Visit scripts: a visitor, a start instant and a list of steps, run through the engine.
//!
//! The server's simulate endpoint, the scenario tests and the browser tests all replay scripts in
//! this one format (SPEC §6, `POST /admin/v1/sites/{site}/simulate`).

use crate::availability::Availability;
use crate::bundle::Bundle;
use crate::regexp::RegexEngine;
use crate::schedule::{format_instant, parse_instant};
use crate::visit::{
    Context, Device, Event, Goal, Input, Outcome, PageView, Profile, Shown, TraceEntry, Visit,
};
use crate::Millis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest `wait` a step may ask for: a week.
pub const MAX_WAIT_SECONDS: u64 = 7 * 86_400;
/// Most steps in one script.
pub const MAX_STEPS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub visitor: ScriptVisitor,
    /// RFC 3339 start instant.
    pub now: String,
    #[serde(default)]
    pub availability: Availability,
    pub steps: Vec<Step>,
    /// A draft document to run instead of the active one (the server reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaigns: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptVisitor {
    pub id: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    #[serde(default)]
    pub device: Device,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// A returning visitor starts on their second visit (or `visits` + 1 when given).
    #[serde(default)]
    pub returning: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Page(PageView),
    /// Seconds of time passing; timers that fall due meanwhile fire at their instants.
    Wait(u64),
    Accept(String),
    Decline(String),
    Attributes(Map<String, Value>),
    Availability(Availability),
    Goal(Goal),
    Scroll(u32),
    ExitIntent(bool),
    Activity(bool),
    Elements(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub at: String,
    pub shown: Vec<Shown>,
    pub events: Vec<Event>,
    pub trace: Vec<TraceEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_wake: Option<String>,
}

/// Runs `script` over `bundle`. Errors name the step and the problem.
pub fn run(
    bundle: &Bundle,
    script: &Script,
    regex: &dyn RegexEngine,
) -> Result<Vec<StepResult>, String> {
    if script.steps.len() > MAX_STEPS {
        return Err(format!("steps: at most {MAX_STEPS} steps"));
    }
    let mut now = parse_instant(&script.now).map_err(|m| format!("now: {m}"))?;
    let v = &script.visitor;
    let profile = Profile {
        id: v.id.clone(),
        device: v.device,
        language: v.language.clone(),
        country: v.country.clone(),
    };
    let previous = v.visits.unwrap_or(u32::from(v.returning));
    let mut visit = Visit::returning(profile, previous);
    visit.set_availability(script.availability.clone());
    let ctx = Context { bundle, regex };
    if !v.attributes.is_empty() {
        visit.apply(&ctx, now, Input::Attributes(v.attributes.clone()), false);
    }
    let mut results = Vec::with_capacity(script.steps.len());
    let mut next_wake: Option<Millis> = None;
    for (i, step) in script.steps.iter().enumerate() {
        let mut events = Vec::new();
        let input = match step {
            Step::Wait(secs) => {
                if *secs > MAX_WAIT_SECONDS {
                    return Err(format!(
                        "steps[{i}].wait: at most {MAX_WAIT_SECONDS} seconds"
                    ));
                }
                let target = now + (*secs as i64) * 1000;
                // Fire every timer that falls due on the way, as the runtime would.
                let mut fired = 0;
                while let Some(w) = next_wake.filter(|&w| w > now && w <= target) {
                    if fired >= 10_000 {
                        break;
                    }
                    fired += 1;
                    now = w;
                    let out = visit.apply(&ctx, now, Input::Tick, false);
                    events.extend(out.events);
                    next_wake = out.next_wake;
                }
                now = target;
                Input::Tick
            }
            Step::Page(p) => Input::Page(p.clone()),
            Step::Accept(id) => Input::Accept(id.clone()),
            Step::Decline(id) => Input::Decline(id.clone()),
            Step::Attributes(a) => Input::Attributes(a.clone()),
            Step::Availability(a) => Input::Availability(a.clone()),
            Step::Goal(g) => Input::Goal(g.clone()),
            Step::Scroll(p) => Input::Scroll(*p),
            Step::ExitIntent(true) => Input::ExitIntent,
            Step::ExitIntent(false) | Step::Activity(false) => Input::Tick,
            Step::Activity(true) => Input::Activity,
            Step::Elements(e) => Input::Elements(e.clone()),
        };
        let Outcome {
            shown,
            events: more,
            next_wake: wake,
            trace,
            ..
        } = visit.apply(&ctx, now, input, true);
        events.extend(more);
        next_wake = wake;
        results.push(StepResult {
            at: format_instant(now),
            shown,
            events,
            trace,
            next_wake: wake.map(format_instant),
        });
    }
    Ok(results)
}
