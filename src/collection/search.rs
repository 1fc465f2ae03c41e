//! Search: validation, the call into the index under a shared lock, and turning slots back
//! into scored records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Collection, State};
use crate::config::{MAX_K, SimilarityMetric};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::index::{Candidate, Query, SlotFilter};
use crate::store::Slot;

/// The most vector values one search may return (`k` x dimension with vectors included), so a
/// single call cannot build a multi-gigabyte answer.
pub const MAX_RESULT_VALUES: usize = 16 << 20;

/// How to search: how many results, an optional metadata filter, the HNSW beam width, and
/// whether to return vectors.
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
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self { k: 10, filter: None, ef: None, include_vectors: false }
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

    fn validate(&self, dimension: usize) -> Result<()> {
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
        let state = self.inner.state.read();
        Ok(self.search_locked(&state, query, norm, options))
    }

    /// Runs many queries across cores under one consistent view (one read lock for all of
    /// them); results in query order.
    pub fn search_batch(
        &self,
        queries: &[Vec<f32>],
        options: &SearchOptions,
    ) -> Result<Vec<Vec<SearchResult>>> {
        options.validate(self.config().dimension)?;
        let norms = queries.iter().map(|q| self.check_vector(q)).collect::<Result<Vec<f64>>>()?;
        let state = self.inner.state.read();
        // Scoped threads, not rayon, under the lock (see `parallel`); each query runs on one.
        let parts = crate::parallel::map_split(queries.len(), 1, |range| {
            crate::parallel::serial(|| {
                range.map(|i| self.search_locked(&state, &queries[i], norms[i], options)).collect::<Vec<_>>()
            })
        });
        Ok(parts.into_iter().flatten().collect())
    }

    /// The search itself, under the read lock; `norm` is the query's L2 norm.
    fn search_locked(
        &self,
        state: &State,
        query: &[f32],
        norm: f64,
        options: &SearchOptions,
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
        let store = &state.store;
        let bound = options.filter.as_ref().map(|f| store.bind_filter(f));
        let filter_fn =
            bound.as_ref().map(|b| move |slot: Slot| b.matches(slot.index(), store.metadata(slot)));
        let q = Query {
            vector: query,
            k: options.k,
            ef: options.ef,
            filter: filter_fn.as_ref().map(|f| f as SlotFilter<'_>),
        };
        let hits = state.index.search(store, &q);
        let mut results: Vec<SearchResult> = hits
            .into_iter()
            .map(|Candidate { dist, slot }| SearchResult {
                id: store.id(slot),
                score: (f64::from(self.inner.distance.score(dist)) * scale) as f32,
                text: store.text(slot).map(str::to_owned),
                metadata: store.metadata(slot).cloned(),
                vector: options.include_vectors.then(|| store.vector(slot).to_vec()),
            })
            .collect();
        results.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        results
    }
}
