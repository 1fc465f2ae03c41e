//! Mutations: add, insert, upsert (single and batch), delete, metadata updates, compaction.
//! Everything is validated before the write lock is taken, so a rejected call changes nothing;
//! vector preparation (checks, normalisation) of batches runs in parallel, outside the lock.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use rayon::prelude::*;
use serde_json::Value;

use super::{Collection, LoggedRecord, NewRecord, Op, Record, State, Ticket, check_metadata, wait};
use crate::config::SimilarityMetric;
use crate::error::{Error, Result};
use crate::index::distance::normalize;
use crate::index::new_index;
use crate::persist::{ConflictPolicy, LoadOptions, MergeOptions, MergeStats};
use crate::store::MAX_SLOTS;

/// How a write treats ids.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdMode {
    /// The collection assigns fresh ids.
    Assign,
    /// Explicit ids that must be free.
    Insert,
    /// Explicit ids; an existing record is replaced.
    Upsert,
}

/// A validated record, ready for the store.
struct Prepared {
    id: Option<u64>,
    vector: Vec<f32>,
    text: Option<String>,
    metadata: Option<Value>,
}

/// Batches at least this large are prepared on every core.
const PARALLEL_PREPARE_MIN: usize = 512;

impl Collection {
    /// Adds a record and returns the id it was given. Ids come from a counter and are never reused.
    pub fn add(&self, vector: &[f32], text: Option<String>, metadata: Option<Value>) -> Result<u64> {
        self.write_one(None, IdMode::Assign, vector, text, metadata)
    }

    /// Adds a record under an explicit id; [`Error::IdExists`] if it is taken.
    pub fn insert(
        &self,
        id: u64,
        vector: &[f32],
        text: Option<String>,
        metadata: Option<Value>,
    ) -> Result<()> {
        self.write_one(Some(id), IdMode::Insert, vector, text, metadata).map(drop)
    }

    /// Inserts a record, or replaces vector, text and metadata of the record with this id.
    pub fn upsert(
        &self,
        id: u64,
        vector: &[f32],
        text: Option<String>,
        metadata: Option<Value>,
    ) -> Result<()> {
        self.write_one(Some(id), IdMode::Upsert, vector, text, metadata).map(drop)
    }

    fn write_one(
        &self,
        id: Option<u64>,
        mode: IdMode,
        vector: &[f32],
        text: Option<String>,
        metadata: Option<Value>,
    ) -> Result<u64> {
        let item = self.prepare(id, vector.to_vec(), text, metadata)?;
        Ok(self.write(vec![item], mode)?[0])
    }

    /// Adds many records at once and returns their ids in order. All or nothing: one invalid
    /// record rejects the batch. Uses every core for validation and HNSW linking.
    pub fn add_batch(&self, records: Vec<NewRecord>) -> Result<Vec<u64>> {
        let items = self.prepare_batch(records.into_iter().map(|r| (None, r)).collect())?;
        self.write(items, IdMode::Assign)
    }

    /// Inserts many records with explicit ids; all must be free and distinct.
    pub fn insert_batch(&self, records: Vec<Record>) -> Result<()> {
        let items = self.prepare_batch(records.into_iter().map(split_record).collect())?;
        self.write(items, IdMode::Insert).map(drop)
    }

    /// Upserts many records; when an id repeats, the last occurrence wins.
    pub fn upsert_batch(&self, records: Vec<Record>) -> Result<()> {
        let items = self.prepare_batch(records.into_iter().map(split_record).collect())?;
        self.write(items, IdMode::Upsert).map(drop)
    }

    /// Merges the records of the `.vlc` file at `path` into this collection (see [`MergeOptions`]).
    pub fn merge_from_file(
        &self,
        path: impl AsRef<std::path::Path>,
        options: &MergeOptions,
    ) -> Result<MergeStats> {
        let source = Collection::load_from_file(path, &LoadOptions { progress: options.progress.clone() })?;
        self.merge_from(&source, options.on_conflict)
    }

    /// Records of `source` fit this collection: same dimension and metric.
    pub(crate) fn check_mergeable(&self, source: &Collection) -> Result<()> {
        let (mine, theirs) = (self.config(), source.config());
        if mine.dimension != theirs.dimension {
            return Err(Error::DimensionMismatch { expected: mine.dimension, actual: theirs.dimension });
        }
        if mine.metric != theirs.metric {
            return Err(Error::MetricMismatch { expected: mine.metric, actual: theirs.metric });
        }
        Ok(())
    }

