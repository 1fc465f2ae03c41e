//! The BM25 index: for each term, the ids of the records holding it with their term counts,
//! sorted by id; each record's length in terms. Keyed by record id (stable across compaction
//! and the Flat index's row swaps), so the collection only tells it which texts come and go.
//!
//! Score (Lucene's BM25): for each distinct query term t in a record,
//! `idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))`, with
//! `idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`.

use std::collections::{BinaryHeap, HashMap};

use super::TextConfig;
use super::analyzer::Analyzer;

/// A record id and its term count in one posting list.
type Posting = (u64, u32);

/// The keyword index of one collection.
#[derive(Debug)]
pub(crate) struct TextIndex {
    analyzer: Analyzer,
    k1: f32,
    b: f32,
    postings: HashMap<Box<str>, Vec<Posting>>,
    /// Terms per indexed record.
    lengths: HashMap<u64, u32>,
    total_terms: u64,
}

impl TextIndex {
    /// An empty index analysing and scoring as `config` says.
    pub(crate) fn new(config: &TextConfig) -> Self {
        Self {
            analyzer: Analyzer::new(config),
            k1: config.k1,
            b: config.b,
            postings: HashMap::new(),
            lengths: HashMap::new(),
            total_terms: 0,
        }
    }

    /// Indexes record `id`'s text (its previous text must have been removed first).
    pub(crate) fn add(&mut self, id: u64, text: &str) {
        let counts = self.counts(text);
        if counts.is_empty() {
            return;
        }
        let len: u32 = counts.values().sum();
        for (term, tf) in counts {
            let list = self.postings.entry(term.into_boxed_str()).or_default();
            // Ids mostly arrive in increasing order: appending is the common case.
            match list.last() {
                Some(&(last, _)) if last >= id => {
                    let at = list.partition_point(|&(i, _)| i < id);
                    list.insert(at, (id, tf));
                }
                _ => list.push((id, tf)),
            }
        }
        self.lengths.insert(id, len);
        self.total_terms += u64::from(len);
    }

    /// Removes record `id`, whose indexed text was `text`.
    pub(crate) fn remove(&mut self, id: u64, text: &str) {
        let Some(len) = self.lengths.remove(&id) else { return };
        self.total_terms -= u64::from(len);
        for term in self.counts(text).into_keys() {
            if let Some(list) = self.postings.get_mut(term.as_str()) {
                if let Ok(at) = list.binary_search_by_key(&id, |&(i, _)| i) {
                    list.remove(at);
                }
                if list.is_empty() {
                    self.postings.remove(term.as_str());
                }
            }
        }
    }

