//! Search: validation, the call into the index under a shared lock, and turning slots back
//! into scored records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Collection, State};
use crate::config::{MAX_K, SimilarityMetric};
use crate::error::{Error, Result};
use crate::filter::{DocumentFilter, Filter};
use crate::index::{Candidate, Query, SlotFilter};
use crate::store::Slot;

/// The most vector values one search may return (`k` x dimension with vectors included), so a
/// single call cannot build a multi-gigabyte answer.
pub const MAX_RESULT_VALUES: usize = 16 << 20;

/// How to search: how many results, an optional metadata filter, the HNSW beam width,
/// whether to return vectors, a minimum score, and a blend with recency.
///
/// ```
/// use serde_json::json;
/// use vectorlite::{Filter, SearchOptions};
/// let options = SearchOptions::new(5)
///     .with_filter(Filter::parse(&json!({"kind": "memory"}))?)
///     .with_ef(128);
/// # Ok::<(), vectorlite::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Results wanted, 1 to [`MAX_K`]. Default 10.
    pub k: usize,
    /// Only records whose metadata passes this filter are returned.
    pub filter: Option<Filter>,
    /// HNSW beam width for this query (default: the collection's `ef_search`); at least `k` is used.
    pub ef: Option<usize>,
    /// Return each result's vector too.
    pub include_vectors: bool,
    /// Only results at least this similar: a score of at least `min_score` under cosine and
    /// dot, a distance of at most `|min_score|` under euclidean and manhattan. Applies to the
    /// similarity, before any `decay`.
    pub min_score: Option<f32>,
    /// Blend similarity with recency (see [`Decay`]).
    pub decay: Option<Decay>,
    /// Only records whose text passes this document filter are returned.
    pub document: Option<DocumentFilter>,
    /// Re-rank for diversity (see [`Mmr`]).
    pub mmr: Option<Mmr>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            k: 10,
            filter: None,
            ef: None,
            include_vectors: false,
            min_score: None,
            decay: None,
            document: None,
            mmr: None,
        }
    }
}

/// Maximal marginal relevance: of the `fetch_k` best candidates, pick `k` one at a time, each
/// maximising `lambda * relevance - (1 - lambda) * (its highest cosine similarity to those
/// already picked)`, with relevance the candidate's score scaled to 0..1 among the candidates.
/// `lambda = 1` is plain ranking; lower values favour variety.
///
/// As JSON (HTTP and Python): `{"lambda": 0.5, "fetch_k": 20}`, both optional.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mmr {
    /// Relevance against diversity, 0 to 1 (LangChain's `lambda_mult`; default 0.5).
    pub lambda: f32,
    /// Candidates to choose from, at least `k` (default 20).
    pub fetch_k: usize,
}

impl Default for Mmr {
    fn default() -> Self {
        Self { lambda: 0.5, fetch_k: 20 }
    }
}

/// Recency in the ranking, as agent memory designs weigh it: each result's score becomes
/// `(1 - weight) * similarity + weight * 0.5^(age / half_life)`, where the age is taken from
/// `field` (a metadata path holding Unix seconds or an RFC 3339 time) or, without a field,
/// from when the record was last written. A result without a time has recency 0. Results are
/// sorted by the blended score; [`SearchResult::similarity`] keeps the raw one.
#[derive(Debug, Clone, PartialEq)]
pub struct Decay {
    /// A metadata path (`"meta.created"`), or `None` for the record's write time.
    pub field: Option<String>,
    /// After this long, recency counts half.
    pub half_life_seconds: f64,
    /// How much recency counts, 0 to 1.
    pub weight: f32,
}

impl Decay {
    fn validate(&self) -> Result<()> {
        if !(self.half_life_seconds.is_finite() && self.half_life_seconds > 0.0) {
            return Err(crate::config::invalid(
                "half_life_seconds",
                format!("{} is not a duration > 0", self.half_life_seconds),
            ));
        }
        if !(0.0..=1.0).contains(&self.weight) {
            return Err(crate::config::invalid("weight", format!("{} is not in 0..=1", self.weight)));
        }
        Ok(())
    }