    /// Merges every live record of `source` into this collection under one write lock.
    pub(crate) fn merge_from(&self, source: &Collection, policy: ConflictPolicy) -> Result<MergeStats> {
        self.check_mergeable(source)?;
        let records: Vec<Record> = source.ids().into_iter().filter_map(|id| source.get(id).ok()).collect();
        let max_incoming = records.iter().map(|r| r.id).max();
        let mut items = self.prepare_batch(records.into_iter().map(split_record).collect())?;
        let mut stats = MergeStats::default();
        let mut guard = self.inner.state.write();
        let state = &mut *guard;
        if state.store.slots() + items.len() > MAX_SLOTS {
            return Err(Error::CapacityExceeded { capacity: MAX_SLOTS });
        }
        // Fresh ids start past every incoming id, so a remapped record never takes an id that
        // a later incoming record keeps.
        if let Some(max) = max_incoming {
            self.inner.next_id.fetch_max(max.saturating_add(1), Ordering::AcqRel);
        }
        let mut keep = Vec::with_capacity(items.len());
        for mut item in items.drain(..) {
            let id = item.id.unwrap_or_default();
            if state.store.slot_of(id).is_some() {
                match policy {
                    ConflictPolicy::Skip => {
                        stats.vectors_skipped += 1;
                        continue;
                    }
                    // Removed once the merge is logged, together with the rest of the write.
                    ConflictPolicy::Overwrite => {}
                    ConflictPolicy::Remap => {
                        let fresh = self.inner.next_id.fetch_add(1, Ordering::AcqRel);
                        if fresh == u64::MAX {
                            return Err(Error::IdSpaceExhausted);
                        }
                        stats.id_remappings.insert(id, fresh);
                        item.id = Some(fresh);
                    }
                }
            }
            keep.push(item);
        }
        let ids: Vec<u64> = keep.iter().map(|item| item.id.unwrap_or_default()).collect();
        let ticket = self.log_put(&keep, &ids)?;
        if policy == ConflictPolicy::Overwrite {
            for &id in &ids {
                if let Some(slot) = state.store.slot_of(id) {
                    state.index.remove(&mut state.store, slot);
                }
            }
        }
        stats.vectors_added = keep.len();
        self.apply(state, keep, &ids)?;
        drop(guard);
        wait(ticket)?;
        Ok(stats)
    }

    /// Deletes a record; [`Error::IdNotFound`] if there is none.
    pub fn delete(&self, id: u64) -> Result<()> {
        let mut guard = self.inner.state.write();
        let state = &mut *guard;
        let slot = state.store.slot_of(id).ok_or(Error::IdNotFound { id })?;
        let ticket = self.log(|uid| Op::Delete { uid, id })?;
        state.index.remove(&mut state.store, slot);
        self.compact_if_needed(state);
        self.changed();
        drop(guard);
        wait(ticket)
    }

    /// Replaces a record's metadata (`None` or JSON `null` clears it).
    pub fn update_metadata(&self, id: u64, metadata: Option<Value>) -> Result<()> {
        let metadata = check_metadata(metadata)?;
        let mut state = self.inner.state.write();
        let slot = state.store.slot_of(id).ok_or(Error::IdNotFound { id })?;
        let ticket = self.log(|uid| Op::Metadata { uid, id, metadata: metadata.clone() })?;
        state.store.set_metadata(slot, metadata);
        self.changed();
        drop(state);
        wait(ticket)
    }

    /// Drops deleted records' leftovers and rebuilds the index over live records. Runs on its
    /// own when tombstones pass 30% of an HNSW collection; searches wait while it runs.
    pub fn compact(&self) {
        let mut state = self.inner.state.write();
        self.rebuild(&mut state);
        self.changed();
    }

