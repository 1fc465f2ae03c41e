//! `Collection`: one named set of records with a fixed dimension, metric and index. It validates
//! input, hands out ids, and keeps the store and the index in step under one `RwLock`: searches
//! share it, writes take it briefly.
//!
//! Every mutation goes one way (`apply.rs`): a public write validates its input, then under the
//! write lock plans a [`Change`] against the current state, logs it (in a durable database),
//! applies it with [`State::apply`], releases the lock and waits for the log. Recovery replays
//! logged changes through the same `apply`. Split by operation: `write.rs` (mutations),
//! `search.rs`, `text.rs`, `compact.rs` (rebuilding the index off the lock), `snapshot.rs`
//! (files).

mod apply;
mod compact;
mod expiry;
mod hybrid;
mod records;
mod search;
mod snapshot;
mod text;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::hybrid::{Fusion, HybridOptions};
pub use self::records::{Columns, Dedup, ListOptions, ListPage, MAX_PAGE, RecordUpdate, Written};
pub use self::search::{Decay, MAX_RESULT_VALUES, Mmr, SearchOptions, SearchResult, Sources};
use crate::clock::{Clock, SystemClock};
use crate::config::{CollectionConfig, IndexType, SimilarityMetric};
use crate::embed::EmbeddingFunction;
use crate::error::{Error, Result};
use crate::index::VectorIndex;
use crate::index::distance::Distance;
use crate::persist::oplog::Ticket;
use crate::persist::wal::Wal;
use crate::store::VectorStore;

/// A stored record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Record {
    /// The record's id, unique within its collection.
    pub id: u64,
    /// The vector; under cosine it is returned L2-normalised, as it is stored. Empty when a
    /// listing was asked for without vectors.
    pub vector: Vec<f32>,
    /// Optional source text.
    #[serde(default)]
    pub text: Option<String>,
    /// Optional JSON-object metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// When the record expires, in Unix milliseconds (`None`: never). On input (insert,
    /// upsert), `None` means the collection's default time to live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// When the record was last written, in Unix milliseconds (0 when unknown: records saved
    /// by vectorlite 0.2). Set by the collection; ignored on input.
    #[serde(default)]
    pub updated_at: u64,
}

/// When a record being written expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// At this Unix time in milliseconds.
    At(u64),
    /// This long after it is written.
    After(std::time::Duration),
    /// Never, whatever the collection's default time to live.
    Never,
}

impl Expiry {
    /// `seconds` after the write: a time to live as users give it (a JSON number), refused
    /// unless finite and at least 0; very long ones are capped at about 30 million years.
    pub fn after_seconds(seconds: f64) -> crate::error::Result<Self> {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(crate::error::Error::InvalidParameter {
                name: "ttl_seconds",
                reason: format!("{seconds} is not a duration >= 0"),
            });
        }
        Ok(Expiry::After(std::time::Duration::from_secs_f64(seconds.min(1e15))))
    }
}

/// A record to add, whose id the collection assigns.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewRecord {
    /// The vector.
    pub vector: Vec<f32>,
    /// Optional source text.
    #[serde(default)]
    pub text: Option<String>,
    /// Optional JSON-object metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// When it expires; `None`: the collection's default time to live (if any).
    #[serde(default)]
    pub expiry: Option<Expiry>,
}

impl NewRecord {
    /// A record with just a vector.
    pub fn new(vector: Vec<f32>) -> Self {
        Self { vector, ..Self::default() }
    }

    /// Sets when the record expires.
    pub fn with_expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// Sets the text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the metadata (must be a JSON object).
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// Summary of a collection, as returned by [`Collection::info`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CollectionInfo {
    /// The collection's name.
    pub name: String,
    /// Live records.
    pub count: usize,
    /// Vector dimension.
    pub dimension: usize,
    /// Similarity metric.
    pub metric: SimilarityMetric,
    /// Index type and parameters.
    pub index: IndexType,
    /// Approximate heap bytes held by vectors, records and index.
    pub memory_bytes: usize,
    /// Records written without an expiry expire this many seconds later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_ttl_seconds: Option<u64>,
    /// How vectors are kept: `f32`, `f16` or `int8`.
    #[serde(default)]
    pub vector_storage: crate::config::VectorStorage,
    /// `int8`: whether f32 copies are kept and candidates rescored with them.
    #[serde(default = "crate::config::yes")]
    pub rescore: bool,
    /// Whether the f32 vectors are kept in a memory-mapped file rather than RAM.
    #[serde(default)]
    pub on_disk: bool,
    /// Bytes of that file (0 in RAM); `memory_bytes` does not count them, as the OS pages
    /// them in and out.
    #[serde(default)]
    pub disk_bytes: usize,
}

