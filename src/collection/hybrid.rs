//! Keyword (BM25) and hybrid search, and the steps every mode ends with: maximal marginal
//! relevance and the cut to `k`. Hybrid runs both sides under one read lock, each with its own
//! candidate limit, and fuses them by reciprocal rank (default) or by a weighted sum of
//! min-max normalised scores.

use std::collections::HashMap;

use super::search::{SearchOptions, SearchResult, Sources, result_at};
use super::{Collection, State};
use crate::error::Result;
use crate::store::{Slot, VectorStore};

/// How hybrid search combines its two sides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: `sum over sides of 1 / (k + rank)`; `k = 60` is the usual.
    Rrf {
        /// The rank offset; larger values flatten the top ranks' advantage.
        k: f32,
    },
    /// `vector_weight * vector + (1 - vector_weight) * keyword`, each side's scores scaled to
    /// 0..1 among its candidates (a side that did not return a record adds 0).
    Weighted {
        /// The vector side's weight, 0 to 1.
        vector_weight: f32,
    },
}

/// Hybrid search settings. As JSON (the HTTP body's and Python's `hybrid`):
/// `{"fusion": "rrf", "rrf_k": 60}` or `{"fusion": "weighted", "vector_weight": 0.5}`, with
/// optional `vector_k` and `keyword_k`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(try_from = "HybridJson")]
pub struct HybridOptions {
    /// How the sides are combined (default: RRF with k = 60).
    pub fusion: Fusion,
    /// Candidates from the vector side (default: twice the results wanted, at least 10).
    pub vector_k: Option<usize>,
    /// Candidates from the keyword side (same default).
    pub keyword_k: Option<usize>,
}

impl Default for HybridOptions {
    fn default() -> Self {
        Self { fusion: Fusion::Rrf { k: 60.0 }, vector_k: None, keyword_k: None }
    }
}

/// The JSON shape of [`HybridOptions`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HybridJson {
    fusion: Option<String>,
    rrf_k: Option<f32>,
    vector_weight: Option<f32>,
    vector_k: Option<usize>,
    keyword_k: Option<usize>,
}

impl TryFrom<HybridJson> for HybridOptions {
    type Error = String;

    fn try_from(j: HybridJson) -> Result<Self, String> {
        let fusion = match j.fusion.as_deref().unwrap_or("rrf") {
            "rrf" if j.vector_weight.is_none() => Fusion::Rrf { k: j.rrf_k.unwrap_or(60.0) },
            "weighted" if j.rrf_k.is_none() => {
                Fusion::Weighted { vector_weight: j.vector_weight.unwrap_or(0.5) }
            }
            "rrf" | "weighted" => {
                return Err("rrf_k goes with rrf fusion, vector_weight with weighted".into());
            }
            other => return Err(format!("unknown fusion '{other}'; use rrf or weighted")),
        };
        Ok(HybridOptions { fusion, vector_k: j.vector_k, keyword_k: j.keyword_k })
    }
}

impl HybridOptions {
    fn validate(&self) -> Result<()> {
        match self.fusion {
            Fusion::Rrf { k } if !(k.is_finite() && k >= 0.0) => {
                return Err(crate::config::invalid("rrf_k", format!("{k} is not a number >= 0")));
            }
            Fusion::Weighted { vector_weight: w } if !(0.0..=1.0).contains(&w) => {
                return Err(crate::config::invalid("vector_weight", format!("{w} is not in 0..=1")));
            }
            _ => {}
        }
        for (name, k) in [("vector_k", self.vector_k), ("keyword_k", self.keyword_k)] {
            if let Some(k) = k
                && !(1..=crate::config::MAX_K).contains(&k)
            {
                return Err(crate::config::invalid(
                    name,
                    format!("{k} is not in 1..={}", crate::config::MAX_K),
                ));
            }
        }
        Ok(())
    }
}

