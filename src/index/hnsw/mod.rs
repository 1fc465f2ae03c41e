//! HNSW (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs", 2016). Our own implementation: the graph holds
//! slots only and reads vectors from the collection's store, inserts run on every core, deletes
//! leave tombstones that searches walk through but never return, and the collection compacts
//! (rebuilds) once tombstones pass [`COMPACT_FRACTION`] of the slots.
//!
//! Filtered search comes in two kinds. With a metadata filter, the query carries the set of
//! allowed slots, counted exactly; a planner compares an exact scan of those slots with a
//! filtered walk that scores only allowed slots and crosses gaps between them through the
//! neighbours of disallowed neighbours (ACORN-1, see `search`). With only a predicate (a
//! document filter, expiry), a sample estimates the fraction `s` passing, and the planner
//! compares an exact scan with a walk through every node that returns only passing ones
//! (about `1/s` times the nodes of an unfiltered walk), as Qdrant does. Either walk that finds
//! fewer than `k` falls back to the exact scan, so a filtered search never returns fewer than
//! `k` when `k` records match.

mod build;
pub(crate) mod graph;
mod search;

use std::borrow::Cow;
use std::ops::Range;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use self::graph::{Graph, MAX_LEVEL};
use self::search::with_scratch;
use super::distance::Distance;
use super::flat::exact_scan;
use super::scorer::Scorer;
use super::{Candidate, Query, VectorIndex};
use crate::bitmap::Bitmap;
use crate::codes::Codes;
use crate::config::{HnswParams, IndexType};
use crate::store::{Slot, VectorStore};

/// Compact once this fraction of slots are tombstones.
pub(crate) const COMPACT_FRACTION: f64 = 0.3;
/// Records sampled to estimate a filter's selectivity.
const SELECTIVITY_SAMPLE: usize = 512;
/// Cost model, in units of one random-access distance: an unfiltered walk computes about this
/// many distances per unit of ef (measured on the benchmark data)...
const GRAPH_DISTANCES_PER_EF: f64 = 30.0;
/// ...a scan's filter check on a column costs about this much...
const SCAN_FILTER_COST: f64 = 0.05;
/// ...and a scan's distance, reading rows in order, about this much.
const SCAN_DISTANCE_COST: f64 = 0.5;
/// ...and a scan over an allowed set pays this much per 64 rows to find the set bits.
const SCAN_WORD_COST: f64 = 0.05;
/// How much cheaper than a scan a filtered walk must look to be chosen (see `scan_is_cheaper`).
const WALK_RECALL_MARGIN: f64 = 3.0;
/// Below this many live records a filtered search always scans: it is cheap and exact.
const EXACT_SCAN_MAX_ROWS: usize = 2_048;
/// Batches smaller than this are inserted on the calling thread.
const PARALLEL_INSERT_MIN: usize = 256;

pub(crate) struct HnswIndex {
    params: HnswParams,
    distance: Distance,
    graph: Graph,
    /// Level multiplier m_L = 1 / ln(M) (paper, section 4.1).
    level_mult: f64,
    rng: Mutex<SmallRng>,
}

impl HnswIndex {
    pub(crate) fn new(params: HnswParams, distance: Distance) -> Self {
        Self {
            params,
            distance,
            graph: Graph::new(params.m),
            level_mult: 1.0 / (params.m as f64).ln(),
            // A fixed seed makes single-threaded builds reproducible.
            rng: Mutex::new(SmallRng::seed_from_u64(0x5EED_0F4E)),
        }
    }

    /// An index over an existing graph (read from a snapshot and validated).
    pub(crate) fn with_graph(params: HnswParams, distance: Distance, graph: Graph) -> Self {
        Self { graph, ..Self::new(params, distance) }
    }

    /// Draws a node's top layer: floor(-ln(U) * m_L) (paper, Algorithm 1, line 4).
    fn random_level(level_mult: f64, rng: &mut SmallRng) -> u8 {
        let u: f64 = 1.0 - rng.random::<f64>();
        ((-u.ln() * level_mult) as u64).min(u64::from(MAX_LEVEL)) as u8
    }