    /// 0.5^(age / half life) for a record written (or dated) at `at_ms`, seen at `now_ms`.
    fn recency(&self, at_ms: Option<u64>, now_ms: u64) -> f32 {
        match at_ms {
            Some(at) if at > 0 => {
                let age_s = now_ms.saturating_sub(at) as f64 / 1000.0;
                0.5f64.powf(age_s / self.half_life_seconds) as f32
            }
            _ => 0.0,
        }
    }

    /// The time (Unix ms) a record is dated by under this decay.
    fn time_of(&self, store: &crate::store::VectorStore, slot: Slot) -> Option<u64> {
        let Some(field) = &self.field else { return Some(store.times(slot).updated) };
        let mut v = store.metadata(slot)?;
        for part in field.split('.') {
            v = v.get(part)?;
        }
        match v {
            Value::Number(n) => {
                n.as_f64().filter(|s| s.is_finite() && *s >= 0.0).map(|s| (s * 1000.0) as u64)
            }
            Value::String(s) => crate::clock::parse_rfc3339_ms(s).ok(),
            _ => None,
        }
    }
}

impl SearchOptions {
    /// Options for the `k` best results.
    pub fn new(k: usize) -> Self {
        Self { k, ..Self::default() }
    }

    /// Sets the metadata filter.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Sets the HNSW beam width.
    pub fn with_ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }

    /// Asks for vectors in the results.
    pub fn with_vectors(mut self, include: bool) -> Self {
        self.include_vectors = include;
        self
    }

    /// Keeps only results at least this similar (see [`SearchOptions::min_score`]).
    pub fn with_min_score(mut self, min_score: f32) -> Self {
        self.min_score = Some(min_score);
        self
    }

    /// Blends similarity with recency.
    pub fn with_decay(mut self, decay: Decay) -> Self {
        self.decay = Some(decay);
        self
    }

    /// Keeps only records whose text passes `document`.
    pub fn with_document_filter(mut self, document: DocumentFilter) -> Self {
        self.document = Some(document);
        self
    }

    /// Re-ranks the results for diversity.
    pub fn with_mmr(mut self, mmr: Mmr) -> Self {
        self.mmr = Some(mmr);
        self
    }

    pub(super) fn validate(&self, dimension: usize) -> Result<()> {
        if let Some(d) = &self.decay {
            d.validate()?;
        }
        if let Some(m) = &self.mmr {
            if !(0.0..=1.0).contains(&m.lambda) {
                return Err(crate::config::invalid("mmr.lambda", format!("{} is not in 0..=1", m.lambda)));
            }
            if !(1..=MAX_K).contains(&m.fetch_k) {
                return Err(crate::config::invalid(
                    "mmr.fetch_k",
                    format!("{} is not in 1..={MAX_K}", m.fetch_k),
                ));
            }
        }
        if self.min_score.is_some_and(|m| !m.is_finite()) {
            return Err(crate::config::invalid("min_score", "must be a finite number".into()));
        }
        if !(1..=MAX_K).contains(&self.k) {
            return Err(Error::InvalidK { k: self.k, max: MAX_K });
        }
        if let Some(ef) = self.ef
            && !(1..=MAX_K).contains(&ef)
        {
            return Err(crate::config::invalid("ef", format!("{ef} is not in 1..={MAX_K}")));
        }
        if self.include_vectors && self.k.saturating_mul(dimension) > MAX_RESULT_VALUES {
            return Err(crate::config::invalid(
                "k",
                format!(
                    "{} results of {dimension} values each is more than {MAX_RESULT_VALUES} values; \
                     ask for fewer results or leave the vectors out",
                    self.k
                ),
            ));
        }
        Ok(())
    }
}