impl Collection {
    /// The records whose text best matches `query` by BM25, best first; metadata and document
    /// filters, `include_vectors` and `mmr` apply (`min_score` and `decay` are vector-side
    /// options and are ignored).
    ///
    /// ```
    /// use vectorlite::{Collection, CollectionConfig, NewRecord, SearchOptions};
    /// let c = Collection::new("notes", CollectionConfig::new(2))?;
    /// c.add(&[1.0, 0.0], Some("payment failed with ERR-4032".into()), None)?;
    /// c.add(&[0.0, 1.0], Some("payment went through".into()), None)?;
    /// let hits = c.search_keyword("ERR-4032", &SearchOptions::new(1))?;
    /// assert_eq!(hits[0].id, 0);
    /// # Ok::<(), vectorlite::Error>(())
    /// ```
    pub fn search_keyword(&self, query: &str, options: &SearchOptions) -> Result<Vec<SearchResult>> {
        options.validate(self.config().dimension)?;
        let now = self.now_ms();
        let state = self.inner.state.read();
        let fetch = options.mmr.map_or(options.k, |m| m.fetch_k.max(options.k));
        let hits = keyword_side(&state, query, fetch, options, now);
        let store = &state.store;
        let mut results: Vec<SearchResult> = hits
            .iter()
            .enumerate()
            .map(|(rank, &(slot, score))| {
                let sources = Sources {
                    keyword_rank: Some(rank + 1),
                    keyword_score: Some(score),
                    ..Sources::default()
                };
                result_at(store, slot, score, options, None, Some(sources))
            })
            .collect();
        finish(store, &mut results, options, None);
        Ok(results)
    }

    /// Vector and keyword search fused: `vector` (or, without one, `text` embedded with the
    /// collection's model) on one side, BM25 on `text` on the other. Each result carries the
    /// fused score and both sides' ranks and scores ([`SearchResult::sources`]).
    pub fn search_hybrid(
        &self,
        text: &str,
        vector: Option<&[f32]>,
        options: &SearchOptions,
        hybrid: &HybridOptions,
    ) -> Result<Vec<SearchResult>> {
        options.validate(self.config().dimension)?;
        hybrid.validate()?;
        let embedded;
        let vector = match vector {
            Some(v) => v,
            None => {
                embedded = self.embed_queries(&[text])?.pop().unwrap_or_default();
                &embedded
            }
        };
        let norm = self.check_vector(vector)?;
        let now = self.now_ms();
        let fetch = options.mmr.map_or(options.k, |m| m.fetch_k.max(options.k));
        // A narrow window by default (as Elasticsearch's `rank_window_size`): records that are
        // merely fair on both sides then do not crowd out one side's clear winner.
        let wide = |k: Option<usize>| k.unwrap_or((2 * fetch).max(10)).max(fetch).min(crate::config::MAX_K);
        let state = self.inner.state.read();
        let vector_side = {
            let side = SearchOptions { k: wide(hybrid.vector_k), mmr: None, decay: None, ..options.clone() };
            self.search_locked(&state, vector, norm, &side, now)
        };
        let keyword_side = keyword_side(&state, text, wide(hybrid.keyword_k), options, now);
        let store = &state.store;
        let mut fused: HashMap<u64, (Slot, Sources)> = HashMap::new();
        for (rank, r) in vector_side.iter().enumerate() {
            if let Some(slot) = store.slot_of(r.id) {
                let s = &mut fused.entry(r.id).or_insert((slot, Sources::default())).1;
                (s.vector_rank, s.vector_score) = (Some(rank + 1), Some(r.similarity.unwrap_or(r.score)));
            }
        }
        for (rank, &(slot, score)) in keyword_side.iter().enumerate() {
            let s = &mut fused.entry(store.id(slot)).or_insert((slot, Sources::default())).1;
            (s.keyword_rank, s.keyword_score) = (Some(rank + 1), Some(score));
        }
        let scale_v = Scale::of(vector_side.iter().map(|r| r.similarity.unwrap_or(r.score)));
        let scale_k = Scale::of(keyword_side.iter().map(|&(_, s)| s));
        let mut results: Vec<SearchResult> = fused
            .into_values()
            .map(|(slot, s)| {
                let score = match hybrid.fusion {
                    Fusion::Rrf { k } => {
                        let part = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (k + r as f32));
                        part(s.vector_rank) + part(s.keyword_rank)
                    }
                    Fusion::Weighted { vector_weight: w } => {
                        w * s.vector_score.map_or(0.0, |v| scale_v.apply(v))
                            + (1.0 - w) * s.keyword_score.map_or(0.0, |v| scale_k.apply(v))
                    }
                };
                result_at(store, slot, score, options, None, Some(s))
            })
            .collect();
        results.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        finish(store, &mut results, options, Some(vector));
        Ok(results)
    }
}