    /// A query limited to the slots of `allowed`: an exact scan over them when they are few,
    /// else the filtered walk (see the module docs), falling back to the scan when the walk
    /// finds fewer than `k`.
    fn search_allowed_set(
        &self,
        store: &VectorStore,
        query: &Query<'_>,
        ef: usize,
        allowed: &Bitmap,
    ) -> Vec<Candidate> {
        let matches = allowed.count();
        if matches == 0 {
            return Vec::new();
        }
        if self.scan_is_cheaper(store.len(), matches, ef, row_costs(store)) {
            return exact_scan(store, &self.distance, query);
        }
        let accept = |slot: Slot| query.filter.is_none_or(|f| f(slot));
        let q = &Scorer::new(store, &self.distance, Cow::Borrowed(query.vector));
        let found = with_scratch(|s| self.knn_allowed(store, q, (query.k, ef), allowed, &accept, s));
        if found.len() < query.k.min(matches) { exact_scan(store, &self.distance, query) } else { found }
    }

    /// The planner for a query whose `matches` allowed slots out of `live` are known: a scan
    /// reads each match; the filtered walk costs about an unfiltered walk while a node's two
    /// hops (about `(2M)^2` slots) hold `2M` matches, and quadratically more below, where the
    /// matches stop being connected through two hops and the walk loses recall as well (at
    /// 1% of 1M records an ef-16 walk found 17% of the answer). As the walk's recall at a
    /// given ef is lower with a filter than without, and the scan's is exact, the walk must
    /// be clearly cheaper to be chosen.
    /// `(scan, walk)` scale both sides by the store's row encoding (see [`row_costs`]).
    fn scan_is_cheaper(&self, live: usize, matches: usize, ef: usize, (scan, walk): (f64, f64)) -> bool {
        if live <= EXACT_SCAN_MAX_ROWS {
            return true;
        }
        let fraction = matches as f64 / live as f64;
        let degree = 2.0 * self.params.m as f64;
        let sparsity = (1.0 / (fraction * degree)).max(1.0).powi(2);
        let walk = walk * WALK_RECALL_MARGIN * GRAPH_DISTANCES_PER_EF * ef as f64 * sparsity;
        let scan = live as f64 * SCAN_WORD_COST / 64.0 + scan * matches as f64 * SCAN_DISTANCE_COST;
        scan < walk
    }

    /// True when an exact scan should answer a filtered query (see the module docs).
    fn prefers_exact_scan(store: &VectorStore, ef: usize, accept: &dyn Fn(Slot) -> bool) -> bool {
        if store.len() <= EXACT_SCAN_MAX_ROWS {
            return true;
        }
        let n = store.slots();
        let (mut live, mut passing) = (0usize, 0usize);
        for j in 0..SELECTIVITY_SAMPLE {
            // A multiplicative hash spreads the sample so it cannot alias with periodic data.
            let slot = Slot(((j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % n as u64) as u32);
            if store.is_live(slot) {
                live += 1;
                passing += usize::from(accept(slot));
            }
        }
        if live == 0 {
            return true;
        }
        // Half a match keeps a sample with no hit from estimating zero.
        let fraction = (passing as f64 + 0.5) / live as f64;
        let (scan_row, walk_row) = row_costs(store);
        let graph = walk_row * GRAPH_DISTANCES_PER_EF * ef as f64 / fraction;
        let scan = store.len() as f64 * (SCAN_FILTER_COST + scan_row * SCAN_DISTANCE_COST * fraction);
        scan < graph
    }
}

/// What a row costs a scan and a walk, relative to f32 rows, as `vectorlite bench` measured
/// them (100k x 384, one thread): f16 rows scan at 0.7x (half the bytes, widened on the fly)
/// and walk at about 1x; int8 codes scan at 0.25x and walk at 0.65x (rescoring included).
fn row_costs(store: &VectorStore) -> (f64, f64) {
    match store.codes() {
        Codes::None => (1.0, 1.0),
        Codes::F16(_) => (0.7, 1.0),
        Codes::Int8(_) => (0.25, 0.65),
    }
}

impl VectorIndex for HnswIndex {
    fn index_type(&self) -> IndexType {
        IndexType::HNSW(self.params)
    }