/// The record in row `slot`, with or without its vector.
pub(crate) fn record_at(store: &crate::store::VectorStore, slot: crate::store::Slot, vector: bool) -> Record {
    let times = store.times(slot);
    Record {
        id: store.id(slot),
        vector: if vector { store.vector(slot).to_vec() } else { Vec::new() },
        text: store.text(slot).map(str::to_owned),
        metadata: store.metadata(slot).cloned(),
        expires_at: (times.expires != crate::store::NEVER).then_some(times.expires),
        updated_at: times.updated,
    }
}

/// Waits until a logged write is durable (nothing to wait for when the collection is not).
pub(crate) fn wait(ticket: Option<Ticket>) -> Result<()> {
    match ticket {
        Some(t) => Ok(t.wait()?),
        None => Ok(()),
    }
}

/// A handle to a collection; cheap to clone, and every clone sees the same data.
///
/// ```
/// use serde_json::json;
/// use vectorlite::{CollectionConfig, SearchOptions, VectorLiteClient};
///
/// let client = VectorLiteClient::new();
/// let notes = client.create_collection("notes", CollectionConfig::new(3))?;
/// let id = notes.add(&[1.0, 0.0, 0.0], Some("hello".into()), Some(json!({"lang": "en"})))?;
/// let hits = notes.search(&[0.9, 0.1, 0.0], &SearchOptions::new(1))?;
/// assert_eq!(hits[0].id, id);
/// # Ok::<(), vectorlite::Error>(())
/// ```
#[derive(Clone)]
pub struct Collection {
    inner: Arc<Shared>,
}

struct Shared {
    name: String,
    config: CollectionConfig,
    created_at: String,
    distance: Distance,
    /// Bumped by every applied change; lets a directory save skip unchanged collections.
    generation: AtomicU64,
    /// Random identity, kept across directory saves and loads, so an unchanged collection
    /// is recognised as the same one; the log names collections by it.
    uid: AtomicU64,
    /// Embedder for the text calls, if any.
    embedder: RwLock<Option<Arc<dyn EmbeddingFunction>>>,
    /// Stamps writes and decides expiry.
    clock: RwLock<Arc<dyn Clock>>,
    /// The write-ahead log of the durable database holding the collection, if any.
    log: RwLock<Option<Arc<Wal>>>,
    /// A background compaction is running or queued.
    compacting: AtomicBool,
    /// One compaction at a time.
    compaction: Mutex<()>,
    /// On the expiry sweep's watch list.
    watched: AtomicBool,
    state: RwLock<State>,
}

/// Everything a change can touch, behind the collection's lock.
pub(crate) struct State {
    store: VectorStore,
    index: Box<dyn VectorIndex>,
    /// Next id `add` hands out: above every id ever written, so ids are never reused.
    next_id: u64,
    /// The model id the collection's text vectors came from.
    embedding_model: Option<String>,
    /// Rows changed while a compaction rebuilds the index off the lock.
    tracker: Option<compact::Tracker>,
    /// The keyword index of the records' text, by id.
    text: crate::fulltext::index::TextIndex,
}

impl State {
    /// The keyword index of every live record's text in `store`: built on load, never saved.
    pub(crate) fn index_texts(
        config: &CollectionConfig,
        store: &VectorStore,
    ) -> crate::fulltext::index::TextIndex {
        let mut text = crate::fulltext::index::TextIndex::new(&config.text);
        for slot in store.live_slots() {
            if let Some(t) = store.text(slot) {
                text.add(store.id(slot), t);
            }
        }
        text
    }

    /// The slot of a record that exists and has not expired at `now`.
    pub(crate) fn visible_slot(&self, id: u64, now: u64) -> Option<crate::store::Slot> {
        self.store.slot_of(id).filter(|&s| self.store.is_visible(s, now))
    }

