//! The one write path. [`Collection::commit`] is how every public mutation changes a
//! collection: plan a [`Change`] under the write lock, log it, [`State::apply`] it, release the
//! lock, wait for the log. [`Collection::apply_replayed`] is how recovery changes it: the same
//! `apply`, after checking the logged change the way a file is checked. Adding a mutation means
//! adding a `Change` variant, its encoding in `oplog`, and its arm in `apply`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::{Collection, State, wait};
use crate::config::CollectionConfig;
use crate::error::{Error, Result};
use crate::index::new_index;
use crate::persist::oplog::{self, Change, LoggedRecord, Op};
use crate::store::{MAX_SLOTS, Slot, VectorStore};

impl State {
    /// A state with no records.
    pub(super) fn empty(config: &CollectionConfig) -> State {
        State {
            store: VectorStore::for_config(config),
            index: new_index(config),
            next_id: 0,
            embedding_model: None,
            tracker: None,
            text: crate::fulltext::index::TextIndex::new(&config.text),
        }
    }

    /// Checks what applying `change` needs from the state and makes room for its new rows
    /// (an on-disk file grows here, where a full disk is still an error); once this passes,
    /// [`apply`](Self::apply) cannot fail.
    pub(super) fn check(&mut self, change: &Change) -> Result<()> {
        if let Change::Put { records, .. } = change {
            if self.store.slots().saturating_add(records.len()) > MAX_SLOTS {
                return Err(Error::CapacityExceeded { capacity: MAX_SLOTS });
            }
            self.store.try_reserve_rows(records.len()).map_err(|e| {
                let dir = self.store.rows_dir().unwrap_or(std::path::Path::new("")).to_owned();
                Error::Persistence(crate::persist::PersistenceError::io(dir, e))
            })?;
        }
        Ok(())
    }

    /// Applies a checked change; returns how many records it wrote, removed or updated.
    pub(super) fn apply(&mut self, change: Change) -> usize {
        match change {
            Change::Put { mut records, next_id } => {
                keep_last_per_id(&mut records);
                for r in &records {
                    if let Some(old) = self.store.slot_of(r.id) {
                        self.remove(old);
                    }
                }
                let start = self.store.slots() as u32;
                self.store.reserve_for(records.iter().map(|r| &r.vector[..]));
                let written = records.len();
                let top = records.iter().map(|r| r.id.saturating_add(1)).max().unwrap_or(0);
                for r in records {
                    if let Some(text) = &r.text {
                        self.text.add(r.id, text);
                    }
                    // Room was checked, and every id is free now.
                    self.store.push_timed(r.id, &r.vector, r.text, r.metadata, r.times);
                }
                let end = self.store.slots() as u32;
                self.index.insert(&self.store, start..end);
                self.next_id = self.next_id.max(next_id).max(top);
                written
            }
            Change::Delete { ids } => {
                let mut removed = 0;
                for id in ids {
                    if let Some(slot) = self.store.slot_of(id) {
                        self.remove(slot);
                        removed += 1;
                    }
                }
                removed
            }
            Change::Metadata { id, metadata } => match self.store.slot_of(id) {
                Some(slot) => {
                    self.touch(slot);
                    self.store.set_metadata(slot, metadata);
                    1
                }
                None => 0,
            },
            Change::Model { model } => {
                if self.embedding_model.is_none() {
                    self.embedding_model = Some(model);
                }
                1
            }
        }
    }

    /// Removes a live row the way the index needs (HNSW leaves a tombstone, Flat swaps the last
    /// row in), telling a running compaction.
    fn remove(&mut self, slot: Slot) {
        self.touch(slot);
        if let Some(text) = self.store.text(slot) {
            self.text.remove(self.store.id(slot), text);
        }
        self.index.remove(&mut self.store, slot);
    }

    /// Notes that row `slot` changed, for a compaction running off the lock.
    fn touch(&mut self, slot: Slot) {
        if let Some(t) = &mut self.tracker {
            t.touched(slot);
        }
    }
}

/// Every live record of `store` in stored form, by id.
pub(super) fn stored_records(store: &VectorStore) -> Vec<LoggedRecord> {
    let mut slots: Vec<Slot> = store.live_slots().collect();
    slots.sort_unstable_by_key(|&s| store.id(s));
    slots
        .into_iter()
        .map(|s| LoggedRecord {
            id: store.id(s),
            vector: store.vector(s).to_vec(),
            text: store.text(s).map(str::to_owned),
            metadata: store.metadata(s).cloned(),
            times: store.times(s),
        })
        .collect()
}