/// One search hit. Results come sorted by `score`, highest first; equal scores by ascending id.
/// The score is higher-is-better for every metric: cosine similarity, dot product, or the
/// negated euclidean / manhattan distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The record's id.
    pub id: u64,
    /// Similarity score, higher is better.
    pub score: f32,
    /// The record's text, if it has one.
    pub text: Option<String>,
    /// The record's metadata, if it has any.
    pub metadata: Option<Value>,
    /// The stored vector, when `include_vectors` was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// The raw similarity, when `score` blends in recency ([`Decay`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Where a keyword or hybrid result came from: each side's rank and score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Sources>,
}

/// Each side's part in a keyword or hybrid result (ranks from 1; `None`: not among that side's
/// candidates).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Sources {
    /// Rank among the vector side's candidates.
    pub vector_rank: Option<usize>,
    /// The vector similarity.
    pub vector_score: Option<f32>,
    /// Rank among the keyword side's candidates.
    pub keyword_rank: Option<usize>,
    /// The BM25 score.
    pub keyword_score: Option<f32>,
}

impl Collection {
    /// The `options.k` records most similar to `query`, best first.
    ///
    /// ```
    /// use vectorlite::{CollectionConfig, IndexType, SearchOptions, SimilarityMetric, VectorLiteClient};
    /// let client = VectorLiteClient::new();
    /// let config = CollectionConfig::new(2).with_metric(SimilarityMetric::Euclidean).with_index(IndexType::Flat);
    /// let points = client.create_collection("points", config)?;
    /// let ids = points.add_batch(vec![
    ///     vectorlite::NewRecord::new(vec![0.0, 0.0]),
    ///     vectorlite::NewRecord::new(vec![3.0, 4.0]),
    /// ])?;
    /// let hits = points.search(&[3.0, 3.0], &SearchOptions::new(2))?;
    /// assert_eq!(hits[0].id, ids[1]);
    /// assert_eq!(hits[0].score, -1.0); // negated euclidean distance
    /// # Ok::<(), vectorlite::Error>(())
    /// ```
    pub fn search(&self, query: &[f32], options: &SearchOptions) -> Result<Vec<SearchResult>> {
        options.validate(self.config().dimension)?;
        let norm = self.check_vector(query)?;
        let now = self.now_ms();
        let state = self.inner.state.read();
        Ok(self.search_locked(&state, query, norm, options, now))
    }

    /// Runs many queries across cores under one consistent view (one read lock for all of
    /// them); results in query order.
    pub fn search_batch(
        &self,
        queries: &[Vec<f32>],
        options: &SearchOptions,
    ) -> Result<Vec<Vec<SearchResult>>> {
        let pairs: Vec<(&[f32], &SearchOptions)> = queries.iter().map(|q| (&q[..], options)).collect();
        self.search_each(&pairs)
    }

    /// Runs many queries, each with its own options, across cores under one consistent view;
    /// results in query order. Every query is checked before any runs.
    pub fn search_each(&self, queries: &[(&[f32], &SearchOptions)]) -> Result<Vec<Vec<SearchResult>>> {
        let dim = self.config().dimension;
        let norms = queries
            .iter()
            .map(|(q, o)| {
                o.validate(dim)?;
                self.check_vector(q)
            })
            .collect::<Result<Vec<f64>>>()?;
        let now = self.now_ms();
        let state = self.inner.state.read();
        // Scoped threads, not rayon, under the lock (see `parallel`); each query runs on one.
        let parts = crate::parallel::map_split_on(crate::parallel::all_cores(), queries.len(), 1, |range| {
            crate::parallel::serial(|| {
                range
                    .map(|i| self.search_locked(&state, queries[i].0, norms[i], queries[i].1, now))
                    .collect::<Vec<_>>()
            })
        });
        Ok(parts.into_iter().flatten().collect())
    }

