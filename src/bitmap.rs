//! A fixed-size set of rows as bits: what a filter turns into once per query, so that an index
//! answers "may this slot be returned?" with one bit test and a scan visits only the matches.

/// Rows `0..len()` as one bit each (12.5 KB per 100,000 rows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    len: usize,
}

impl Bitmap {
    /// An empty set over rows `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        Self { words: vec![0; len.div_ceil(64)], len }
    }

    /// The set whose 64-row word `w` is `word(w)`, for `w` in `0..len.div_ceil(64)` (bits past
    /// `len` are cleared).
    pub(crate) fn from_words(len: usize, word: impl FnMut(usize) -> u64) -> Self {
        let mut words: Vec<u64> = (0..len.div_ceil(64)).map(word).collect();
        if let Some(last) = words.last_mut()
            && !len.is_multiple_of(64)
        {
            *last &= (1u64 << (len % 64)) - 1;
        }
        Self { words, len }
    }

    /// Rows covered, set or not.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    #[inline(always)]
    pub(crate) fn contains(&self, row: usize) -> bool {
        self.words.get(row / 64).is_some_and(|w| w >> (row % 64) & 1 == 1)
    }

    #[inline]
    pub(crate) fn insert(&mut self, row: usize) {
        self.words[row / 64] |= 1 << (row % 64);
    }

    #[cfg(test)]
    pub(crate) fn remove(&mut self, row: usize) {
        self.words[row / 64] &= !(1 << (row % 64));
    }

    /// Keeps only the set rows for which `keep` is true.
    pub(crate) fn retain(&mut self, keep: impl Fn(usize) -> bool) {
        for (w, word) in self.words.iter_mut().enumerate() {
            let mut rest = *word;
            while rest != 0 {
                let b = rest.trailing_zeros();
                rest &= rest - 1;
                if !keep(w * 64 + b as usize) {
                    *word &= !(1 << b);
                }
            }
        }
    }

    /// Rows in the set.
    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The set rows, ascending, consuming the set.
    pub(crate) fn into_rows(self) -> impl Iterator<Item = usize> {
        self.words.into_iter().enumerate().flat_map(|(w, word)| BitsOf(word).map(move |b| w * 64 + b))
    }

    /// The set rows of words `words` (rows `64 * words.start..64 * words.end`), ascending.
    pub(crate) fn iter_words(&self, words: std::ops::Range<usize>) -> impl Iterator<Item = usize> + '_ {
        let start = words.start;
        self.words[words].iter().enumerate().flat_map(move |(i, &w)| {
            let base = (start + i) * 64;
            BitsOf(w).map(move |b| base + b)
        })
    }

    /// The first set row at or after `row`.
    pub(crate) fn next_at_or_after(&self, row: usize) -> Option<usize> {
        let first = row / 64;
        let head = self.words.get(first)? & (u64::MAX << (row % 64));
        if head != 0 {
            return Some(first * 64 + head.trailing_zeros() as usize);
        }
        self.words[first + 1..]
            .iter()
            .position(|&w| w != 0)
            .map(|i| (first + 1 + i) * 64 + self.words[first + 1 + i].trailing_zeros() as usize)
    }
}

/// The set bit positions of one word, ascending.
struct BitsOf(u64);

impl Iterator for BitsOf {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let b = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn agrees_with_a_set_of_rows() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut checked = 0;
        for len in [0usize, 1, 63, 64, 65, 200, 1000] {
            let mut bits = Bitmap::new(len);
            let mut truth = std::collections::BTreeSet::new();
            for _ in 0..len {
                let row = rng.random_range(0..len);
                if rng.random_bool(0.7) {
                    bits.insert(row);
                    truth.insert(row);
                } else {
                    bits.remove(row);
                    truth.remove(&row);
                }
            }
            if len > 0 {
                bits.retain(|r| r % 3 != 0);
                truth.retain(|r| r % 3 != 0);
            }
            assert_eq!(bits.count(), truth.len());
            assert_eq!(
                bits.clone().into_rows().collect::<Vec<_>>(),
                truth.iter().copied().collect::<Vec<_>>()
            );
            for row in 0..len + 70 {
                assert_eq!(bits.contains(row), truth.contains(&row), "row {row} of {len}");
                let next = truth.range(row..).next().copied();
                assert_eq!(bits.next_at_or_after(row), next, "next from {row} of {len}");
                checked += 1;
            }
        }
        assert!(checked > 1_500);
    }

    #[test]
    fn from_words_clears_bits_past_the_end() {
        let bits = Bitmap::from_words(70, |_| u64::MAX);
        assert_eq!(bits.count(), 70);
        assert!(!bits.contains(70));
        assert_eq!(bits.iter_words(1..2).collect::<Vec<_>>(), (64..70).collect::<Vec<_>>());
    }
}
