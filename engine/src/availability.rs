//! Agent availability and the state it gives an engagement (SPEC §4 rule 5).

use crate::bundle::{Bundle, BundleEngagement};
use crate::model::default_max_wait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state an engagement is displayed in (`data-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Online,
    Busy,
    Offline,
    Content,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Online => "online",
            State::Busy => "busy",
            State::Offline => "offline",
            State::Content => "content",
        }
    }
}

/// One skill's live numbers, as the agent system feeds them. Missing fields read as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillAvailability {
    #[serde(default)]
    pub agents_online: u32,
    #[serde(default)]
    pub agents_with_capacity: u32,
    #[serde(default)]
    pub expected_wait_seconds: u32,
}

impl SkillAvailability {
    /// offline: nobody online; busy: nobody with capacity, or the wait is over `max_wait`
    /// (unless `ignore_max_wait`); else online.
    pub fn state(&self, max_wait_seconds: u32, ignore_max_wait: bool) -> State {
        if self.agents_online == 0 {
            State::Offline
        } else if ignore_max_wait {
            State::Online
        } else if self.agents_with_capacity == 0 || self.expected_wait_seconds > max_wait_seconds {
            State::Busy
        } else {
            State::Online
        }
    }
}

/// Every skill's availability. A skill the feed never mentioned is offline.
pub type Availability = BTreeMap<String, SkillAvailability>;

/// The state an engagement would be shown in now: `content` for content engagements, else from
/// its skill's availability (or all skills' when it names none). Messaging engagements get the
/// agents' state too, though it never keeps them off the page.
pub fn engagement_state(
    bundle: &Bundle,
    e: &BundleEngagement,
    availability: &Availability,
) -> State {
    if e.kind == crate::model::Kind::Content {
        return State::Content;
    }
    match &e.skill {
        Some(skill) => {
            let max_wait = bundle
                .skills
                .iter()
                .find(|s| &s.id == skill)
                .map_or(default_max_wait(), |s| s.max_wait_seconds);
            availability
                .get(skill)
                .copied()
                .unwrap_or_default()
                .state(max_wait, e.ignore_max_wait)
        }
        None => site_state(availability, e.ignore_max_wait),
    }
}

/// No skill named: the best state over all skills, with a max wait of 120 s.
fn site_state(availability: &Availability, ignore_max_wait: bool) -> State {
    availability
        .values()
        .map(|a| a.state(default_max_wait(), ignore_max_wait))
        .min() // Online < Busy < Offline
        .unwrap_or(State::Offline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(online: u32, cap: u32, wait: u32) -> SkillAvailability {
        SkillAvailability {
            agents_online: online,
            agents_with_capacity: cap,
            expected_wait_seconds: wait,
        }
    }

    #[test]
    fn states() {
        assert_eq!(a(0, 0, 0).state(120, false), State::Offline);
        assert_eq!(a(0, 0, 0).state(120, true), State::Offline);
        assert_eq!(a(2, 0, 10).state(120, false), State::Busy);
        assert_eq!(a(2, 1, 121).state(120, false), State::Busy);
        assert_eq!(a(2, 1, 120).state(120, false), State::Online);
        assert_eq!(a(2, 0, 999).state(120, true), State::Online);
    }

    #[test]
    fn no_skill_takes_the_best_over_all_skills() {
        let mut av = Availability::new();
        assert_eq!(site_state(&av, false), State::Offline);
        av.insert("a".into(), a(1, 0, 0));
        assert_eq!(site_state(&av, false), State::Busy);
        av.insert("b".into(), a(1, 1, 30));
        assert_eq!(site_state(&av, false), State::Online);
        av.insert("b".into(), a(1, 1, 130));
        assert_eq!(site_state(&av, false), State::Busy);
    }
}
