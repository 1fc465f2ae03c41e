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