/// The keyword side: the best `k` visible records passing every filter, as (slot, BM25).
fn keyword_side(state: &State, query: &str, k: usize, options: &SearchOptions, now: u64) -> Vec<(Slot, f32)> {
    let store = &state.store;
    let bound = options.filter.as_ref().map(|f| store.bind_filter(f));
    let accept = |id: u64| {
        store.slot_of(id).is_some_and(|slot| {
            store.is_visible(slot, now)
                && bound.as_ref().is_none_or(|b| b.matches(slot.index(), store.metadata(slot)))
                && options.document.as_ref().is_none_or(|d| d.matches(store.text(slot)))
        })
    };
    state
        .text
        .search(query, k, accept)
        .into_iter()
        .filter_map(|(id, score)| store.slot_of(id).map(|slot| (slot, score)))
        .collect()
}

/// Min-max scaling of one side's scores to 0..1 (all equal: 1).
#[derive(Clone, Copy)]
struct Scale {
    min: f32,
    span: f32,
}

impl Scale {
    fn of(scores: impl Iterator<Item = f32>) -> Self {
        let (min, max) =
            scores.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| (lo.min(s), hi.max(s)));
        Self { min, span: max - min }
    }

    fn apply(self, s: f32) -> f32 {
        if self.span > 0.0 { (s - self.min) / self.span } else { 1.0 }
    }
}

/// Ends every mode: MMR over the sorted candidates when asked, then the cut to `k`. With a
/// query vector, relevance is its cosine similarity to each candidate (as LangChain and Qdrant
/// define MMR); without one (keyword search), the score scaled to 0..1.
pub(super) fn finish(
    store: &VectorStore,
    results: &mut Vec<SearchResult>,
    options: &SearchOptions,
    query: Option<&[f32]>,
) {
    if let Some(mmr) = options.mmr
        && results.len() > options.k
    {
        let order = mmr_order(store, results, query, mmr.lambda, options.k);
        let mut taken: Vec<Option<SearchResult>> = std::mem::take(results).into_iter().map(Some).collect();
        *results = order.into_iter().filter_map(|i| taken[i].take()).collect();
    }
    results.truncate(options.k);
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The indices of `k` candidates in MMR order.
fn mmr_order(
    store: &VectorStore,
    candidates: &[SearchResult],
    query: Option<&[f32]>,
    lambda: f32,
    k: usize,
) -> Vec<usize> {
    let unit = |v: &[f32]| {
        let mut v = v.to_vec();
        crate::vector::normalize(&mut v);
        v
    };
    let vectors: Vec<Vec<f32>> = candidates
        .iter()
        .map(|r| store.slot_of(r.id).map(|s| unit(&store.vector(s))).unwrap_or_default())
        .collect();
    let relevance: Vec<f32> = match query {
        Some(q) => {
            let q = unit(q);
            vectors.iter().map(|v| dot(v, &q)).collect()
        }
        None => {
            let scale = Scale::of(candidates.iter().map(|r| r.score));
            candidates.iter().map(|r| scale.apply(r.score)).collect()
        }
    };
    let mut closest = vec![f32::NEG_INFINITY; candidates.len()];
    let mut picked = Vec::with_capacity(k);
    let mut free = vec![true; candidates.len()];
    while picked.len() < k.min(candidates.len()) {
        let value = |i: usize| {
            let redundancy = if picked.is_empty() { 0.0 } else { closest[i] };
            lambda * relevance[i] - (1.0 - lambda) * redundancy
        };
        // Ties go to the earlier (better-ranked) candidate.
        let best = (0..candidates.len())
            .filter(|&i| free[i])
            .max_by(|&a, &b| value(a).total_cmp(&value(b)).then(b.cmp(&a)));
        let Some(best) = best else { break };
        free[best] = false;
        picked.push(best);
        for i in 0..candidates.len() {
            if free[i] {
                closest[i] = closest[i].max(dot(&vectors[i], &vectors[best]));
            }
        }
    }
    picked
}
