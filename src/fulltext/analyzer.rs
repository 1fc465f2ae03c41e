//! Text to terms: Unicode (UAX #29) words, lowercased, optionally without English stop words
//! and stemmed; plus, for codes such as `ERR-4032`, `order_77` or `src/main.rs`, the whole
//! joined token, so an exact code ranks above texts that merely share its parts.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

use super::TextConfig;

/// Characters that join the parts of a code into one token.
const JOINERS: &[char] = &['-', '_', '.', '/', ':', '#', '@'];

/// Longest term kept, in bytes (longer words are cut at a character boundary).
const MAX_TERM: usize = 64;

/// English stop words (the common Lucene / Snowball short list).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to",
    "was", "will", "with", "i", "me", "my", "we", "our", "you", "your", "he", "she", "him", "her", "his",
    "its", "do", "does", "did", "what", "which", "who", "whom", "how", "when", "where", "why", "have", "has",
    "had", "been", "were", "so", "than", "too", "very", "can", "about", "from", "up", "out", "all", "any",
];

/// Turns text into the terms the index stores and queries look up.
pub(crate) struct Analyzer {
    stemmer: Option<Stemmer>,
    stop_words: bool,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("stemming", &self.stemmer.is_some())
            .field("stop_words", &self.stop_words)
            .finish()
    }
}

impl Analyzer {
    /// The analyzer `config` asks for.
    pub(crate) fn new(config: &TextConfig) -> Self {
        Self {
            stemmer: config.stemming.then(|| Stemmer::create(Algorithm::English)),
            stop_words: config.stop_words,
        }
    }

    /// The terms of `text`, in order, with repeats.
    pub(crate) fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for word in text.unicode_words() {
            self.push(&mut out, word);
        }
        // Codes: a whitespace-separated chunk whose parts are joined by punctuation.
        for chunk in text.split_whitespace() {
            let code = chunk.trim_matches(|c: char| !c.is_alphanumeric());
            let parts = code.split(JOINERS).filter(|p| !p.is_empty()).count();
            if parts >= 2 && code.chars().all(|c| c.is_alphanumeric() || JOINERS.contains(&c)) {
                // Not stemmed or stopped: a code is matched as written (case aside).
                out.push(cut(code.to_lowercase()));
            }
        }
        out
    }

    fn push(&self, out: &mut Vec<String>, word: &str) {
        let lower = word.to_lowercase();
        if self.stop_words && STOP_WORDS.contains(&lower.as_str()) {
            return;
        }
        let term = match &self.stemmer {
            Some(s) => s.stem(&lower).into_owned(),
            None => lower,
        };
        // A word that is itself a joined code ("main.rs", "3.14") gives its parts here; the
        // code pass adds it whole.
        if term.contains(JOINERS) {
            out.extend(term.split(JOINERS).filter(|p| !p.is_empty()).map(|p| cut(p.to_owned())));
        } else {
            out.push(cut(term));
        }
    }
}

fn cut(mut term: String) -> String {
    if term.len() > MAX_TERM {
        let mut end = MAX_TERM;
        while !term.is_char_boundary(end) {
            end -= 1;
        }
        term.truncate(end);
    }
    term
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str, config: TextConfig) -> Vec<String> {
        Analyzer::new(&config).terms(text)
    }

    #[test]
    fn words_codes_unicode_and_punctuation() {
        let plain = TextConfig::default();
        assert_eq!(
            terms("Payment failed: ERR-4032!", plain),
            ["payment", "failed", "err", "4032", "err-4032"]
        );
        assert_eq!(terms("Ünïcödé Straße, naïve café", plain), ["ünïcödé", "straße", "naïve", "café"]);
        assert_eq!(
            terms("see src/main.rs and order #A-77.", plain),
            ["see", "src", "main", "rs", "and", "order", "a", "77", "src/main.rs", "a-77"]
        );
        assert_eq!(terms("3.14 and 1,000 items", plain), ["3", "14", "and", "1,000", "items", "3.14"]);
        assert!(!terms("東京タワーに行った", plain).is_empty());
        assert!(terms("   ,,, !!! ", plain).is_empty());
    }

    #[test]
    fn stemming_and_stop_words_are_chosen_per_collection() {
        let english = TextConfig { stemming: true, stop_words: true, ..TextConfig::default() };
        assert_eq!(terms("The runner is running to the races", english), ["runner", "run", "race"]);
        assert_eq!(terms("The runner is running", TextConfig::default()), ["the", "runner", "is", "running"]);
        assert_eq!(terms("ERR-4032 errors", english), ["err", "4032", "error", "err-4032"]);
    }

    #[test]
    fn long_words_are_cut_at_a_character_boundary() {
        let t = terms(&"é".repeat(100), TextConfig::default());
        assert_eq!(t.len(), 1);
        assert!(t[0].len() <= MAX_TERM && t[0].chars().all(|c| c == 'é'));
    }
}