/// Keeps only the last record for each id, preserving order.
fn keep_last_per_id(records: &mut Vec<LoggedRecord>) {
    let mut last: HashMap<u64, usize> = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(r.id, i);
    }
    if last.len() < records.len() {
        let mut i = 0;
        records.retain(|r| {
            i += 1;
            last.get(&r.id) == Some(&(i - 1))
        });
    }
}

impl Collection {
    /// The one write path. `plan` looks at the current state under the write lock and returns
    /// the change to make (`None`: nothing to do) and the caller's answer, or an error, and then
    /// nothing changes. The change is logged (in a durable database), applied, the lock is
    /// released, and the call returns once the log has it.
    pub(super) fn commit<T>(&self, plan: impl FnOnce(&State) -> Result<(Option<Change>, T)>) -> Result<T> {
        let mut state = self.inner.state.write();
        let (change, answer) = plan(&state)?;
        let Some(change) = change else { return Ok(answer) };
        state.check(&change)?;
        let log = self.inner.log.read().clone();
        let (change, ticket) = match log {
            Some(wal) => {
                let op = Op::Write { uid: self.uid(), change };
                let encoded = op.encode().map_err(|e| crate::config::invalid("record", e.to_string()))?;
                let ticket = oplog::log(&wal, &encoded)?;
                let Op::Write { change, .. } = op else { unreachable!("built as a write just above") };
                (change, Some(ticket))
            }
            None => (change, None),
        };
        state.apply(change);
        self.changed();
        let compact = state.index.needs_compaction(&state.store);
        let expiring = state.store.has_expiring();
        drop(state);
        if expiring {
            self.watch_expiry();
        }
        if compact {
            self.compact_in_background();
        }
        wait(ticket)?;
        Ok(answer)
    }

    /// Applies a change read from the log, after checking it as strictly as a file is checked
    /// (a damaged or hostile log must not corrupt the collection or panic).
    pub(crate) fn apply_replayed(&self, change: Change) -> Result<()> {
        if let Change::Put { records, .. } = &change {
            self.check_stored(records)?;
        }
        let mut state = self.inner.state.write();
        state.check(&change)?;
        state.apply(change);
        self.changed();
        drop(state);
        self.watch_expiry();
        Ok(())
    }

    /// Checks records in their stored form: the right dimension, finite values within range,
    /// entries within the format's limits.
    pub(super) fn check_stored(&self, records: &[LoggedRecord]) -> Result<()> {
        let c = self.config();
        for r in records {
            // Stored cosine vectors are unit length; a zero one cannot be compared.
            crate::vector::check(&r.vector, c)?;
            crate::config::check_text(&r.text)?;
            crate::config::check_metadata(r.metadata.clone())?;
        }
        Ok(())
    }

    /// A collection re-created from a logged [`Op::Create`], with its records.
    pub(crate) fn restore(
        uid: u64,
        name: &str,
        config: CollectionConfig,
        created_at: String,
        next_id: u64,
        model: Option<String>,
        records: Vec<LoggedRecord>,
    ) -> Result<Collection> {
        crate::config::validate_collection_name(name)?;
        config.validate()?;
        let c = Collection::from_state(name.to_owned(), config, created_at, State::empty(&config));
        c.set_identity(uid, 0);
        c.check_stored(&records)?;
        {
            let mut state = c.inner.state.write();
            let put = Change::Put { records, next_id };
            state.check(&put)?;
            state.apply(put);
            state.embedding_model = model;
        }
        c.watch_expiry();
        Ok(c)
    }

    /// The op that re-creates this collection, records and all, under `uid`.
    pub(crate) fn creation_op(&self, uid: u64) -> Op {
        let state = self.inner.state.read();
        let records = stored_records(&state.store);
        Op::Create {
            uid,
            name: self.name().to_owned(),
            config: *self.config(),
            created_at: self.created_at().to_owned(),
            next_id: state.next_id,
            model: state.embedding_model.clone(),
            records,
        }
    }

    /// Marks the collection changed.
    pub(super) fn changed(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Rebuilds the index on a background thread (one at a time), so the write that crossed
    /// the tombstone threshold does not pay for it.
    pub(crate) fn compact_in_background(&self) {
        if self.inner.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("vectorlite-compact".into()).spawn(move || {
            me.compact();
            me.inner.compacting.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.inner.compacting.store(false, Ordering::Release);
            tracing::warn!("cannot start a compaction thread; compacting on this one");
            self.compact();
        }
    }
}
