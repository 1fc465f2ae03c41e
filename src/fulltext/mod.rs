//! Full-text search over record text: an [`analyzer`] that turns text into terms, and a BM25
//! [`index`] of those terms by record id. The collection keeps one index per collection,
//! updated by the same `apply` that changes its records, and rebuilds it from the records' text
//! when it loads (see docs/FORMAT.md: nothing of it is stored).

pub(crate) mod analyzer;
pub(crate) mod index;

use serde::{Deserialize, Serialize};

/// How a collection analyses and scores text for keyword search; chosen at creation.
///
/// The default is language-neutral: Unicode words, lowercased, no stemming, no stop words,
/// and BM25 with `k1 = 1.2`, `b = 0.75`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    /// Reduce English words to their stems (Snowball), so "running" finds "runs".
    pub stemming: bool,
    /// Leave out common English words ("the", "and", "of" ...).
    pub stop_words: bool,
    /// BM25 term-frequency saturation, 0 to 10.
    pub k1: f32,
    /// BM25 length normalisation, 0 to 1.
    pub b: f32,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self { stemming: false, stop_words: false, k1: 1.2, b: 0.75 }
    }
}

// Validated configs hold no NaN, so equality is an equivalence and bits hash consistently.
impl Eq for TextConfig {}

impl std::hash::Hash for TextConfig {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.stemming, self.stop_words, self.k1.to_bits(), self.b.to_bits()).hash(state);
    }
}

impl TextConfig {
    /// True for the default (which the file header leaves out).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Why the parameters are out of range, if they are.
    pub(crate) fn problem(&self) -> Option<String> {
        if !(0.0..=10.0).contains(&self.k1) {
            return Some(format!("k1 = {} is not in 0..=10", self.k1));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Some(format!("b = {} is not in 0..=1", self.b));
        }
        None
    }
}