    /// Records that exist and have not expired at `now`.
    pub(crate) fn visible_len(&self, now: u64) -> usize {
        if !self.store.has_expiring() {
            return self.store.len();
        }
        self.store.live_slots().filter(|&s| self.store.is_visible(s, now)).count()
    }
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.inner.name)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Collection {
    /// An empty collection. Most callers use [`crate::VectorLiteClient::create_collection`].
    pub fn new(name: &str, config: CollectionConfig) -> Result<Self> {
        crate::config::validate_collection_name(name)?;
        config.validate()?;
        Ok(Self::from_state(
            name.to_owned(),
            config,
            crate::persist::fs::now_rfc3339(),
            State::empty(&config),
        ))
    }

    fn from_state(name: String, config: CollectionConfig, created_at: String, state: State) -> Self {
        let expiring = state.store.has_expiring();
        let c = Self {
            inner: Arc::new(Shared {
                name,
                config,
                created_at,
                distance: Distance::new(config.metric),
                generation: AtomicU64::new(0),
                uid: AtomicU64::new(rand::random()),
                embedder: RwLock::new(None),
                clock: RwLock::new(Arc::new(SystemClock)),
                log: RwLock::new(None),
                compacting: AtomicBool::new(false),
                compaction: Mutex::new(()),
                watched: AtomicBool::new(false),
                state: RwLock::new(state),
            }),
        };
        if expiring {
            expiry::watch(&c);
        }
        c
    }

    /// Puts the collection on the expiry sweep's watch list if it has records that expire.
    pub(super) fn watch_expiry(&self) {
        if !self.inner.watched.load(Ordering::Acquire) && self.inner.state.read().store.has_expiring() {
            expiry::watch(self);
        }
    }

    /// This collection under another name; fails if other handles to it exist.
    pub(crate) fn renamed(self, name: &str) -> Result<Collection> {
        crate::config::validate_collection_name(name)?;
        let shared = Arc::try_unwrap(self.inner)
            .map_err(|inner| Error::CollectionExists { name: inner.name.clone() })?;
        let renamed = Collection {
            inner: Arc::new(Shared { name: name.to_owned(), watched: AtomicBool::new(false), ..shared }),
        };
        renamed.watch_expiry();
        Ok(renamed)
    }

    /// Starts (or stops) logging this collection's writes.
    pub(crate) fn attach_log(&self, log: Option<Arc<Wal>>) {
        *self.inner.log.write() = log;
    }

    /// When the collection was created (RFC 3339).
    pub fn created_at(&self) -> &str {
        &self.inner.created_at
    }

    /// A counter that changes whenever the collection does.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    pub(crate) fn uid(&self) -> u64 {
        self.inner.uid.load(Ordering::Acquire)
    }

    /// Adopts the identity recorded in a directory manifest or the log.
    pub(crate) fn set_identity(&self, uid: u64, generation: u64) {
        self.inner.uid.store(uid, Ordering::Release);
        self.inner.generation.store(generation, Ordering::Release);
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &CollectionConfig {
        &self.inner.config
    }

    /// Uses `clock` for write times and expiry (the system clock by default).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.inner.clock.write() = clock;
    }

    /// The time now, by the collection's clock (Unix ms).
    pub(crate) fn now_ms(&self) -> u64 {
        self.inner.clock.read().now_ms()
    }

    /// Number of records (expired ones not counted).
    pub fn len(&self) -> usize {
        let now = self.now_ms();
        self.inner.state.read().visible_len(now)
    }

    /// True when the collection holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id the next [`add`](Self::add) will hand out.
    pub fn next_id(&self) -> u64 {
        self.inner.state.read().next_id
    }

    /// The record with this id, or [`Error::IdNotFound`] (also once it has expired).
    pub fn get(&self, id: u64) -> Result<Record> {
        let now = self.now_ms();
        let state = self.inner.state.read();
        let slot = state.visible_slot(id, now).ok_or(Error::IdNotFound { id })?;
        Ok(record_at(&state.store, slot, true))
    }

    /// True when a record has this id (and has not expired).
    pub fn contains(&self, id: u64) -> bool {
        let now = self.now_ms();
        self.inner.state.read().visible_slot(id, now).is_some()
    }

    /// Every record's id, ascending (expired ones left out).
    pub fn ids(&self) -> Vec<u64> {
        let now = self.now_ms();
        let state = self.inner.state.read();
        let store = &state.store;
        let mut ids: Vec<u64> =
            store.live_slots().filter(|&s| store.is_visible(s, now)).map(|s| store.id(s)).collect();
        ids.sort_unstable();
        ids
    }

    /// Approximate heap bytes of the keyword (BM25) index (part of `info().memory_bytes`).
    pub fn text_index_bytes(&self) -> usize {
        self.inner.state.read().text.memory_bytes()
    }

    /// Count, dimension, metric, index and approximate memory.
    pub fn info(&self) -> CollectionInfo {
        let now = self.now_ms();
        let state = self.inner.state.read();
        let c = &self.inner.config;
        CollectionInfo {
            name: self.inner.name.clone(),
            count: state.visible_len(now),
            dimension: c.dimension,
            metric: c.metric,
            index: state.index.index_type(),
            memory_bytes: state.store.memory_bytes() + state.index.memory_bytes() + state.text.memory_bytes(),
            default_ttl_seconds: c.default_ttl_seconds,
            vector_storage: c.vector_storage,
            rescore: c.rescore,
            on_disk: c.on_disk,
            disk_bytes: state.store.file_bytes(),
        }
    }

    /// Puts the file of this collection's on-disk vectors in `dir` (a durable database's data
    /// directory, instead of the system's temporary directory); nothing for vectors in RAM.
    pub(crate) fn place_rows_in(&self, dir: &std::sync::Arc<std::path::Path>) {
        self.inner.state.write().store.place_rows_in(dir);
    }

    /// Checks a vector's length, values and norm (see [`crate::vector::check`]).
    fn check_vector(&self, vector: &[f32]) -> Result<f64> {
        crate::vector::check(vector, &self.inner.config)
    }
}
