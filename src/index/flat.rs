//! Exact search: a scan over the store's contiguous rows with a bounded heap, split over scoped
//! threads for large stores. Also serves HNSW for very selective filters.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;

use std::borrow::Cow;

use super::distance::Distance;
use super::scorer::Scorer;
use super::{Candidate, Query, VectorIndex, rescore, rescore_pool};
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

    fn insert(&mut self, _store: &VectorStore, _new: std::ops::Range<u32>) {}

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

/// The `k` closest live, filter-passing slots, closest first (ties by id). With an allowed
/// set, only its rows are read, and the work splits over cores by matches, not rows, so a
/// selective query stays on one thread.
/// Over int8 codes, a few times `k` candidates are kept and rescored exactly (see [`rescore`]).
pub(crate) fn exact_scan(store: &VectorStore, distance: &Distance, query: &Query<'_>) -> Vec<Candidate> {
    let pool = rescore_pool(store, query.k);
    // A filter searched again reads its rows from one short copy (see `VectorStore::gathered`).
    let gathered = query.allowed.filter(|_| query.filter.is_none()).and_then(|a| store.gathered(a));
    let mut best: Vec<Entry> = if let Some(rows) = &gathered {
        let q = Scorer::gathered(rows, store.dim(), distance, Cow::Borrowed(query.vector));
        scan_gathered(store, &q, pool, &rows.slots)
    } else {
        let q = Scorer::new(store, distance, Cow::Borrowed(query.vector));
        // Runs under the collection's read lock, so it splits on scoped threads, not rayon.
        match query.allowed {
            None => crate::parallel::map_split(store.slots(), PARALLEL_MIN_ROWS / 2, |rows| {
                scan_range(store, &q, (query, pool), rows)
            }),
            Some(allowed) => {
                let words = allowed.words().len();
                let per_thread = (PARALLEL_MIN_ROWS / 2) * words / allowed.count().max(1);
                crate::parallel::map_split(words, per_thread.max(1), |words| {
                    let slots = allowed.iter_words(words).map(|i| Slot(i as u32));
                    scan_allowed(store, &q, (query, pool), slots)
                })
            }
        }
        .concat()
    };
    best.sort_unstable();
    best.truncate(pool);
    let mut found: Vec<Candidate> =
        best.into_iter().map(|e| Candidate { dist: e.dist, slot: e.slot }).collect();
    if pool > query.k {
        rescore(store, distance, query.vector, &mut found, query.k);
    }
    found
}

/// The best `k` live rows of `rows` that pass the query's filter, unsorted. Rows are read in
/// order, which the hardware prefetches on its own.
fn scan_range(
    store: &VectorStore,
    q: &Scorer<'_>,
    (query, k): (&Query<'_>, usize),
    rows: Range<usize>,
) -> Vec<Entry> {
    let mut best = Best { heap: BinaryHeap::with_capacity(k + 1), k, worst: f32::INFINITY };
    for slot in rows.map(|i| Slot(i as u32)) {
        // The filter runs before the distance so non-matching rows are never read.
        if store.is_live(slot) && query.filter.is_none_or(|f| f(slot)) {
            best.offer(store, slot, q.dist(slot.0));
        }
    }
    best.heap.into_vec()
}

/// The best `k` of `slots` (allowed ones) that pass the query's filter, unsorted. Rows are read
/// in groups: a group's rows are prefetched while the previous group's distances are computed,
/// four at a time, so scattered rows (a filter's matches) stream in about as fast as contiguous ones.
fn scan_allowed(
    store: &VectorStore,
    q: &Scorer<'_>,
    (query, k): (&Query<'_>, usize),
    slots: impl Iterator<Item = Slot>,
) -> Vec<Entry> {
    let mut best = Best { heap: BinaryHeap::with_capacity(k + 1), k, worst: f32::INFINITY };
    // The filter runs before the distance so non-matching rows are never read.
    let mut slots = slots.filter(|&slot| query.filter.is_none_or(|f| f(slot)));
    let mut groups = [[Slot(0); GROUP]; 2];
    let mut filled = [0usize; 2];
    for turn in 0.. {
        let (this, last) = (turn % 2, (turn + 1) % 2);
        filled[this] = 0;
        for slot in slots.by_ref().take(GROUP) {
            q.prefetch_row(slot.0);
            groups[this][filled[this]] = slot;
            filled[this] += 1;
        }
        let ready = &groups[last][..filled[last]];
        let mut quads = ready.chunks_exact(4);
        for quad in &mut quads {
            for (&slot, dist) in quad.iter().zip(q.dist4([quad[0].0, quad[1].0, quad[2].0, quad[3].0])) {
                best.offer(store, slot, dist);
            }
        }
        for &slot in quads.remainder() {
            best.offer(store, slot, q.dist(slot.0));
        }
        if filled[this] == 0 {
            break;
        }
    }
    best.heap.into_vec()
}

/// The best `k` of gathered rows (`q` scores row `i` of the copy, which is store slot
/// `slots[i]`), unsorted: one contiguous pass, four rows per kernel call.
fn scan_gathered(store: &VectorStore, q: &Scorer<'_>, k: usize, slots: &[Slot]) -> Vec<Entry> {
    let mut best = Best { heap: BinaryHeap::with_capacity(k + 1), k, worst: f32::INFINITY };
    let quads = slots.len() / 4 * 4;
    for i in (0..quads).step_by(4) {
        let at = i as u32;
        for (j, dist) in q.dist4([at, at + 1, at + 2, at + 3]).into_iter().enumerate() {
            best.offer(store, slots[i + j], dist);
        }
    }
    for (i, &slot) in slots.iter().enumerate().skip(quads) {
        best.offer(store, slot, q.dist(i as u32));
    }
    best.heap.into_vec()
}

/// Rows prefetched ahead of the distances in a scan.
const GROUP: usize = 8;

/// The `k` best entries seen so far, worst on top.
struct Best {
    heap: BinaryHeap<Entry>,
    k: usize,
    worst: f32,
}

impl Best {
    #[inline]
    fn offer(&mut self, store: &VectorStore, slot: Slot, dist: f32) {
        if self.heap.len() < self.k {
            self.heap.push(Entry { dist, id: store.id(slot), slot });
            if self.heap.len() == self.k {
                self.worst = self.heap.peek().map_or(f32::INFINITY, |e| e.dist);
            }
        } else if dist <= self.worst {
            let entry = Entry { dist, id: store.id(slot), slot };
            if self.heap.peek().is_some_and(|top| entry < *top) {
                self.heap.pop();
                self.heap.push(entry);
                self.worst = self.heap.peek().map_or(f32::INFINITY, |e| e.dist);
            }
        }
    }
}
