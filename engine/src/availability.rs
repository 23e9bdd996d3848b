//! Agent availability and the state it gives an engagement (SPEC §4 rule 5).

use crate::bundle::{Bundle, BundleEngagement};
use crate::model::default_max_wait;
use serde::{Deserialize, Serialize};

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

/// Every skill's availability, by skill id (sorted, one entry per skill). A skill the feed never
/// mentioned is offline.
///
/// A small sorted vector rather than a `BTreeMap`: a site has a handful of skills, and the
/// browser build would otherwise carry a second copy of the B-tree code (`serde_json::Map` has
/// one already). Serialized as a JSON object, like the map it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Availability(Vec<(String, SkillAvailability)>);

impl Availability {
    pub fn new() -> Self {
        Availability(Vec::new())
    }

    fn find(&self, skill: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(skill))
    }

    pub fn get(&self, skill: &str) -> Option<&SkillAvailability> {
        self.find(skill)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, a)| a)
    }

    /// Sets `skill`'s numbers, answering the ones they replace.
    pub fn insert(&mut self, skill: String, a: SkillAvailability) -> Option<SkillAvailability> {
        match self.find(&skill) {
            Ok(i) => self.0.get_mut(i).map(|(_, old)| std::mem::replace(old, a)),
            Err(i) => {
                self.0.insert(i, (skill, a));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(skill, numbers)` in skill order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &SkillAvailability)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &SkillAvailability> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<'a> IntoIterator for &'a Availability {
    type Item = (&'a String, &'a SkillAvailability);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, SkillAvailability)>,
        fn(&'a (String, SkillAvailability)) -> (&'a String, &'a SkillAvailability),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Availability {
    type Item = (String, SkillAvailability);
    type IntoIter = std::vec::IntoIter<(String, SkillAvailability)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(String, SkillAvailability)> for Availability {
    fn from_iter<I: IntoIterator<Item = (String, SkillAvailability)>>(iter: I) -> Self {
        let mut a = Availability::new();
        a.extend(iter);
        a
    }
}

impl Extend<(String, SkillAvailability)> for Availability {
    fn extend<I: IntoIterator<Item = (String, SkillAvailability)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<const N: usize> From<[(String, SkillAvailability); N]> for Availability {
    fn from(items: [(String, SkillAvailability); N]) -> Self {
        items.into_iter().collect()
    }
}

impl Serialize for Availability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Availability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Skills;
        impl<'de> serde::de::Visitor<'de> for Skills {
            type Value = Availability;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of skills")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Availability, M::Error> {
                let mut a = Availability::new();
                while let Some((k, v)) = m.next_entry::<String, SkillAvailability>()? {
                    a.insert(k, v);
                }
                Ok(a)
            }
        }
        d.deserialize_map(Skills)
    }
}

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
    fn serializes_as_a_sorted_json_object() {
        let mut av = Availability::new();
        av.insert("sales".into(), a(2, 1, 30));
        av.insert("after".into(), a(1, 0, 0));
        assert_eq!(av.insert("sales".into(), a(3, 1, 30)), Some(a(2, 1, 30)));
        let text = serde_json::to_string(&av).unwrap();
        assert!(
            text.starts_with(r#"{"after":{"agents_online":1,"#),
            "{text}"
        );
        let back: Availability = serde_json::from_str(&text).unwrap();
        assert_eq!(back, av);
        let dup: Availability =
            serde_json::from_str(r#"{"b":{"agents_online":1},"a":{},"b":{"agents_online":2}}"#)
                .unwrap();
        assert_eq!(dup.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(dup.get("b").map(|s| s.agents_online), Some(2));
        assert!(serde_json::from_str::<Availability>("[]").is_err());
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
