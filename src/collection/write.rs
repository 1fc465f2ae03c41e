//! Mutations: add, insert, upsert (single and batch), merge, delete, metadata updates. Input is
//! validated (and, for batches, prepared on every core) before the write lock is taken; under
//! it, each call only plans its [`Change`] and commits it (see `apply.rs`), so a rejected call
//! changes nothing.

use std::collections::HashSet;

use rayon::prelude::*;
use serde_json::Value;

use super::{Collection, Expiry, NewRecord, Record, State};
use crate::error::{Error, Result};
use crate::persist::oplog::{Change, LoggedRecord};
use crate::persist::{ConflictPolicy, LoadOptions, MergeOptions, MergeStats};
use crate::store::{NEVER, Times};

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

/// Batches at least this large are prepared on every core.
const PARALLEL_PREPARE_MIN: usize = 512;

impl Collection {
    /// Adds a record and returns the id it was given. Ids come from a counter and are never reused.
    pub fn add(&self, vector: &[f32], text: Option<String>, metadata: Option<Value>) -> Result<u64> {
        let record = NewRecord { vector: vector.to_vec(), text, metadata, expiry: None };
        Ok(self.add_batch(vec![record])?[0])
    }

    /// Adds a record under an explicit id; [`Error::IdExists`] if it is taken.
    pub fn insert(
        &self,
        id: u64,
        vector: &[f32],
        text: Option<String>,
        metadata: Option<Value>,
    ) -> Result<()> {
        let record = NewRecord { vector: vector.to_vec(), text, metadata, expiry: None };
        self.write(vec![self.prepare(id, record, self.now_ms())?], IdMode::Insert).map(drop)
    }

    /// Inserts a record, or replaces vector, text and metadata of the record with this id.
    pub fn upsert(
        &self,
        id: u64,
        vector: &[f32],
        text: Option<String>,
        metadata: Option<Value>,
    ) -> Result<()> {
        let record = NewRecord { vector: vector.to_vec(), text, metadata, expiry: None };
        self.write(vec![self.prepare(id, record, self.now_ms())?], IdMode::Upsert).map(drop)
    }

