//! Graph search: greedy descent through the upper layers and the beam search of one layer
//! (paper, Algorithms 2 and 5). Per-thread scratch (visited set, heaps, link buffers) is reused
//! across queries, so a search allocates only its result.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::HnswIndex;
use crate::index::Candidate;
use crate::index::distance::prefetch;
use crate::index::visited::VisitedSet;
use crate::store::{Slot, VectorStore};

/// Reusable buffers for one search or insert.
#[derive(Default)]
pub(super) struct Scratch {
    visited: VisitedSet,
    /// C in the paper: nodes still to expand, closest first.
    candidates: BinaryHeap<Reverse<Candidate>>,
    /// W in the paper: the best accepted nodes so far, farthest on top.
    results: BinaryHeap<Candidate>,
    pub(super) links: Vec<u32>,
    /// Output of `search_layer`, closest first.
    pub(super) found: Vec<Candidate>,
    /// The neighbours chosen for a new node, per layer.
    pub(super) selected: Vec<Vec<Candidate>>,
    pub(super) pruned: Vec<Candidate>,
    pub(super) kept: Vec<Candidate>,
}

/// Where and how wide one layer search runs.
pub(super) struct Beam {
    /// The starting node.
    pub entry: Candidate,
    /// Beam width: results kept.
    pub ef: usize,
    /// The layer searched.
    pub level: u8,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch (or a fresh one if it is already in use).
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

impl HnswIndex {
    #[inline(always)]
    pub(super) fn dist(&self, store: &VectorStore, q: &[f32], slot: u32) -> f32 {
        self.distance.distance(q, store.vector(Slot(slot)))
    }

    /// Calls `f(slot, distance)` for each of `slots`, four at a time (see `Distance::distance4`)
    /// after prefetching them all, so their rows stream from memory together.
    #[inline(always)]
    pub(super) fn for_each_distance(
        &self,
        store: &VectorStore,
        q: &[f32],
        slots: &[u32],
        mut f: impl FnMut(u32, f32),
    ) {
        for &n in slots {
            prefetch(store.vector(Slot(n)).as_ptr());
        }
        let mut quads = slots.chunks_exact(4);
        for quad in &mut quads {
            let rows = [quad[0], quad[1], quad[2], quad[3]].map(|n| store.vector(Slot(n)));
            for (&n, d) in quad.iter().zip(self.distance.distance4(q, rows)) {
                f(n, d);
            }
        }
        for &n in quads.remainder() {
            f(n, self.dist(store, q, n));
        }
    }

    /// Greedy walk on one layer to the node closest to `q` (Algorithm 2 with ef = 1).
    pub(super) fn greedy_closest(
        &self,
        store: &VectorStore,
        q: &[f32],
        mut cur: Candidate,
        level: u8,
        links: &mut Vec<u32>,
    ) -> Candidate {
        loop {
            let mut moved = false;
            self.graph.links_into(cur.slot.0, level, links);
            self.for_each_distance(store, q, links, |n, d| {
                if d < cur.dist {
                    cur = Candidate { dist: d, slot: Slot(n) };
                    moved = true;
                }
            });
            if !moved {
                return cur;
            }
        }
    }

    /// Beam search of width `ef` on `level` from `entry` (Algorithm 2). Every node is walked
    /// through, but only nodes passing `accept` enter the results, so tombstones and filtered-out
    /// records keep the graph connected without being returned. Leaves results in `s.found`.
    pub(super) fn search_layer(
        &self,
        store: &VectorStore,
        q: &[f32],
        Beam { entry, ef, level }: Beam,
        accept: impl Fn(Slot) -> bool,
        s: &mut Scratch,
    ) {
        s.visited.reset(self.graph.len());
        s.candidates.clear();
        s.results.clear();
        s.visited.insert(entry.slot.0);
        s.candidates.push(Reverse(entry));
        if accept(entry.slot) {
            s.results.push(entry);
        }
        // The farthest accepted distance once the beam is full; until then nothing is pruned.
        let mut bound = if s.results.len() >= ef { entry.dist } else { f32::INFINITY };
        while let Some(Reverse(c)) = s.candidates.pop() {
            if c.dist > bound {
                break;
            }
            self.graph.links_into(c.slot.0, level, &mut s.links);
            s.links.retain(|&n| s.visited.insert(n));
            let links = std::mem::take(&mut s.links);
            self.for_each_distance(store, q, &links, |n, d| {
                if s.results.len() < ef || d < bound {
                    let cand = Candidate { dist: d, slot: Slot(n) };
                    s.candidates.push(Reverse(cand));
                    if accept(cand.slot) {
                        s.results.push(cand);
                        if s.results.len() > ef {
                            s.results.pop();
                        }
                        if s.results.len() >= ef {
                            bound = s.results.peek().map_or(f32::INFINITY, |top| top.dist);
                        }
                    }
                }
            });
            s.links = links;
        }
        s.found.clear();
        s.found.extend(s.results.drain());
        s.found.sort_unstable();
    }

    /// K-NN-SEARCH (Algorithm 5): the `k` closest accepted slots, closest first.
    pub(super) fn knn(
        &self,
        store: &VectorStore,
        q: &[f32],
        k: usize,
        ef: usize,
        accept: impl Fn(Slot) -> bool,
        s: &mut Scratch,
    ) -> Vec<Candidate> {
        let Some((ep, top)) = self.graph.entry() else { return Vec::new() };
        let mut cur = Candidate { dist: self.dist(store, q, ep), slot: Slot(ep) };
        for level in (1..=top).rev() {
            cur = self.greedy_closest(store, q, cur, level, &mut s.links);
        }
        self.search_layer(store, q, Beam { entry: cur, ef: ef.max(k), level: 0 }, accept, s);
        // Equal distances rank by the user's id, as in exact search.
        s.found
            .sort_unstable_by(|a, b| a.dist.total_cmp(&b.dist).then(store.id(a.slot).cmp(&store.id(b.slot))));
        s.found.truncate(k);
        s.found.clone()
    }
}
