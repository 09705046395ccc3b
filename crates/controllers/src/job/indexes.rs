//! Indexes of an Indexed Job as upstream writes them in
//! `status.completedIndexes` and `status.failedIndexes`: ordered, merged
//! ranges like `1,3-5,7` (a range of two is written `1,2`).

use std::collections::BTreeSet;

/// A set of completion indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indexes(BTreeSet<u32>);

impl Indexes {
    /// Parses `1,3-5`, keeping the indexes below `completions` and skipping
    /// anything unreadable, as upstream's parseIndexesFromString.
    pub fn parse(text: &str, completions: u32) -> Indexes {
        let mut set = BTreeSet::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<u32>(), b.parse::<u32>()),
                None => (part.parse::<u32>(), part.parse::<u32>()),
            };
            let (Ok(first), Ok(last)) = (first, last) else {
                continue;
            };
            set.extend((first..=last.min(completions.saturating_sub(1))).take(100_000));
        }
        Indexes(set)
    }

    pub fn insert(&mut self, index: u32) {
        self.0.insert(index);
    }

    pub fn contains(&self, index: u32) -> bool {
        self.0.contains(&index)
    }

    pub fn total(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }

    /// The indexes in either set.
    pub fn union(&self, other: &Indexes) -> Indexes {
        Indexes(self.0.union(&other.0).copied().collect())
    }

    /// How many of `self` are also in `other`.
    pub fn count_in(&self, other: &Indexes) -> usize {
        self.0.intersection(&other.0).count()
    }

    /// The first `count` indexes below `completions` that are neither
    /// succeeded nor in `taken` (upstream's firstPendingIndexes).
    pub fn first_pending(&self, taken: &BTreeSet<u32>, count: usize, completions: u32) -> Vec<u32> {
        (0..completions)
            .filter(|ix| !self.0.contains(ix) && !taken.contains(ix))
            .take(count)
            .collect()
    }
}

impl std::fmt::Display for Indexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for &ix in &self.0 {
            match ranges.last_mut() {
                Some((_, last)) if *last + 1 == ix => *last = ix,
                _ => ranges.push((ix, ix)),
            }
        }
        let parts: Vec<String> = ranges
            .into_iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else if a + 1 == b {
                    format!("{a},{b}")
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_merged_ranges() {
        let mut set = Indexes::parse("1,3-4", 10);
        set.insert(5);
        set.insert(0);
        set.insert(8);
        assert_eq!(set.to_string(), "0,1,3-5,8");
        assert_eq!(set.total(), 6);
        assert_eq!(Indexes::parse("0-9", 3).to_string(), "0-2");
        assert_eq!(Indexes::parse("x,2", 3).to_string(), "2");
        let other = Indexes::parse("4-9", 10);
        assert_eq!(set.union(&other).to_string(), "0,1,3-9");
        assert_eq!(set.count_in(&other), 3);
    }

    #[test]
    fn pending_indexes_skip_done_and_running() {
        let done = Indexes::parse("0,2", 6);
        let running = BTreeSet::from([1]);
        assert_eq!(done.first_pending(&running, 2, 6), vec![3, 4]);
        assert_eq!(done.first_pending(&running, 9, 4), vec![3]);
    }
}
