//! The HNSW graph as flat arrays, ready to be written to disk as plain `u32`s:
//! - `levels[slot]`: the node's top layer;
//! - `layer0`: one block of `m0 + 1` words per slot, `[len, link_0, .., link_{m0-1}]`;
//! - `upper`: blocks of `m + 1` words for layers >= 1; a node's blocks start at `upper_start[slot]`.
//!
//! Links are atomics so inserts can run on several threads: a writer holds the node's lock while
//! rewriting its block; readers load without locking and may see a mix of old and new links,
//! every one of them a valid slot, which the search tolerates (as hnswlib does).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

use parking_lot::{Mutex, MutexGuard};

/// Highest layer a node can reach; with m >= 2 a level above this has probability < 2^-15.
pub(crate) const MAX_LEVEL: u8 = 15;
const NO_ENTRY: u64 = u64::MAX;
const NO_UPPER: u32 = u32::MAX;

/// What the file format writes of a graph, borrowed without copying the link arrays.
pub(crate) struct GraphView<'a> {
    pub m: u32,
    pub entry: Option<(u32, u8)>,
    pub levels: &'a [u8],
    pub layer0: &'a dyn Fn() -> Box<dyn Iterator<Item = u32> + 'a>,
    pub upper_start: &'a [u32],
    pub upper_words: usize,
    pub upper: &'a dyn Fn() -> Box<dyn Iterator<Item = u32> + 'a>,
}

/// A graph's arrays as read from a file; [`Graph::from_parts`] validates them before use.
pub(crate) struct GraphParts {
    pub m: u32,
    pub entry: Option<(u32, u8)>,
    pub levels: Vec<u8>,
    pub layer0: Vec<u32>,
    pub upper_start: Vec<u32>,
    pub upper: Vec<u32>,
}

pub(crate) struct Graph {
    m: usize,
    m0: usize,
    levels: Vec<u8>,
    layer0: Vec<AtomicU32>,
    upper_start: Vec<u32>,
    upper: Vec<AtomicU32>,
    /// The entry point packed as `level << 32 | slot`, or `NO_ENTRY`.
    entry: AtomicU64,
    locks: Vec<Mutex<()>>,
}

impl Graph {
    pub(crate) fn new(m: usize) -> Self {
        Self {
            m,
            m0: 2 * m,
            levels: Vec::new(),
            layer0: Vec::new(),
            upper_start: Vec::new(),
            upper: Vec::new(),
            entry: AtomicU64::new(NO_ENTRY),
            locks: Vec::new(),
        }
    }

    /// Nodes in the graph (equal to the store's slot count).
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    pub(crate) fn level(&self, slot: u32) -> u8 {
        self.levels[slot as usize]
    }

    /// Most links a node keeps on `level`.
    pub(crate) fn max_links(&self, level: u8) -> usize {
        if level == 0 { self.m0 } else { self.m }
    }

    /// Adds nodes for the next `levels.len()` slots, with no links yet.
    pub(crate) fn grow(&mut self, levels: &[u8]) {
        let n = self.levels.len() + levels.len();
        self.layer0.resize_with(n * (self.m0 + 1), || AtomicU32::new(0));
        for &level in levels {
            if level == 0 {
                self.upper_start.push(NO_UPPER);
            } else {
                let start = self.upper.len() / (self.m + 1);
                self.upper_start.push(start as u32);
                self.upper.resize_with((start + level as usize) * (self.m + 1), || AtomicU32::new(0));
            }
        }
        self.levels.extend_from_slice(levels);
        self.locks.resize_with(n, || Mutex::new(()));
    }

    /// The link block `[len, links..]` of `slot` on `level` (which must be <= its level).
    #[inline(always)]
    fn block(&self, slot: u32, level: u8) -> &[AtomicU32] {
        if level == 0 {
            let start = slot as usize * (self.m0 + 1);
            &self.layer0[start..start + self.m0 + 1]
        } else {
            let block = self.upper_start[slot as usize] as usize + level as usize - 1;
            let start = block * (self.m + 1);
            &self.upper[start..start + self.m + 1]
        }
    }

    /// Copies the links of `slot` on `level` into `out`.
    #[inline(always)]
    pub(crate) fn links_into(&self, slot: u32, level: u8, out: &mut Vec<u32>) {
        let block = self.block(slot, level);
        let len = (block[0].load(Relaxed) as usize).min(block.len() - 1);
        out.clear();
        out.extend(block[1..=len].iter().map(|a| a.load(Relaxed)));
    }

