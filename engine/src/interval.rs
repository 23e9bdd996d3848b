//! Sorted UTC intervals: compiled timeframes and business hours.

use crate::Millis;
use serde::{Deserialize, Serialize};

/// "Forever" for interval ends: the largest instant a JavaScript `Date` holds, so bundles survive
/// a round trip through JS numbers exactly.
pub const FOREVER: Millis = 8_640_000_000_000_000;

/// Sorted, disjoint, half-open `[start, end)` UTC intervals. An end of [`FOREVER`] never comes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schedule(pub Vec<[Millis; 2]>);

impl Schedule {
    pub fn always() -> Self {
        Schedule(vec![[-FOREVER, FOREVER]])
    }

    /// Whether this is [`Schedule::always`] (the bundle leaves such a schedule out).
    pub fn is_always(&self) -> bool {
        self.0 == [[-FOREVER, FOREVER]]
    }

    pub fn contains(&self, t: Millis) -> bool {
        self.current_end(t).is_some()
    }

    /// The end of the interval containing `t`, if one does. `checked_sub` and `get`: no panic
    /// paths in the browser build.
    fn current_end(&self, t: Millis) -> Option<Millis> {
        // Index of the first interval starting after t; the one before it may contain t.
        let i = self.0.partition_point(|iv| iv[0] <= t);
        let [_, end] = *self.0.get(i.checked_sub(1)?)?;
        (t < end).then_some(end)
    }

    /// The first instant after `t` at which `contains` changes, if any.
    pub fn next_change(&self, t: Millis) -> Option<Millis> {
        if let Some(end) = self.current_end(t) {
            return (end < FOREVER).then_some(end);
        }
        let i = self.0.partition_point(|iv| iv[0] <= t);
        self.0.get(i).map(|iv| iv[0])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_contains_and_next_change() {
        let s = Schedule(vec![[10, 20], [30, 40]]);
        assert!(!s.contains(9));
        assert!(s.contains(10));
        assert!(s.contains(19));
        assert!(!s.contains(20));
        assert!(s.contains(35));
        assert!(!s.contains(40));
        assert_eq!(s.next_change(5), Some(10));
        assert_eq!(s.next_change(10), Some(20));
        assert_eq!(s.next_change(25), Some(30));
        assert_eq!(s.next_change(45), None);
        assert!(Schedule::always().contains(0));
        assert_eq!(Schedule::always().next_change(0), None);
        assert!(!Schedule::default().contains(0));
    }
}