    /// The search itself, under the read lock; `norm` is the query's L2 norm, `now` decides
    /// which records have expired.
    pub(super) fn search_locked(
        &self,
        state: &State,
        query: &[f32],
        norm: f64,
        options: &SearchOptions,
        now: u64,
    ) -> Vec<SearchResult> {
        // Stored cosine vectors are unit length, so ranking by the raw query's dot product is
        // the same ranking, and dividing by its norm afterwards gives the cosine without copying
        // the query. A query of extreme norm is normalised first instead, so that its dot
        // products keep their precision (subnormal values lose bits).
        let cosine = self.inner.config.metric == SimilarityMetric::Cosine;
        let normalised: Option<Vec<f32>> = (cosine && !(1e-6..=1e6).contains(&norm)).then(|| {
            let mut q = query.to_vec();
            crate::vector::normalize(&mut q);
            q
        });
        let (query, scale) = match &normalised {
            Some(q) => (&q[..], 1.0),
            None if cosine => (query, 1.0 / norm),
            None => (query, 1.0),
        };
        // The query is read once per candidate row: a copy aligned to the cache line keeps
        // every wide load of it inside one line, wherever the caller's buffer happens to sit.
        let mut aligned = crate::aligned::AlignedVec::default();
        aligned.extend_from_slice(query);
        let query = aligned.as_slice();
        let store = &state.store;
        // A metadata filter becomes the set of rows it allows, once (it also settles liveness
        // and expiry); the index then tests one bit per slot. The document filter, costly per
        // text, is only asked about slots that got that far.
        let allowed = options.filter.as_ref().map(|f| store.matching(f, now));
        let expiring = store.has_expiring() && allowed.is_none();
        let accept = |slot: Slot| {
            (!expiring || store.is_visible(slot, now))
                && options.document.as_ref().is_none_or(|d| d.matches(store.text(slot)))
        };
        // With recency blended in, the best k by the blend are among a wider set by similarity.
        let k = match (&options.decay, &options.mmr) {
            (_, Some(m)) => m.fetch_k.max(options.k),
            (Some(_), None) => (options.k * 4).max(options.k + 20).min(MAX_K),
            (None, None) => options.k,
        };
        let q = Query {
            vector: query,
            k,
            ef: options.ef,
            filter: (expiring || options.document.is_some()).then_some(&accept as SlotFilter<'_>),
            allowed: allowed.as_ref(),
        };
        let hits = state.index.search(store, &q);
        let metric = self.inner.config.metric;
        let mut results: Vec<SearchResult> = hits
            .into_iter()
            .map(|Candidate { dist, slot }| {
                (slot, (f64::from(self.inner.distance.score(dist)) * scale) as f32)
            })
            .filter(|&(_, score)| {
                options.min_score.is_none_or(|min| super::records::passes(metric, score, min))
            })
            .map(|(slot, score)| {
                let (score, similarity) = match &options.decay {
                    Some(d) => {
                        let recency = d.recency(d.time_of(store, slot), now);
                        ((1.0 - d.weight) * score + d.weight * recency, Some(score))
                    }
                    None => (score, None),
                };
                result_at(store, slot, score, options, similarity, None)
            })
            .collect();
        results.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        super::hybrid::finish(store, &mut results, options, Some(query));
        results
    }
}

/// The result for row `slot` with `score` (vector included when `options` ask for it).
pub(super) fn result_at(
    store: &crate::store::VectorStore,
    slot: Slot,
    score: f32,
    options: &SearchOptions,
    similarity: Option<f32>,
    sources: Option<Sources>,
) -> SearchResult {
    SearchResult {
        id: store.id(slot),
        score,
        text: store.text(slot).map(str::to_owned),
        metadata: store.metadata(slot).cloned(),
        vector: options.include_vectors.then(|| store.vector(slot).to_vec()),
        similarity,
        sources,
    }
}