    /// Replaces the links of `slot` on `level`; the caller holds `lock(slot)`.
    pub(crate) fn set_links(&self, slot: u32, level: u8, links: impl ExactSizeIterator<Item = u32>) {
        let block = self.block(slot, level);
        let len = links.len().min(block.len() - 1);
        for (cell, link) in block[1..].iter().zip(links) {
            cell.store(link, Relaxed);
        }
        block[0].store(len as u32, Release);
    }

    /// Appends one link if there is room; the caller holds `lock(slot)`. False when full.
    pub(crate) fn try_push_link(&self, slot: u32, level: u8, link: u32) -> bool {
        let block = self.block(slot, level);
        let len = block[0].load(Relaxed) as usize;
        if len + 1 >= block.len() {
            return false;
        }
        block[len + 1].store(link, Relaxed);
        block[0].store(len as u32 + 1, Release);
        true
    }

    pub(crate) fn lock(&self, slot: u32) -> MutexGuard<'_, ()> {
        self.locks[slot as usize].lock()
    }

    /// The entry point and its level, if the graph has any node.
    pub(crate) fn entry(&self) -> Option<(u32, u8)> {
        let packed = self.entry.load(Acquire);
        (packed != NO_ENTRY).then_some((packed as u32, (packed >> 32) as u8))
    }

    /// Makes `slot` the entry point if the graph has none or its top level is lower.
    pub(crate) fn promote_entry(&self, slot: u32, level: u8) {
        let new = (u64::from(level) << 32) | u64::from(slot);
        let mut current = self.entry.load(Acquire);
        while current == NO_ENTRY || ((current >> 32) as u8) < level {
            match self.entry.compare_exchange_weak(current, new, AcqRel, Acquire) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Calls `f` with a read-only view for the file format.
    pub(crate) fn with_view<R>(&self, f: impl FnOnce(&GraphView<'_>) -> R) -> R {
        let layer0 = || -> Box<dyn Iterator<Item = u32> + '_> {
            Box::new(self.layer0.iter().map(|a| a.load(Relaxed)))
        };
        let upper =
            || -> Box<dyn Iterator<Item = u32> + '_> { Box::new(self.upper.iter().map(|a| a.load(Relaxed))) };
        f(&GraphView {
            m: self.m as u32,
            entry: self.entry(),
            levels: &self.levels,
            layer0: &layer0,
            upper_start: &self.upper_start,
            upper_words: self.upper.len(),
            upper: &upper,
        })
    }

    /// Rebuilds a graph from arrays read from a file, checking every invariant the search
    /// relies on (block sizes, link targets, levels, the entry point), so a corrupt cache is
    /// rejected here instead of misbehaving later.
    pub(crate) fn from_parts(p: GraphParts, m: usize) -> Result<Graph, String> {
        let n = p.levels.len();
        if p.m as usize != m {
            return Err(format!("graph was built with m = {}, the collection has m = {m}", p.m));
        }
        let (m0, stride0, stride) = (2 * m, 2 * m + 1, m + 1);
        if p.layer0.len() != n * stride0 || p.upper_start.len() != n || !p.upper.len().is_multiple_of(stride)
        {
            return Err("graph arrays have inconsistent lengths".into());
        }
        let check_block = |block: &[u32], max: usize| -> Result<(), String> {
            let len = block[0] as usize;
            if len > max || block[1..=len].iter().any(|&l| l as usize >= n) {
                return Err("a link list is too long or points past the last node".into());
            }
            Ok(())
        };
        for block in p.layer0.chunks_exact(stride0) {
            check_block(block, m0)?;
        }
        let blocks = p.upper.len() / stride;
        let mut expected_start = 0usize;
        for (slot, (&level, &start)) in p.levels.iter().zip(&p.upper_start).enumerate() {
            if level > MAX_LEVEL {
                return Err(format!("node {slot} has level {level} above {MAX_LEVEL}"));
            }
            if level == 0 {
                if start != NO_UPPER {
                    return Err(format!("node {slot} on layer 0 only has upper links"));
                }
                continue;
            }
            // Blocks are laid out in slot order, back to back.
            if start as usize != expected_start || expected_start + level as usize > blocks {
                return Err(format!("node {slot} has misplaced upper links"));
            }
            // A walk on layer L follows a link to its target's block on layer L: every target
            // must reach that layer, or the walk would read another node's links (or none).
            for layer in 1..=level {
                let block = &p.upper[(expected_start + layer as usize - 1) * stride..][..stride];
                check_block(block, m)?;
                let len = block[0] as usize;
                if let Some(&low) = block[1..=len].iter().find(|&&l| p.levels[l as usize] < layer) {
                    return Err(format!(
                        "node {slot} links on layer {layer} to node {low}, which is not on it"
                    ));
                }
            }
            expected_start += level as usize;
        }
        if expected_start != blocks {
            return Err("upper link blocks do not add up".into());
        }
        match p.entry {
            None if n > 0 => return Err("graph has nodes but no entry point".into()),
            Some((slot, level)) if slot as usize >= n || p.levels[slot as usize] != level => {
                return Err("entry point is not a node of its level".into());
            }
            _ => {}
        }
        let atomics = |v: Vec<u32>| v.into_iter().map(AtomicU32::new).collect::<Vec<_>>();
        let entry = p.entry.map_or(NO_ENTRY, |(slot, level)| (u64::from(level) << 32) | u64::from(slot));
        let mut locks = Vec::new();
        locks.resize_with(n, || Mutex::new(()));
        Ok(Graph {
            m,
            m0,
            levels: p.levels,
            layer0: atomics(p.layer0),
            upper_start: p.upper_start,
            upper: atomics(p.upper),
            entry: AtomicU64::new(entry),
            locks,
        })
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.levels.capacity()
            + (self.layer0.capacity() + self.upper.capacity() + self.upper_start.capacity()) * 4
            + self.locks.capacity() * size_of::<Mutex<()>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_blocks_are_separate_per_node_and_level() {
        let mut g = Graph::new(2);
        g.grow(&[0, 2, 1]);
        g.set_links(0, 0, [1, 2].into_iter());
        g.set_links(1, 1, [2].into_iter());
        g.set_links(1, 2, std::iter::empty());
        g.set_links(2, 1, [1].into_iter());
        let mut out = Vec::new();
        g.links_into(0, 0, &mut out);
        assert_eq!(out, [1, 2]);
        g.links_into(1, 1, &mut out);
        assert_eq!(out, [2]);
        g.links_into(2, 1, &mut out);
        assert_eq!(out, [1]);
        g.links_into(1, 0, &mut out);
        assert!(out.is_empty());
        assert!(g.try_push_link(0, 0, 2) && g.try_push_link(0, 0, 1));
        assert!(!g.try_push_link(0, 0, 1), "layer 0 holds 2 * m links");
        // Too many links are cut at capacity instead of overrunning the block.
        g.set_links(2, 1, [0, 1, 0, 1].into_iter());
        g.links_into(2, 1, &mut out);
        assert_eq!(out, [0, 1]);
    }

    #[test]
    fn parts_round_trip_and_corrupt_parts_are_rejected() {
        let mut g = Graph::new(2);
        g.grow(&[0, 1, 0]);
        g.set_links(0, 0, [1, 2].into_iter());
        g.set_links(1, 0, [0].into_iter());
        g.set_links(1, 1, std::iter::empty());
        g.promote_entry(1, 1);
        let parts = || {
            g.with_view(|v| GraphParts {
                m: v.m,
                entry: v.entry,
                levels: v.levels.to_vec(),
                layer0: (v.layer0)().collect(),
                upper_start: v.upper_start.to_vec(),
                upper: (v.upper)().collect(),
            })
        };
        let back = Graph::from_parts(parts(), 2).unwrap();
        let mut out = Vec::new();
        back.links_into(0, 0, &mut out);
        assert_eq!(out, [1, 2]);
        assert_eq!(back.entry(), Some((1, 1)));

        assert!(Graph::from_parts(parts(), 3).is_err(), "different m");
        let mut p = parts();
        p.layer0[1] = 9; // a link past the last node
        assert!(Graph::from_parts(p, 2).is_err());
        let mut p = parts();
        p.layer0[0] = 5; // longer than 2m
        assert!(Graph::from_parts(p, 2).is_err());
        let mut p = parts();
        p.entry = Some((0, 1)); // node 0 is not on layer 1
        assert!(Graph::from_parts(p, 2).is_err());
        let mut p = parts();
        p.levels[2] = 1; // claims upper links it does not have
        assert!(Graph::from_parts(p, 2).is_err());
        let mut p = parts();
        p.upper.pop();
        assert!(Graph::from_parts(p, 2).is_err());
        // Regression (hardening issue, defect 8): a crafted file with valid checksums linked an
        // upper layer to a node below it, and the search indexed past that node's blocks.
        let mut p = parts();
        p.upper[0] = 1; // node 1 links on layer 1 ...
        p.upper[1] = 0; // ... to node 0, which is on layer 0 only
        let err = Graph::from_parts(p, 2).err().expect("refused");
        assert!(err.contains("not on it"), "{err}");
    }

    #[test]
    fn entry_point_only_moves_up() {
        let mut g = Graph::new(4);
        g.grow(&[1, 3, 2]);
        assert_eq!(g.entry(), None);
        g.promote_entry(0, 1);
        g.promote_entry(1, 3);
        g.promote_entry(2, 2);
        assert_eq!(g.entry(), Some((1, 3)));
    }
}
