//! Replays every scenario file in `tests/scenarios/`: a campaign document, a visit script in the
//! simulate endpoint's format, and what must be displayed (and optionally rejected and reported)
//! after each step. Together the files cover every rule of SPEC §4; this test fails if one is
//! missing a scenario.

use engage_engine::compile::{compile, CompileOptions};
use engage_engine::model::Document;
use engage_engine::regexp::NativeRegex;
use engage_engine::schedule::parse_instant;
use engage_engine::script::{run, Script, StepResult};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    /// The rules (trace reasons or SPEC §4 rule names) this scenario exercises.
    covers: Vec<String>,
    #[serde(default)]
    description: String,
    document: Document,
    script: Script,
    expect: Vec<Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// Exactly these are displayed, as `engagement@zone:state`.
    shown: Vec<String>,
    /// Engagement id → the reason it was rejected.
    #[serde(default)]
    rejected: BTreeMap<String, String>,
    /// Exactly these events, as `type:engagement` (or `goal:name`), in any order.
    #[serde(default)]
    events: Option<Vec<String>>,
    /// A fragment of a rejected engagement's detail text.
    #[serde(default)]
    detail: BTreeMap<String, String>,
}

/// Every reason the trace can give and the other rules of SPEC §4.
const MUST_COVER: &[&str] = &[
    "disabled",
    "timeframe",
    "business_hours",
    "control_group",
    "audience",
    "entry_point",
    "behavior",
    "declined",
    "display_cap",
    "after_decline",
    "availability",
    "zone_taken",
    "no_zone_element",
    "offsite",
    "accepted",
    "priority",
    "tie_break",
    "zone_kept",
    "button_refresh",
    "visit_idle",
    "messaging",
    "max_wait",
    "ignore_max_wait",
    "site_control",
    "special_occasions",
    "next_wake",
    "library",
];

pub fn scenario_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn shown_keys(r: &StepResult) -> BTreeSet<String> {
    r.shown
        .iter()
        .map(|s| format!("{}@{}:{}", s.engagement, s.zone, s.state.as_str()))
        .collect()
}

fn event_keys(r: &StepResult) -> Vec<String> {
    let mut v: Vec<String> = r
        .events
        .iter()
        .map(|e| {
            let kind = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let what = e
                .engagement
                .clone()
                .or_else(|| e.name.clone())
                .unwrap_or_default();
            format!("{kind}:{what}")
        })
        .collect();
    v.sort();
    v
}

fn check(path: &Path, failures: &mut Vec<String>, covered: &mut BTreeSet<String>) {
    let text = std::fs::read_to_string(path).expect("readable");
    let sc: Scenario = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => return failures.push(format!("{}: unreadable scenario: {e}", path.display())),
    };
    covered.extend(sc.covers.iter().cloned());
    let now = parse_instant(&sc.script.now).expect("script.now");
    let compiled = match compile(&sc.document, CompileOptions::at(now)) {
        Ok(c) => c,
        Err(p) => return failures.push(format!("{}: document does not compile: {p:?}", sc.name)),
    };
    let results = match run(&compiled.bundle, &sc.script, &NativeRegex::new()) {
        Ok(r) => r,
        Err(e) => return failures.push(format!("{}: script error: {e}", sc.name)),
    };
    if results.len() != sc.expect.len() {
        failures.push(format!(
            "{}: {} steps but {} expectations",
            sc.name,
            results.len(),
            sc.expect.len()
        ));
    }
    for (i, (r, x)) in results.iter().zip(&sc.expect).enumerate() {
        let at = format!("{} step {i} ({})", sc.name, r.at);
        let want: BTreeSet<String> = x.shown.iter().cloned().collect();
        let have = shown_keys(r);
        if want != have {
            failures.push(format!(
                "{at}: shown {have:?}, expected {want:?}\n  trace: {:?}",
                r.trace
                    .iter()
                    .map(|t| (&t.engagement, t.reason.map(|r| r.as_str()), &t.detail))
                    .collect::<Vec<_>>()
            ));
        }
        for (eng, reason) in &x.rejected {
            let got = r
                .trace
                .iter()
                .find(|t| *t.engagement == **eng)
                .and_then(|t| t.reason.map(|r| r.as_str()));
            if got != Some(reason.as_str()) {
                failures.push(format!(
                    "{at}: {eng} rejected for {got:?}, expected {reason}"
                ));
            }
        }
        for (eng, fragment) in &x.detail {
            let got = r
                .trace
                .iter()
                .find(|t| *t.engagement == **eng)
                .and_then(|t| t.detail.clone())
                .unwrap_or_default();
            if !got.contains(fragment.as_str()) {
                failures.push(format!("{at}: {eng} detail {got:?} lacks {fragment:?}"));
            }
        }
        if let Some(events) = &x.events {
            let mut want = events.clone();
            want.sort();
            let have = event_keys(r);
            if want != have {
                failures.push(format!("{at}: events {have:?}, expected {want:?}"));
            }
        }
    }
    let _ = sc.description;
}

#[test]
fn every_scenario_replays_as_expected() {
    let files = scenario_files();
    assert!(
        files.len() >= 10,
        "expected the scenario files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for f in &files {
        check(f, &mut failures, &mut covered);
    }
    let missing: Vec<_> = MUST_COVER
        .iter()
        .filter(|r| !covered.contains(**r))
        .collect();
    assert!(missing.is_empty(), "rules without a scenario: {missing:?}");
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{} scenarios replayed", files.len());
}