    fn insert(&mut self, store: &VectorStore, new: Range<u32>) {
        let levels: Vec<u8> = {
            let (mult, rng) = (self.level_mult, self.rng.get_mut());
            new.clone().map(|_| Self::random_level(mult, rng)).collect()
        };
        self.graph.grow(&levels);
        let mut slots = new;
        if self.graph.entry().is_none() {
            // The first node becomes the entry point; inserting it alone avoids a race where
            // several threads each find an empty graph.
            if let Some(first) = slots.next() {
                with_scratch(|s| self.insert_node(store, first, s));
            }
        }
        let (start, n) = (slots.start as usize, slots.len());
        let this = &*self;
        if n < PARALLEL_INSERT_MIN {
            with_scratch(|s| slots.for_each(|slot| this.insert_node(store, slot, s)));
        } else {
            crate::parallel::for_each_chunk(n, 16, |chunk| {
                with_scratch(|s| chunk.for_each(|i| this.insert_node(store, (start + i) as u32, s)));
            });
            // Racing inserts can leave a node, or a small group, that no path from the entry
            // point reaches; give each one a way in.
            with_scratch(|s| self.repair_reachability(store, s));
        }
    }

    fn remove(&mut self, store: &mut VectorStore, slot: Slot) {
        store.tombstone(slot);
    }

    fn search(&self, store: &VectorStore, query: &Query<'_>) -> Vec<Candidate> {
        let ef = query.ef.unwrap_or(self.params.ef_search).max(query.k);
        if let Some(allowed) = query.allowed {
            return self.search_allowed_set(store, query, ef, allowed);
        }
        let q = &Scorer::new(store, &self.distance, Cow::Borrowed(query.vector));
        let Some(filter) = query.filter else {
            return with_scratch(|s| self.knn(store, q, (query.k, ef), |slot| store.is_live(slot), s));
        };
        let accept = |slot: Slot| store.is_live(slot) && filter(slot);
        if Self::prefers_exact_scan(store, ef, &accept) {
            return exact_scan(store, &self.distance, query);
        }
        let found = with_scratch(|s| self.knn(store, q, (query.k, ef), accept, s));
        if found.len() < query.k { exact_scan(store, &self.distance, query) } else { found }
    }

    fn graph(&self) -> Option<&Graph> {
        Some(&self.graph)
    }

    fn needs_compaction(&self, store: &VectorStore) -> bool {
        store.tombstones() as f64 > COMPACT_FRACTION * store.slots() as f64
    }