    /// Adds many records at once and returns their ids in order. All or nothing: one invalid
    /// record rejects the batch. Uses every core for validation and HNSW linking.
    pub fn add_batch(&self, records: Vec<NewRecord>) -> Result<Vec<u64>> {
        let items = self.prepare_batch(records.into_iter().map(|r| (0, r)).collect())?;
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

    /// Writes records under explicit ids, each with its own expiry: inserts (every id must be
    /// free) or, with `upsert`, inserts or replaces. All or nothing.
    pub fn write_with_ids(&self, records: Vec<(u64, NewRecord)>, upsert: bool) -> Result<()> {
        let items = self.prepare_batch(records)?;
        self.write(items, if upsert { IdMode::Upsert } else { IdMode::Insert }).map(drop)
    }

    /// Merges the records of the `.vlc` file at `path` into this collection (see [`MergeOptions`]).
    pub fn merge_from_file(
        &self,
        path: impl AsRef<std::path::Path>,
        options: &MergeOptions,
    ) -> Result<MergeStats> {
        let load = LoadOptions { progress: options.progress.clone(), ..LoadOptions::default() };
        let source = Collection::load_from_file(path, &load)?;
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

    /// Merges every live record of `source` into this collection as one logged write.
    pub(crate) fn merge_from(&self, source: &Collection, policy: ConflictPolicy) -> Result<MergeStats> {
        self.check_mergeable(source)?;
        let records = super::apply::stored_records(&source.inner.state.read().store);
        self.commit(|state| {
            let mut stats = MergeStats::default();
            // Fresh ids start past every id either side has used, so a remapped record never
            // takes an id that a later incoming record keeps.
            let incoming_top = records.iter().map(|r| r.id.saturating_add(1)).max().unwrap_or(0);
            let mut fresh = state.next_id.max(incoming_top);
            let mut kept = Vec::with_capacity(records.len());
            for mut r in records {
                if state.store.slot_of(r.id).is_some() {
                    match policy {
                        ConflictPolicy::Skip => {
                            stats.vectors_skipped += 1;
                            continue;
                        }
                        ConflictPolicy::Overwrite => {}
                        ConflictPolicy::Remap => {
                            if fresh == u64::MAX {
                                return Err(Error::IdSpaceExhausted);
                            }
                            stats.id_remappings.insert(r.id, fresh);
                            r.id = fresh;
                            fresh += 1;
                        }
                    }
                }
                kept.push(r);
            }
            stats.vectors_added = kept.len();
            let next_id = fresh.max(incoming_top);
            Ok((Some(Change::Put { records: kept, next_id }), stats))
        })
    }

    /// Deletes a record; [`Error::IdNotFound`] if there is none.
    pub fn delete(&self, id: u64) -> Result<()> {
        self.commit(|state| {
            state.store.slot_of(id).ok_or(Error::IdNotFound { id })?;
            Ok((Some(Change::Delete { ids: vec![id] }), ()))
        })
    }

    /// Replaces a record's metadata (`None` or JSON `null` clears it).
    pub fn update_metadata(&self, id: u64, metadata: Option<Value>) -> Result<()> {
        let metadata = crate::config::check_metadata(metadata)?;
        self.commit(|state| {
            state.store.slot_of(id).ok_or(Error::IdNotFound { id })?;
            Ok((Some(Change::Metadata { id, metadata }), ()))
        })
    }

    /// Checks a record and brings it to the stored form: the vector at unit length under
    /// cosine, stamped with `now`, and its expiry made absolute.
    pub(super) fn prepare(&self, id: u64, r: NewRecord, now: u64) -> Result<LoggedRecord> {
        let mut vector = r.vector;
        self.check_vector(&vector)?;
        if self.config().metric == crate::config::SimilarityMetric::Cosine {
            crate::vector::normalize(&mut vector);
        }
        crate::config::check_text(&r.text)?;
        let metadata = crate::config::check_metadata(r.metadata)?;
        let times = Times { updated: now, expires: self.expires_at(r.expiry, now) };
        Ok(LoggedRecord { id, vector, text: r.text, metadata, times })
    }

    /// The absolute expiry of a record written at `now`.
    pub(super) fn expires_at(&self, expiry: Option<Expiry>, now: u64) -> u64 {
        match expiry {
            Some(Expiry::At(ms)) => ms,
            Some(Expiry::After(ttl)) => now.saturating_add(ttl.as_millis().min(u128::from(u64::MAX)) as u64),
            Some(Expiry::Never) => NEVER,
            None => match self.config().default_ttl_seconds {
                Some(s) => now.saturating_add(s.saturating_mul(1000)),
                None => NEVER,
            },
        }
    }

    pub(super) fn prepare_batch(&self, items: Vec<(u64, NewRecord)>) -> Result<Vec<LoggedRecord>> {
        let now = self.now_ms();
        let prep = |(id, r): (u64, NewRecord)| self.prepare(id, r, now);
        if items.len() >= PARALLEL_PREPARE_MIN {
            items.into_par_iter().map(prep).collect()
        } else {
            items.into_iter().map(prep).collect()
        }
    }

    /// Writes prepared records as one change; returns their ids in order.
    fn write(&self, mut records: Vec<LoggedRecord>, mode: IdMode) -> Result<Vec<u64>> {
        self.commit(|state| {
            let next_id = assign_ids(state, &mut records, mode)?;
            let ids = records.iter().map(|r| r.id).collect();
            Ok((Some(Change::Put { records, next_id }), ids))
        })
    }
}

/// Gives each record its final id under `mode`, checked against the state; returns the id
/// counter after the write. Nothing changes on an error.
fn assign_ids(state: &State, records: &mut [LoggedRecord], mode: IdMode) -> Result<u64> {
    let taken = |id| state.store.slot_of(id).is_some();
    match mode {
        IdMode::Assign => {
            let first = state.next_id;
            let end = first.checked_add(records.len() as u64).ok_or(Error::IdSpaceExhausted)?;
            for (r, id) in records.iter_mut().zip(first..end) {
                // The counter is past every id ever written, so this cannot happen; checked
                // anyway, since handing out a live id would overwrite a record.
                if taken(id) {
                    return Err(Error::IdExists { id });
                }
                r.id = id;
            }
            Ok(end)
        }
        IdMode::Insert | IdMode::Upsert => {
            if mode == IdMode::Insert {
                let mut seen = HashSet::with_capacity(records.len());
                if let Some(r) = records.iter().find(|r| taken(r.id) || !seen.insert(r.id)) {
                    return Err(Error::IdExists { id: r.id });
                }
            }
            // Explicit ids move the counter past them, so `add` never hands them out; u64::MAX
            // leaves the counter there, which makes the next `add` fail cleanly.
            let top = records.iter().map(|r| r.id.saturating_add(1)).max().unwrap_or(0);
            Ok(state.next_id.max(top))
        }
    }
}

fn split_record(r: Record) -> (u64, NewRecord) {
    (
        r.id,
        NewRecord {
            vector: r.vector,
            text: r.text,
            metadata: r.metadata,
            expiry: r.expires_at.map(Expiry::At),
        },
    )
}