    /// Indexed records.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lengths.len()
    }

    /// The best `k` records for `query` among those `accept` lets through, best first (ties
    /// by id), with their BM25 scores.
    pub(crate) fn search(&self, query: &str, k: usize, accept: impl Fn(u64) -> bool) -> Vec<(u64, f32)> {
        let n = self.lengths.len() as f32;
        if n == 0.0 || k == 0 {
            return Vec::new();
        }
        let avg_len = self.total_terms as f32 / n;
        let mut scores: HashMap<u64, f32> = HashMap::new();
        for term in self.counts(query).into_keys() {
            let Some(list) = self.postings.get(term.as_str()) else { continue };
            let df = list.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(id, tf) in list {
                let len = self.lengths.get(&id).copied().unwrap_or(0) as f32;
                let tf = tf as f32;
                let norm = self.k1 * (1.0 - self.b + self.b * len / avg_len);
                *scores.entry(id).or_insert(0.0) += idf * tf * (self.k1 + 1.0) / (tf + norm);
            }
        }
        // Keep the best k passing `accept` in a min-heap on (score, reversed id).
        let mut heap: BinaryHeap<std::cmp::Reverse<(Ordered, std::cmp::Reverse<u64>)>> = BinaryHeap::new();
        for (id, score) in scores {
            let entry = std::cmp::Reverse((Ordered(score), std::cmp::Reverse(id)));
            if heap.len() == k && heap.peek().is_some_and(|top| *top <= entry) {
                continue;
            }
            if !accept(id) {
                continue;
            }
            heap.push(entry);
            if heap.len() > k {
                heap.pop();
            }
        }
        let mut out: Vec<(u64, f32)> = heap.into_iter().map(|std::cmp::Reverse((s, i))| (i.0, s.0)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Approximate heap bytes.
    pub(crate) fn memory_bytes(&self) -> usize {
        let postings: usize = self.postings.iter().map(|(t, l)| t.len() + 48 + l.capacity() * 16).sum();
        postings + self.lengths.capacity() * 24
    }

    /// Term counts of `text`.
    fn counts(&self, text: &str) -> HashMap<String, u32> {
        let mut counts = HashMap::new();
        for term in self.analyzer.terms(text) {
            *counts.entry(term).or_insert(0) += 1;
        }
        counts
    }
}

/// An f32 ordered by `total_cmp`, for the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ordered(f32);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(texts: &[&str]) -> TextIndex {
        let mut i = TextIndex::new(&TextConfig::default());
        for (id, t) in texts.iter().enumerate() {
            i.add(id as u64, t);
        }
        i
    }

    /// BM25 by hand: three documents, k1 = 1.2, b = 0.75.
    /// d0 "cat cat dog" (len 3), d1 "dog" (len 1), d2 "bird fish bird fish" (len 4); avg 8/3.
    /// "cat": df 1, idf = ln(1 + 2.5/1.5) = ln(8/3) = 0.980829; in d0 tf 2:
    ///   norm = 1.2 * (0.25 + 0.75 * 3 / (8/3)) = 1.2 * 1.09375 = 1.3125
    ///   score = 0.980829 * 2 * 2.2 / (2 + 1.3125) = 1.302838.
    /// "dog": df 2, idf = ln(1 + 1.5/2.5) = ln(1.6) = 0.470004;
    ///   d0: tf 1, norm 1.3125 -> 0.470004 * 2.2 / 2.3125 = 0.447139
    ///   d1: tf 1, norm = 1.2 * (0.25 + 0.75 / (8/3)) = 0.6375 -> 0.470004 * 2.2 / 1.6375 = 0.631455.
    #[test]
    fn scores_match_a_hand_computed_example() {
        let i = index(&["cat cat dog", "dog", "bird fish bird fish"]);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-4;
        let cat = i.search("cat", 10, |_| true);
        assert_eq!(cat.len(), 1);
        assert!(cat[0].0 == 0 && close(cat[0].1, 1.302838), "{cat:?}");
        let dog = i.search("dog", 10, |_| true);
        assert_eq!(dog.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 0], "the shorter document first");
        assert!(close(dog[0].1, 0.631455) && close(dog[1].1, 0.447139), "{dog:?}");
        let both = i.search("cat dog", 10, |_| true);
        assert!(both[0].0 == 0 && close(both[0].1, 1.302838 + 0.447139), "{both:?}");
        assert!(i.search("cat cat cat", 10, |_| true)[0].1 == cat[0].1, "query terms count once");
    }

    #[test]
    fn removal_undoes_addition_and_filters_keep_k() {
        let mut i = index(&["alpha beta", "beta gamma", "gamma delta", "beta"]);
        let before = i.search("beta", 10, |_| true);
        i.add(9, "beta beta zeta");
        i.remove(9, "beta beta zeta");
        assert_eq!(i.search("beta", 10, |_| true), before);
        assert!(i.search("zeta", 10, |_| true).is_empty());
        i.remove(1, "beta gamma");
        assert_eq!(i.len(), 3);
        assert_eq!(i.search("gamma", 10, |_| true).iter().map(|h| h.0).collect::<Vec<_>>(), [2]);
        // A filter passing only id 3 still yields it, even with k = 1.
        assert_eq!(i.search("beta", 1, |id| id == 3).iter().map(|h| h.0).collect::<Vec<_>>(), [3]);
        // Out-of-order ids keep the posting lists sorted.
        i.add(1, "beta");
        assert_eq!(i.search("beta", 10, |_| true).len(), 3);
        i.remove(1, "beta");
        assert_eq!(i.search("beta", 10, |_| true).len(), 2);
    }
}
