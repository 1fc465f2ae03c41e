//! Graph construction: INSERT (Algorithm 1) with the neighbour-selection heuristic
//! (Algorithm 4, without extending or keeping pruned candidates, as hnswlib does). Safe to run
//! on several threads at once: each node's links change only under that node's lock.

use super::HnswIndex;
use super::search::{Beam, Scratch};
use crate::index::Candidate;
use crate::store::{Slot, VectorStore};

impl HnswIndex {
    /// Links `slot`, whose vector is already in `store` and whose node already exists.
    pub(super) fn insert_node(&self, store: &VectorStore, slot: u32, s: &mut Scratch) {
        let level = self.graph.level(slot);
        let Some((ep, top)) = self.graph.entry() else {
            self.graph.promote_entry(slot, level);
            return;
        };
        let q = store.vector(Slot(slot));
        let mut cur = Candidate { dist: self.dist(store, q, ep), slot: Slot(ep) };
        for lc in (level.saturating_add(1)..=top).rev() {
            cur = self.greedy_closest(store, q, cur, lc, &mut s.links);
        }
        for lc in (0..=level.min(top)).rev() {
            // Tombstones guide the walk but never become new neighbours.
            let beam = Beam { entry: cur, ef: self.params.ef_construction, level: lc };
            self.search_layer(store, q, beam, |n| store.is_live(n), s);
            // Another thread may already have linked to this node on a layer above.
            s.found.retain(|c| c.slot.0 != slot);
            self.select_neighbours(store, &s.found, self.params.m, &mut s.selected);
            {
                let _guard = self.graph.lock(slot);
                self.graph.set_links(slot, lc, s.selected.iter().map(|c| c.slot.0));
            }
            let selected = std::mem::take(&mut s.selected);
            for c in &selected {
                self.connect(store, c.slot.0, Candidate { dist: c.dist, slot: Slot(slot) }, lc, s);
            }
            s.selected = selected;
            if let Some(&closest) = s.found.first() {
                cur = closest;
            }
        }
        if level > top {
            self.graph.promote_entry(slot, level);
        }
    }

    /// Live nodes other than the entry point that no node links to on layer 0.
    pub(super) fn orphans(&self, store: &VectorStore) -> Vec<u32> {
        let n = self.graph.len();
        let mut linked = vec![false; n];
        let mut links = Vec::new();
        for slot in 0..n as u32 {
            self.graph.links_into(slot, 0, &mut links);
            links.iter().for_each(|&l| linked[l as usize] = true);
        }
        if let Some((entry, _)) = self.graph.entry() {
            linked[entry as usize] = true;
        }
        (0..n as u32).filter(|&s| !linked[s as usize] && store.is_live(Slot(s))).collect()
    }

    /// Gives every orphan an incoming link on layer 0: it joins the list of its nearest
    /// linked neighbour, replacing that list's farthest entry when full. The replaced node may
    /// become an orphan in turn, so this repeats a few rounds (in practice one suffices).
    pub(super) fn repair_orphans(&self, store: &VectorStore, s: &mut Scratch) {
        for _ in 0..4 {
            let orphans = self.orphans(store);
            if orphans.is_empty() {
                return;
            }
            for x in orphans {
                let q = store.vector(Slot(x));
                let Some((ep, top)) = self.graph.entry() else { return };
                let mut cur = Candidate { dist: self.dist(store, q, ep), slot: Slot(ep) };
                for level in (1..=top).rev() {
                    cur = self.greedy_closest(store, q, cur, level, &mut s.links);
                }
                let beam = Beam { entry: cur, ef: self.params.ef_construction, level: 0 };
                self.search_layer(store, q, beam, |n| n.0 != x && store.is_live(n), s);
                let Some(&host) = s.found.first() else { continue };
                let _guard = self.graph.lock(host.slot.0);
                if self.graph.try_push_link(host.slot.0, 0, x) {
                    continue;
                }
                let hv = store.vector(host.slot);
                self.graph.links_into(host.slot.0, 0, &mut s.links);
                let farthest = s
                    .links
                    .iter()
                    .enumerate()
                    .max_by(|a, b| self.dist(store, hv, *a.1).total_cmp(&self.dist(store, hv, *b.1)));
                if let Some((i, _)) = farthest {
                    s.links[i] = x;
                    self.graph.set_links(host.slot.0, 0, s.links.iter().copied());
                }
            }
        }
    }

    /// SELECT-NEIGHBORS-HEURISTIC: walks `candidates` (closest first) and keeps one only if it
    /// is closer to the base than to every neighbour kept so far, which spreads links across
    /// directions and keeps clusters connected.
    fn select_neighbours(
        &self,
        store: &VectorStore,
        candidates: &[Candidate],
        m: usize,
        out: &mut Vec<Candidate>,
    ) {
        out.clear();
        if candidates.len() <= m {
            out.extend_from_slice(candidates);
            return;
        }
        for &c in candidates {
            if out.len() >= m {
                break;
            }
            let cv = store.vector(c.slot);
            if out.iter().all(|r| self.distance.distance(cv, store.vector(r.slot)) >= c.dist) {
                out.push(c);
            }
        }
    }

    /// Adds the reverse link `node -> new` on `level`, shrinking `node`'s links with the
    /// heuristic when full (Algorithm 1, lines 11-16).
    fn connect(&self, store: &VectorStore, node: u32, new: Candidate, level: u8, s: &mut Scratch) {
        let _guard = self.graph.lock(node);
        if self.graph.try_push_link(node, level, new.slot.0) {
            return;
        }
        let nv = store.vector(Slot(node));
        self.graph.links_into(node, level, &mut s.links);
        s.pruned.clear();
        s.pruned.push(new);
        let pruned = &mut s.pruned;
        self.for_each_distance(store, nv, &s.links, |l, dist| pruned.push(Candidate { dist, slot: Slot(l) }));
        s.pruned.sort_unstable();
        self.select_neighbours(store, &s.pruned, self.graph.max_links(level), &mut s.kept);
        self.graph.set_links(node, level, s.kept.iter().map(|c| c.slot.0));
    }
}
