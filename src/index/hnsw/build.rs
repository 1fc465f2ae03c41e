//! Graph construction: INSERT (Algorithm 1) with the neighbour-selection heuristic
//! (Algorithm 4, without extending or keeping pruned candidates, as hnswlib does). Safe to run
//! on several threads at once: each node's links change only under that node's lock.

use super::HnswIndex;
use super::search::{Beam, Scratch};
use crate::index::Candidate;
use crate::index::scorer::Scorer;
use crate::store::{Slot, VectorStore};

impl HnswIndex {
    /// Links `slot`, whose vector is already in `store` and whose node already exists.
    pub(super) fn insert_node(&self, store: &VectorStore, slot: u32, s: &mut Scratch) {
        let level = self.graph.level(slot);
        let Some((ep, top)) = self.graph.entry() else {
            self.graph.promote_entry(slot, level);
            return;
        };
        let q = &Scorer::for_row(store, &self.distance, Slot(slot));
        let mut cur = Candidate { dist: q.dist(ep), slot: Slot(ep) };
        for lc in (level.saturating_add(1)..=top).rev() {
            cur = self.greedy_closest(q, cur, lc, &mut s.links);
        }
        // Link the new node on every layer before any node links back to it: a node reachable
        // on an upper layer before it has lower-layer links would trap concurrent walks there,
        // and nodes inserted meanwhile would get nothing but it as neighbours.
        let layers = usize::from(level.min(top)) + 1;
        let mut selected = std::mem::take(&mut s.selected);
        selected.resize_with(layers.max(selected.len()), Vec::new);
        for lc in (0..layers as u8).rev() {
            // Tombstones guide the walk but do not become new neighbours, unless the walk
            // reaches nothing else: a node linked to nothing could never be found.
            let beam = Beam { entry: cur, ef: self.params.ef_construction, level: lc };
            self.search_layer(q, beam, |n| store.is_live(n), s);
            s.found.retain(|c| c.slot.0 != slot);
            if s.found.is_empty() {
                let beam = Beam { entry: cur, ef: self.params.ef_construction, level: lc };
                self.search_layer(q, beam, |_| true, s);
                s.found.retain(|c| c.slot.0 != slot);
            }
            let chosen = &mut selected[usize::from(lc)];
            self.select_neighbours(store, &s.found, self.params.m, chosen);
            {
                let _guard = self.graph.lock(slot);
                self.graph.set_links(slot, lc, chosen.iter().map(|c| c.slot.0));
            }
            if let Some(&closest) = s.found.first() {
                cur = closest;
            }
        }
        for (lc, chosen) in selected[..layers].iter().enumerate() {
            for c in chosen {
                self.connect(store, c.slot.0, Candidate { dist: c.dist, slot: Slot(slot) }, lc as u8, s);
            }
        }
        s.selected = selected;
        if level > top {
            self.graph.promote_entry(slot, level);
        }
    }

    /// Marks every node a layer-0 walk from the entry point can reach, starting from `from`
    /// (tombstones included: searches walk through them).
    fn mark_reachable(&self, from: u32, reached: &mut [bool], links: &mut Vec<u32>) {
        let mut stack = vec![from];
        reached[from as usize] = true;
        while let Some(node) = stack.pop() {
            self.graph.links_into(node, 0, links);
            for &l in links.iter() {
                if !std::mem::replace(&mut reached[l as usize], true) {
                    stack.push(l);
                }
            }
        }
    }

    /// Live nodes that no layer-0 path from the entry point reaches.
    pub(super) fn unreachable(&self, store: &VectorStore) -> Vec<u32> {
        let mut reached = vec![false; self.graph.len()];
        if let Some((entry, _)) = self.graph.entry() {
            self.mark_reachable(entry, &mut reached, &mut Vec::new());
        }
        (0..self.graph.len() as u32).filter(|&s| !reached[s as usize] && store.is_live(Slot(s))).collect()
    }

    /// Gives every unreachable node a way in: it joins the layer-0 list of its nearest reachable
    /// node, replacing that list's farthest entry when full. Whatever the newcomer links to
    /// becomes reachable with it, so a stranded group needs one link. A replaced link may strand
    /// another node, so this repeats a few rounds (in practice one suffices).
    pub(super) fn repair_reachability(&self, store: &VectorStore, s: &mut Scratch) {
        for _ in 0..4 {
            let stranded = self.unreachable(store);
            if stranded.is_empty() {
                return;
            }
            let Some((ep, top)) = self.graph.entry() else { return };
            let mut reached = vec![true; self.graph.len()];
            stranded.iter().for_each(|&x| reached[x as usize] = false);
            for x in stranded {
                if reached[x as usize] {
                    continue;
                }
                let q = &Scorer::for_row(store, &self.distance, Slot(x));
                let start = Candidate { dist: q.dist(ep), slot: Slot(ep) };
                let mut cur = start;
                for level in (1..=top).rev() {
                    cur = self.greedy_closest(q, cur, level, &mut s.links);
                }
                // The upper layers may lead into the stranded group itself.
                let entry = if reached[cur.slot.index()] { cur } else { start };
                let beam = Beam { entry, ef: self.params.ef_construction, level: 0 };
                self.search_layer(q, beam, |n| reached[n.index()] && store.is_live(n), s);
                let Some(&host) = s.found.first() else { continue };
                {
                    let _guard = self.graph.lock(host.slot.0);
                    if !self.graph.try_push_link(host.slot.0, 0, x) {
                        let hv = Scorer::for_row(store, &self.distance, host.slot);
                        self.graph.links_into(host.slot.0, 0, &mut s.links);
                        let farthest =
                            s.links.iter().enumerate().max_by(|a, b| hv.dist(*a.1).total_cmp(&hv.dist(*b.1)));
                        if let Some((i, _)) = farthest {
                            s.links[i] = x;
                            self.graph.set_links(host.slot.0, 0, s.links.iter().copied());
                        }
                    }
                }
                self.mark_reachable(x, &mut reached, &mut s.links);
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
            let cv = Scorer::for_row(store, &self.distance, c.slot);
            if out.iter().all(|r| cv.dist(r.slot.0) >= c.dist) {
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
        let nv = Scorer::for_row(store, &self.distance, Slot(node));
        self.graph.links_into(node, level, &mut s.links);
        s.pruned.clear();
        s.pruned.push(new);
        let pruned = &mut s.pruned;
        Self::for_each_distance(&nv, &s.links, |l, dist| pruned.push(Candidate { dist, slot: Slot(l) }));
        s.pruned.sort_unstable();
        self.select_neighbours(store, &s.pruned, self.graph.max_links(level), &mut s.kept);
        self.graph.set_links(node, level, s.kept.iter().map(|c| c.slot.0));
    }
}
