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
mod search;
mod snapshot;
mod text;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::search::{SearchOptions, SearchResult};
use crate::config::{CollectionConfig, IndexType, SimilarityMetric};
use crate::embed::EmbeddingFunction;
use crate::error::{Error, Result};
use crate::index::VectorIndex;
use crate::index::distance::Distance;
use crate::persist::oplog::Ticket;
use crate::persist::wal::Wal;
use crate::store::VectorStore;

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Record {
    /// The record's id, unique within its collection.
    pub id: u64,
    /// The vector; under cosine it is returned L2-normalised, as it is stored.
    pub vector: Vec<f32>,
    /// Optional source text.
    #[serde(default)]
    pub text: Option<String>,
    /// Optional JSON-object metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
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
}

impl NewRecord {
    /// A record with just a vector.
    pub fn new(vector: Vec<f32>) -> Self {
        Self { vector, text: None, metadata: None }
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
    /// The write-ahead log of the durable database holding the collection, if any.
    log: RwLock<Option<Arc<Wal>>>,
    /// A background compaction is running or queued.
    compacting: AtomicBool,
    /// One compaction at a time.
    compaction: Mutex<()>,
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
        crate::config::validate_name(name)?;
        config.validate()?;
        Ok(Self::from_state(
            name.to_owned(),
            config,
            crate::persist::fs::now_rfc3339(),
            State::empty(&config),
        ))
    }

    fn from_state(name: String, config: CollectionConfig, created_at: String, state: State) -> Self {
        Self {
            inner: Arc::new(Shared {
                name,
                config,
                created_at,
                distance: Distance::new(config.metric),
                generation: AtomicU64::new(0),
                uid: AtomicU64::new(rand::random()),
                embedder: RwLock::new(None),
                log: RwLock::new(None),
                compacting: AtomicBool::new(false),
                compaction: Mutex::new(()),
                state: RwLock::new(state),
            }),
        }
    }

    /// This collection under another name; fails if other handles to it exist.
    pub(crate) fn renamed(self, name: &str) -> Result<Collection> {
        crate::config::validate_name(name)?;
        let shared = Arc::try_unwrap(self.inner)
            .map_err(|inner| Error::CollectionExists { name: inner.name.clone() })?;
        Ok(Collection { inner: Arc::new(Shared { name: name.to_owned(), ..shared }) })
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

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.inner.state.read().store.len()
    }

    /// True when the collection holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id the next [`add`](Self::add) will hand out.
    pub fn next_id(&self) -> u64 {
        self.inner.state.read().next_id
    }

    /// The record with this id, or [`Error::IdNotFound`].
    pub fn get(&self, id: u64) -> Result<Record> {
        let state = self.inner.state.read();
        let slot = state.store.slot_of(id).ok_or(Error::IdNotFound { id })?;
        let store = &state.store;
        Ok(Record {
            id,
            vector: store.vector(slot).to_vec(),
            text: store.text(slot).map(str::to_owned),
            metadata: store.metadata(slot).cloned(),
        })
    }

    /// True when a record has this id.
    pub fn contains(&self, id: u64) -> bool {
        self.inner.state.read().store.slot_of(id).is_some()
    }

    /// Every live id, ascending.
    pub fn ids(&self) -> Vec<u64> {
        let state = self.inner.state.read();
        let mut ids: Vec<u64> = state.store.live_slots().map(|s| state.store.id(s)).collect();
        ids.sort_unstable();
        ids
    }

    /// Count, dimension, metric, index and approximate memory.
    pub fn info(&self) -> CollectionInfo {
        let state = self.inner.state.read();
        let c = &self.inner.config;
        CollectionInfo {
            name: self.inner.name.clone(),
            count: state.store.len(),
            dimension: c.dimension,
            metric: c.metric,
            index: state.index.index_type(),
            memory_bytes: state.store.memory_bytes() + state.index.memory_bytes(),
        }
    }

    /// Checks a vector's length, values and norm (see [`crate::vector::check`]).
    fn check_vector(&self, vector: &[f32]) -> Result<f64> {
        crate::vector::check(vector, self.inner.config.dimension, self.inner.config.metric)
    }
}
