//! Indexes over a [`VectorStore`]'s slots. An index never owns or copies vectors and never sees
//! user ids: it reads rows from the store and answers with slots. The collection owns the store,
//! the index, and the translation back to records.

pub(crate) mod distance;
pub(crate) mod flat;
pub(crate) mod hnsw;
pub(crate) mod scorer;
pub(crate) mod visited;

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use crate::bitmap::Bitmap;
use crate::config::{CollectionConfig, IndexType};
use crate::store::{Slot, VectorStore};

/// A slot and its distance to the query (lower is closer). Ordered by distance, then slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub dist: f32,
    pub slot: Slot,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.slot.cmp(&other.slot))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A predicate over slots: the record's metadata passes the user's filter.
pub(crate) type SlotFilter<'a> = &'a (dyn Fn(Slot) -> bool + Sync);

/// One k-nearest-neighbour query as the index sees it. `query` is already validated and, for
/// cosine, normalised.
pub(crate) struct Query<'a> {
    pub vector: &'a [f32],
    pub k: usize,
    /// HNSW beam width; ignored by exact indexes.
    pub ef: Option<usize>,
    pub filter: Option<SlotFilter<'a>>,
    /// When set, only these slots may be returned (it holds live slots only); `filter`, if
    /// any, still has the last word on each. Indexes use it to skip everything else cheaply.
    /// (The store's filter cache hands out the same `Arc` for the same filter until a write,
    /// which lets a scan keep the set's rows gathered.)
    pub allowed: Option<&'a Arc<Bitmap>>,
}

/// An index over the live slots of one store.
pub(crate) trait VectorIndex: Send + Sync {
    /// The index type and parameters, as configured.
    fn index_type(&self) -> IndexType;

    /// Indexes `new`, slots just appended to `store`. May use every core.
    fn insert(&mut self, store: &VectorStore, new: Range<u32>);

    /// Removes a live record from the index *and* the store, in the way this index needs
    /// (Flat swaps the last row in; HNSW leaves a tombstone so its slots stay stable).
    fn remove(&mut self, store: &mut VectorStore, slot: Slot);

    /// Up to `k` live, filter-passing slots, closest first.
    fn search(&self, store: &VectorStore, query: &Query<'_>) -> Vec<Candidate>;

    /// The HNSW graph, for snapshots; `None` for indexes without one.
    fn graph(&self) -> Option<&hnsw::graph::Graph> {
        None
    }

    /// True when tombstones have piled up enough that the collection should compact and rebuild.
    fn needs_compaction(&self, _store: &VectorStore) -> bool {
        false
    }

    /// Heap bytes held by the index itself (the store is counted separately).
    fn memory_bytes(&self) -> usize;
}

/// The index for a store read from a file: the saved graph when it validates, else a fresh
/// build. The second value says why a saved graph was not used, for the caller to log.
pub(crate) fn build_index(
    config: &CollectionConfig,
    store: &VectorStore,
    graph: Option<hnsw::graph::GraphParts>,
) -> (Box<dyn VectorIndex>, Option<String>) {
    let mut rejected = None;
    if let IndexType::HNSW(params) = config.index {
        match graph.map(|parts| hnsw::graph::Graph::from_parts(parts, params.m)) {
            Some(Ok(graph)) => {
                let distance = distance::Distance::new(config.metric);
                return (Box::new(hnsw::HnswIndex::with_graph(params, distance, graph)), None);
            }
            Some(Err(reason)) => rejected = Some(format!("invalid HNSW graph cache ({reason}); rebuilt")),
            None if store.slots() > 0 => rejected = Some("no HNSW graph cache; rebuilt".to_owned()),
            None => {}
        }
    }
    let mut index = new_index(config);
    index.insert(store, 0..store.slots() as u32);
    (index, rejected)
}

/// The `k` best of `found`, closest first (ties by id). Over int8 codes with f32 rows kept,
/// the best [`rescore_pool`] by code distance are re-ranked by their exact distance first.
pub(crate) fn rescore(
    store: &VectorStore,
    distance: &distance::Distance,
    query: &[f32],
    found: &mut Vec<Candidate>,
    k: usize,
) {
    let by_distance_then_id = |a: &Candidate, b: &Candidate| {
        a.dist.total_cmp(&b.dist).then(store.id(a.slot).cmp(&store.id(b.slot)))
    };
    found.sort_unstable_by(by_distance_then_id);
    if store.rescores() {
        // Only the best few by code distance are worth an f32 row read each: prefetch them
        // all, then score.
        found.truncate(rescore_pool(store, k));
        found.iter().for_each(|c| distance::prefetch_row(store.f32_row(c.slot)));
        for c in found.iter_mut() {
            c.dist = distance.distance(query, store.f32_row(c.slot));
        }
        found.sort_unstable_by(by_distance_then_id);
    }
    found.truncate(k);
}

/// How many candidates an exact scan over int8 codes keeps for rescoring, for `k` results:
/// codes rank near neighbours a few places apart, so 4x (at least 40) keeps the true `k`.
pub(crate) fn rescore_pool(store: &VectorStore, k: usize) -> usize {
    if store.rescores() { k.saturating_mul(4).max(40) } else { k }
}

/// Builds an empty index for `config`.
pub(crate) fn new_index(config: &CollectionConfig) -> Box<dyn VectorIndex> {
    let distance = distance::Distance::new(config.metric);
    match config.index {
        IndexType::Flat => Box::new(flat::FlatIndex::new(distance)),
        IndexType::HNSW(params) => Box::new(hnsw::HnswIndex::new(params, distance)),
    }
}