    /// Marks the collection changed.
    pub(super) fn changed(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn compact_if_needed(&self, state: &mut State) {
        if state.index.needs_compaction(&state.store) {
            self.rebuild(state);
        }
    }

    fn rebuild(&self, state: &mut State) {
        state.store.compact();
        let mut index = new_index(&self.inner.config);
        index.insert(&state.store, 0..state.store.slots() as u32);
        state.index = index;
    }

    fn prepare(
        &self,
        id: Option<u64>,
        mut vector: Vec<f32>,
        text: Option<String>,
        metadata: Option<Value>,
    ) -> Result<Prepared> {
        self.check_vector(&vector)?;
        if self.inner.config.metric == SimilarityMetric::Cosine {
            normalize(&mut vector);
        }
        Ok(Prepared { id, vector, text, metadata: check_metadata(metadata)? })
    }

    fn prepare_batch(&self, items: Vec<(Option<u64>, NewRecord)>) -> Result<Vec<Prepared>> {
        let prep = |(id, r): (Option<u64>, NewRecord)| self.prepare(id, r.vector, r.text, r.metadata);
        if items.len() >= PARALLEL_PREPARE_MIN {
            items.into_par_iter().map(prep).collect()
        } else {
            items.into_iter().map(prep).collect()
        }
    }

    /// Applies prepared records under one write lock; returns their ids in order.
    fn write(&self, mut items: Vec<Prepared>, mode: IdMode) -> Result<Vec<u64>> {
        let mut guard = self.inner.state.write();
        let state = &mut *guard;
        if state.store.slots() + items.len() > MAX_SLOTS {
            return Err(Error::CapacityExceeded { capacity: MAX_SLOTS });
        }
        if mode == IdMode::Upsert {
            dedup_keep_last(&mut items);
        }
        let ids = self.resolve_ids(state, &items, mode)?;
        let ticket = self.log_put(&items, &ids)?;
        if mode == IdMode::Upsert {
            // The new version takes a fresh slot; the old one goes the way the index deletes.
            for &id in &ids {
                if let Some(old) = state.store.slot_of(id) {
                    state.index.remove(&mut state.store, old);
                }
            }
        }
        self.apply(state, items, &ids)?;
        drop(guard);
        wait(ticket)?;
        Ok(ids)
    }

    /// Appends checked records under free ids to the store and the index.
    fn apply(&self, state: &mut State, items: Vec<Prepared>, ids: &[u64]) -> Result<()> {
        let start = state.store.slots() as u32;
        state.store.reserve(items.len());
        for (item, &id) in items.into_iter().zip(ids) {
            // Cannot fail: capacity was checked and ids were checked free.
            state.store.push(id, &item.vector, item.text, item.metadata)?;
        }
        let end = state.store.slots() as u32;
        state.index.insert(&state.store, start..end);
        self.compact_if_needed(state);
        self.changed();
        Ok(())
    }

    /// Logs records about to be written under `ids`, if the collection is durable.
    fn log_put(&self, items: &[Prepared], ids: &[u64]) -> Result<Option<Ticket>> {
        self.log(|uid| Op::Put {
            uid,
            records: items
                .iter()
                .zip(ids)
                .map(|(item, &id)| LoggedRecord {
                    id,
                    vector: item.vector.clone(),
                    text: item.text.clone(),
                    metadata: item.metadata.clone(),
                })
                .collect(),
        })
    }

    /// Replays logged records as upserts, exactly as stored (no second normalisation).
    pub(crate) fn replay_put(&self, records: Vec<LoggedRecord>) -> Result<()> {
        let dim = self.config().dimension;
        if let Some(bad) = records.iter().find(|r| r.vector.len() != dim) {
            return Err(Error::DimensionMismatch { expected: dim, actual: bad.vector.len() });
        }
        let items = records
            .into_iter()
            .map(|r| Prepared { id: Some(r.id), vector: r.vector, text: r.text, metadata: r.metadata })
            .collect();
        self.write(items, IdMode::Upsert).map(drop)
    }

    /// Ids for each item (assigned or explicit), checked against `mode`; advances the counter.
    fn resolve_ids(&self, state: &State, items: &[Prepared], mode: IdMode) -> Result<Vec<u64>> {
        let next = &self.inner.next_id;
        if mode == IdMode::Assign {
            let first = next.load(Ordering::Acquire);
            let end = first.checked_add(items.len() as u64).ok_or(Error::IdSpaceExhausted)?;
            next.store(end, Ordering::Release);
            return Ok((first..end).collect());
        }
        let ids: Vec<u64> = items.iter().map(|i| i.id.unwrap_or_default()).collect();
        if mode == IdMode::Insert {
            let mut seen = HashSet::with_capacity(ids.len());
            if let Some(&id) = ids.iter().find(|&&id| state.store.slot_of(id).is_some() || !seen.insert(id)) {
                return Err(Error::IdExists { id });
            }
        }
        if let Some(&max) = ids.iter().max() {
            // Explicit ids move the counter past them, so `add` never hands them out again;
            // u64::MAX leaves the counter there, which makes the next `add` fail cleanly.
            next.fetch_max(max.saturating_add(1), Ordering::AcqRel);
        }
        Ok(ids)
    }
}

/// Keeps only the last item for each explicit id, preserving order.
fn dedup_keep_last(items: &mut Vec<Prepared>) {
    let mut last: HashMap<u64, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(item.id.unwrap_or_default(), i);
    }
    if last.len() < items.len() {
        let mut i = 0;
        items.retain(|item| {
            i += 1;
            last.get(&item.id.unwrap_or_default()) == Some(&(i - 1))
        });
    }
}

fn split_record(r: Record) -> (Option<u64>, NewRecord) {
    (Some(r.id), NewRecord { vector: r.vector, text: r.text, metadata: r.metadata })
}
