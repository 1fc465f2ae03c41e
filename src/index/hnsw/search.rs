//! Graph search: greedy descent through the upper layers and the beam search of one layer
//! (paper, Algorithms 2 and 5). Per-thread scratch (visited set, heaps, link buffers) is reused
//! across queries, so a search allocates only its result.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::HnswIndex;
use crate::bitmap::Bitmap;
use crate::index::scorer::Scorer;
use crate::index::visited::VisitedSet;
use crate::index::{Candidate, rescore};
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
    /// A filtered walk's second hop: the links of a neighbour outside the allowed set.
    hop: Vec<u32>,
    /// A filtered walk's allowed slots to score from one expansion.
    gathered: Vec<u32>,
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

/// Allowed slots, spread over the store, that seed a filtered walk besides the descent's end.
const FILTER_SEEDS: usize = 8;

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
    /// Calls `f(slot, distance)` for each of `slots`, four at a time (see `Scorer::dist4`)
    /// after prefetching them all, so their rows stream from memory together.
    #[inline(always)]
    pub(super) fn for_each_distance(q: &Scorer<'_>, slots: &[u32], mut f: impl FnMut(u32, f32)) {
        for &n in slots {
            q.prefetch(n);
        }
        let mut quads = slots.chunks_exact(4);
        for quad in &mut quads {
            for (&n, d) in quad.iter().zip(q.dist4([quad[0], quad[1], quad[2], quad[3]])) {
                f(n, d);
            }
        }
        for &n in quads.remainder() {
            f(n, q.dist(n));
        }
    }

    /// Greedy walk on one layer to the node closest to `q` (Algorithm 2 with ef = 1).
    pub(super) fn greedy_closest(
        &self,
        q: &Scorer<'_>,
        mut cur: Candidate,
        level: u8,
        links: &mut Vec<u32>,
    ) -> Candidate {
        loop {
            let mut moved = false;
            self.graph.links_into(cur.slot.0, level, links);
            Self::for_each_distance(q, links, |n, d| {
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
        q: &Scorer<'_>,
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
            Self::for_each_distance(q, &links, |n, d| {
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

    /// Beam search of layer 0 that only scores slots in `allowed` (ACORN-1, Patel et al.,
    /// "ACORN: Performant and Predicate-Agnostic Search Over Vector Embeddings and Structured
    /// Data", 2024): a neighbour outside the set is not scored, but its own neighbours are
    /// looked at instead, so the walk keeps to the matches yet crosses the gaps between them.
    /// Each expansion scores at most `2 * M` slots, as an unfiltered one does. `seeds` start
    /// the walk (they are scored whether allowed or not, but only allowed ones are results);
    /// `accept` has the last word on results. Leaves results in `s.found`.
    fn search_allowed(
        &self,
        q: &Scorer<'_>,
        ef: usize,
        (allowed, accept): (&Bitmap, &dyn Fn(Slot) -> bool),
        seeds: &[u32],
        s: &mut Scratch,
    ) {
        let cap = 2 * self.params.m;
        s.visited.reset(self.graph.len());
        s.candidates.clear();
        s.results.clear();
        for &seed in seeds {
            if s.visited.insert(seed) {
                let c = Candidate { dist: q.dist(seed), slot: Slot(seed) };
                s.candidates.push(Reverse(c));
                if allowed.contains(seed as usize) && accept(c.slot) {
                    s.results.push(c);
                }
            }
        }
        while s.results.len() > ef {
            s.results.pop();
        }
        let mut bound = match s.results.peek() {
            Some(top) if s.results.len() >= ef => top.dist,
            _ => f32::INFINITY,
        };
        while let Some(Reverse(c)) = s.candidates.pop() {
            if c.dist > bound {
                break;
            }
            s.gathered.clear();
            self.graph.links_into(c.slot.0, 0, &mut s.links);
            for &n in &s.links {
                if s.gathered.len() >= cap {
                    break;
                }
                if !s.visited.insert(n) {
                    continue;
                }
                if allowed.contains(n as usize) {
                    s.gathered.push(n);
                    continue;
                }
                self.graph.links_into(n, 0, &mut s.hop);
                for &m in &s.hop {
                    if s.gathered.len() >= cap {
                        break;
                    }
                    if allowed.contains(m as usize) && s.visited.insert(m) {
                        s.gathered.push(m);
                    }
                }
            }
            let gathered = std::mem::take(&mut s.gathered);
            Self::for_each_distance(q, &gathered, |n, d| {
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
            s.gathered = gathered;
        }
        s.found.clear();
        s.found.extend(s.results.drain());
        s.found.sort_unstable();
    }

    /// [`knn`](Self::knn) over the slots of `allowed` only: the upper layers are descended as
    /// usual, then layer 0 is walked with [`search_allowed`](Self::search_allowed), seeded with
    /// the descent's end and a few allowed slots spread over the store (so a filter whose
    /// matches all lie far from the query, in one corner of the space, is still reached).
    pub(super) fn knn_allowed(
        &self,
        store: &VectorStore,
        q: &Scorer<'_>,
        (k, ef): (usize, usize),
        allowed: &Bitmap,
        accept: &dyn Fn(Slot) -> bool,
        s: &mut Scratch,
    ) -> Vec<Candidate> {
        let Some((ep, top)) = self.graph.entry() else { return Vec::new() };
        let mut cur = Candidate { dist: q.dist(ep), slot: Slot(ep) };
        for level in (1..=top).rev() {
            cur = self.greedy_closest(q, cur, level, &mut s.links);
        }
        let mut seeds = [cur.slot.0; 1 + FILTER_SEEDS];
        let n = allowed.len();
        for (j, seed) in seeds[1..].iter_mut().enumerate() {
            if let Some(row) = allowed.next_at_or_after(j * n / FILTER_SEEDS) {
                *seed = row as u32;
            }
        }
        self.search_allowed(q, ef.max(k), (allowed, accept), &seeds, s);
        self.best_k(store, q, k, s)
    }

    /// The `k` best of `s.found` (rescored when the store keeps f32 rows behind int8 codes);
    /// equal distances rank by the user's id, as in exact search.
    fn best_k(&self, store: &VectorStore, q: &Scorer<'_>, k: usize, s: &mut Scratch) -> Vec<Candidate> {
        rescore(store, &self.distance, q.query(), &mut s.found, k);
        s.found.clone()
    }

    /// K-NN-SEARCH (Algorithm 5): the `k` closest accepted slots, closest first.
    pub(super) fn knn(
        &self,
        store: &VectorStore,
        q: &Scorer<'_>,
        (k, ef): (usize, usize),
        accept: impl Fn(Slot) -> bool,
        s: &mut Scratch,
    ) -> Vec<Candidate> {
        let Some((ep, top)) = self.graph.entry() else { return Vec::new() };
        let mut cur = Candidate { dist: q.dist(ep), slot: Slot(ep) };
        for level in (1..=top).rev() {
            cur = self.greedy_closest(q, cur, level, &mut s.links);
        }
        self.search_layer(q, Beam { entry: cur, ef: ef.max(k), level: 0 }, accept, s);
        self.best_k(store, q, k, s)
    }
}
