//! Compaction: dropping deleted rows and rebuilding the HNSW graph over the live ones, with the
//! slow part off the lock. Under the write lock, a [`Tracker`] starts recording which rows
//! change; under the read lock (searches go on) the live rows are copied; with no lock at all
//! the new graph is built; then, under the write lock again, the rows that changed meanwhile
//! are carried over (deletes, metadata, new records) and the new store and index swapped in.
//! Writers wait only for the copy and that last step.

use parking_lot::RwLockWriteGuard;

use super::Collection;
use crate::index::new_index;
use crate::store::{NO_SLOT, Slot};

/// Rows changed since a compaction took its copy.
pub(crate) struct Tracker {
    /// Rows at the time of the copy; rows past it were appended since.
    copied: usize,
    /// Rows below `copied` that were deleted or updated since.
    touched: Vec<u32>,
}

impl Tracker {
    /// Notes a change to `slot`.
    pub(super) fn touched(&mut self, slot: Slot) {
        if slot.index() < self.copied {
            self.touched.push(slot.0);
        }
    }
}

impl Collection {
    /// Starts a background compaction if tombstones have piled up (after a recovery, say).
    pub(crate) fn compact_if_needed(&self) {
        let state = self.inner.state.read();
        let needed = state.index.needs_compaction(&state.store);
        drop(state);
        if needed {
            self.compact_in_background();
        }
    }

    /// Drops deleted records' leftovers and rebuilds the index over live records. Runs on its
    /// own (on a background thread) once tombstones pass 30% of an HNSW collection; searches
    /// and writes go on while the index is rebuilt.
    pub fn compact(&self) {
        let _one = self.inner.compaction.lock();
        let (mut store, old_to_new) = {
            let mut state = self.inner.state.write();
            if state.store.tombstones() == 0 {
                return;
            }
            state.tracker = Some(Tracker { copied: state.store.slots(), touched: Vec::new() });
            let state = RwLockWriteGuard::downgrade(state);
            state.store.live_copy()
        };
        let mut index = new_index(self.config());
        index.insert(&store, 0..store.slots() as u32);

        let mut guard = self.inner.state.write();
        let state = &mut *guard;
        let Some(mut tracker) = state.tracker.take() else { return };
        tracker.touched.sort_unstable();
        tracker.touched.dedup();
        for &old in &tracker.touched {
            let new = old_to_new[old as usize];
            if new == NO_SLOT {
                continue;
            }
            if state.store.is_live(Slot(old)) {
                store.copy_attributes(&state.store, Slot(old), Slot(new));
            } else {
                index.remove(&mut store, Slot(new));
            }
        }
        let start = store.slots() as u32;
        for old in tracker.copied..state.store.slots() {
            let slot = Slot(old as u32);
            if state.store.is_live(slot) {
                store.push_from(&state.store, slot);
            }
        }
        index.insert(&store, start..store.slots() as u32);
        state.store = store;
        state.index = index;
    }
}
