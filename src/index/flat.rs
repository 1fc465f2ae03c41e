//! Exact search: a scan over the store's contiguous rows with a bounded heap, split over scoped
//! threads for large stores. Also serves HNSW for very selective filters.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;

use super::distance::Distance;
use super::{Candidate, Query, VectorIndex};
use crate::config::IndexType;
use crate::store::{Slot, VectorStore};

/// Below this many rows a scan stays on the calling thread: spawning costs more than it saves.
const PARALLEL_MIN_ROWS: usize = 32_768;

/// The exact index: all state is in the store.
pub(crate) struct FlatIndex {
    distance: Distance,
}

impl FlatIndex {
    pub(crate) fn new(distance: Distance) -> Self {
        Self { distance }
    }
}

impl VectorIndex for FlatIndex {
    fn index_type(&self) -> IndexType {
        IndexType::Flat
    }

    fn insert(&mut self, _store: &VectorStore, _new: Range<u32>) {}

    fn remove(&mut self, store: &mut VectorStore, slot: Slot) {
        store.swap_remove(slot);
    }

    fn search(&self, store: &VectorStore, query: &Query<'_>) -> Vec<Candidate> {
        exact_scan(store, &self.distance, query)
    }

    fn memory_bytes(&self) -> usize {
        0
    }
}

/// Heap entry for exact search: ties on distance break by the user's id, so exact results are
/// deterministic whatever the slot order.
#[derive(Clone, Copy, PartialEq)]
struct Entry {
    dist: f32,
    id: u64,
    slot: Slot,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` closest live, filter-passing slots, closest first (ties by id).
pub(crate) fn exact_scan(store: &VectorStore, distance: &Distance, query: &Query<'_>) -> Vec<Candidate> {
    let n = store.slots();
    // Runs under the collection's read lock, so it splits on scoped threads, not rayon.
    let mut best: Vec<Entry> =
        crate::parallel::map_split(n, PARALLEL_MIN_ROWS / 2, |rows| scan_range(store, distance, query, rows))
            .concat();
    best.sort_unstable();
    best.truncate(query.k);
    best.into_iter().map(|e| Candidate { dist: e.dist, slot: e.slot }).collect()
}

fn scan_range(store: &VectorStore, distance: &Distance, query: &Query<'_>, rows: Range<usize>) -> Vec<Entry> {
    let mut heap: BinaryHeap<Entry> = BinaryHeap::with_capacity(query.k + 1);
    let mut worst = f32::INFINITY;
    for i in rows {
        let slot = Slot(i as u32);
        // The filter runs before the distance so non-matching rows are never read.
        if !store.is_live(slot) || query.filter.is_some_and(|f| !f(slot)) {
            continue;
        }
        let dist = distance.distance(query.vector, store.vector(slot));
        if heap.len() < query.k {
            heap.push(Entry { dist, id: store.id(slot), slot });
            if heap.len() == query.k {
                worst = heap.peek().map_or(f32::INFINITY, |e| e.dist);
            }
        } else if dist <= worst {
            let entry = Entry { dist, id: store.id(slot), slot };
            if heap.peek().is_some_and(|top| entry < *top) {
                heap.pop();
                heap.push(entry);
                worst = heap.peek().map_or(f32::INFINITY, |e| e.dist);
            }
        }
    }
    heap.into_vec()
}
