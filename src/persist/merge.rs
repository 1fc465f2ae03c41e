//! Merge options and results. Incoming records keep their ids where free; taken ids follow the
//! [`ConflictPolicy`]. A dimension or metric mismatch is an error that changes nothing.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// What to do when an incoming record's id is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Give the incoming record a fresh id (recorded in [`MergeStats::id_remappings`]).
    #[default]
    Remap,
    /// Keep the existing record; count the incoming one as skipped.
    Skip,
    /// Replace the existing record with the incoming one.
    Overwrite,
}

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Conflict policy; default [`ConflictPolicy::Remap`].
    pub on_conflict: ConflictPolicy,
    /// Progress while reading the source file(s).
    pub progress: Option<super::ProgressFn>,
}

/// What one merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeStats {
    /// Records added (including remapped and overwriting ones).
    pub vectors_added: usize,
    /// Records skipped because their id was taken (policy `Skip`).
    pub vectors_skipped: usize,
    /// Incoming id -> the id it was stored under (policy `Remap`).
    pub id_remappings: HashMap<u64, u64>,
}

impl MergeStats {
    pub(crate) fn absorb(&mut self, other: &MergeStats) {
        self.vectors_added += other.vectors_added;
        self.vectors_skipped += other.vectors_skipped;
    }
}

/// What a directory merge did, per collection and in total (`total.id_remappings` stays empty;
/// ids are per collection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// Per collection name.
    pub collections: BTreeMap<String, MergeStats>,
    /// Sums over all collections.
    pub total: MergeStats,
}

/// How [`crate::VectorLiteClient::load_collection`] treats a collection of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadMode {
    /// Replace it (or create it).
    Override,
    /// Merge into it with the default policy (or create it).
    Merge,
    /// Load under this new name; an error if that name is taken.
    CreateNew(String),
}