    fn memory_bytes(&self) -> usize {
        self.graph.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(n: usize) -> VectorStore {
        let mut s = VectorStore::new(1);
        for i in 0..n {
            s.push(i as u64, &[i as f32], None, None);
        }
        s
    }

    /// Regression: a node linked into an upper layer before its layer-0 links existed trapped
    /// concurrent inserts there, leaving small groups that no walk could find (about one build
    /// in fifteen on this data).
    #[test]
    fn parallel_builds_leave_every_node_reachable_and_findable() {
        use crate::config::SimilarityMetric;
        let recipe =
            crate::dataset::Recipe { n_base: 500, n_queries: 1, dim: 8, clusters: 15, sigma: 0.1, seed: 9 };
        let (base, _) = crate::dataset::clustered(&recipe);
        for round in 0..40 {
            let mut store = VectorStore::new(8);
            for (i, r) in base.rows().enumerate() {
                store.push(i as u64, r, None, None);
            }
            let params = HnswParams { m: 16, ef_construction: 100, ef_search: 64 };
            let mut index = HnswIndex::new(params, Distance::new(SimilarityMetric::Euclidean));
            index.insert(&store, 0..500);
            let unreachable = index.unreachable(&store);
            assert!(unreachable.is_empty(), "round {round}: unreachable nodes: {unreachable:?}");
            for slot in 0..500u32 {
                let query =
                    Query { vector: &store.vector(Slot(slot)), k: 1, ef: None, filter: None, allowed: None };
                assert_eq!(index.search(&store, &query)[0].slot, Slot(slot), "round {round}");
            }
        }
    }

    /// The filtered walk itself (not the planner's choice, which may scan): its results are
    /// all allowed, and close to the exact filtered answer, for a filter unrelated to where
    /// vectors lie, one holding the vectors of one corner of the space (far from most
    /// queries), and a sparser one (the planner scans below about 3%).
    #[test]
    fn the_filtered_walk_finds_the_allowed_neighbours() {
        use crate::config::SimilarityMetric;
        let recipe = crate::dataset::Recipe {
            n_base: 8_000,
            n_queries: 60,
            dim: 16,
            clusters: 60,
            sigma: 0.1,
            seed: 21,
        };
        let (base, queries) = crate::dataset::clustered(&recipe);
        let mut store = VectorStore::new(16);
        for (i, r) in base.rows().enumerate() {
            store.push(i as u64, r, None, None);
        }
        let params = HnswParams { m: 16, ef_construction: 100, ef_search: 64 };
        let mut index = HnswIndex::new(params, Distance::new(SimilarityMetric::Euclidean));
        index.insert(&store, 0..8_000);
        let n = store.slots();
        let mut firsts: Vec<f32> = base.rows().map(|r| r[0]).collect();
        firsts.sort_by(f32::total_cmp);
        let cut = firsts[n * 9 / 10];
        let set_of = |keep: &dyn Fn(usize) -> bool| {
            let mut b = Bitmap::new(n);
            (0..n).filter(|&i| keep(i)).for_each(|i| b.insert(i));
            std::sync::Arc::new(b)
        };
        let sets = [
            ("every 10th", set_of(&|i| i % 10 == 3)),
            ("corner", set_of(&|i| base.row(i)[0] >= cut)),
            ("every 20th", set_of(&|i| i % 20 == 0)),
        ];
        let mut checked = 0;
        for (name, allowed) in &sets {
            let (mut hit, mut total) = (0, 0);
            for q in queries.rows() {
                let exact = exact_scan(
                    &store,
                    &index.distance,
                    &Query { vector: q, k: 10, ef: None, filter: None, allowed: Some(allowed) },
                );
                let scorer = Scorer::new(&store, &index.distance, Cow::Borrowed(q));
                let walk =
                    with_scratch(|s| index.knn_allowed(&store, &scorer, (10, 64), allowed, &|_| true, s));
                assert!(
                    walk.iter().all(|c| allowed.contains(c.slot.index())),
                    "{name}: a result outside the set"
                );
                assert_eq!(exact.len(), 10);
                hit += walk.iter().filter(|c| exact.iter().any(|e| e.slot == c.slot)).count();
                total += 10;
                checked += 1;
            }
            let recall = hit as f64 / total as f64;
            println!("{name}: recall@10 of the filtered walk {recall:.3}");
            assert!(recall >= 0.9, "{name}: recall {recall} of the filtered walk");
        }
        assert_eq!(checked, 180);
    }

    #[test]
    fn planner_scans_for_selective_filters_and_walks_for_broad_ones() {
        let big = store(100_000);
        let scans =
            |percent: u64| HnswIndex::prefers_exact_scan(&big, 64, &|slot| big.id(slot) % 100 < percent);
        assert!(scans(1));
        assert!(scans(10));
        assert!(!scans(50));
        assert!(!scans(100));
        assert!(HnswIndex::prefers_exact_scan(&big, 64, &|_| false));
        // With the allowed set counted exactly: scan at 1%; at 10% walk for a narrow beam but
        // scan for a wide one (the walk must be clearly cheaper); walk at 50%.
        let index =
            HnswIndex::new(HnswParams::default(), Distance::new(crate::config::SimilarityMetric::Cosine));
        let f32_rows = (1.0, 1.0);
        assert!(index.scan_is_cheaper(100_000, 1_000, 16, f32_rows));
        assert!(index.scan_is_cheaper(1_000_000, 10_000, 16, f32_rows));
        assert!(!index.scan_is_cheaper(100_000, 10_000, 32, f32_rows));
        assert!(index.scan_is_cheaper(100_000, 10_000, 128, f32_rows));
        assert!(!index.scan_is_cheaper(100_000, 50_000, 128, f32_rows));
        assert!(index.scan_is_cheaper(EXACT_SCAN_MAX_ROWS, 1_000, 64, f32_rows));
        // Int8 codes make a scan of 10% cheaper than the ef-32 walk it loses to with f32 rows.
        assert!(index.scan_is_cheaper(100_000, 10_000, 32, (0.25, 0.65)));
        // Small collections always scan: it is cheap and exact.
        let small = store(EXACT_SCAN_MAX_ROWS);
        assert!(HnswIndex::prefers_exact_scan(&small, 64, &|_| true));
    }
}
