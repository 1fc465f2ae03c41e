//! `Collection`: one named set of records with a fixed dimension, metric and index. It validates
//! input, hands out ids, and keeps the store and the index in step under one `RwLock`: searches
//! share it, writes take it briefly. Split by operation: `write.rs` (mutations), `search.rs`.

mod search;
mod text;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::search::{MAX_K, SearchOptions, SearchResult};
use crate::config::{CollectionConfig, IndexType, SimilarityMetric};
use crate::embed::EmbeddingFunction;
use crate::error::{Error, Result};
use crate::index::distance::{Distance, norm};
use crate::index::{VectorIndex, new_index};
use crate::persist::oplog::{self, LoggedRecord, Op, Ticket};
use crate::persist::snapshot::{self, SnapshotView};
use crate::persist::wal::Wal;
use crate::persist::{LoadOptions, SaveOptions};
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
    /// Bumped by every change; lets a directory save skip unchanged collections.
    generation: AtomicU64,
    /// Random identity, kept across directory saves and loads, so an unchanged collection
    /// is recognised as the same one.
    uid: AtomicU64,
    /// Embedder for the text calls, if any.
    embedder: RwLock<Option<Arc<dyn EmbeddingFunction>>>,
    /// The model id the collection's text vectors came from.
    embedding_model: Mutex<Option<String>>,
    /// Next id `add` hands out; only ever grows, so ids are never reused.
    next_id: AtomicU64,
    /// The write-ahead log of the durable database holding the collection, if any.
    log: RwLock<Option<Arc<Wal>>>,
    state: RwLock<State>,
}

struct State {
    store: VectorStore,
    index: Box<dyn VectorIndex>,
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
        let state = State { store: VectorStore::new(config.dimension), index: new_index(&config) };
        Ok(Self::from_parts(name.to_owned(), config, snapshot::now_rfc3339(), 0, None, state))
    }

    fn from_parts(
        name: String,
        config: CollectionConfig,
        created_at: String,
        next_id: u64,
        embedding_model: Option<String>,
        state: State,
    ) -> Self {
        Self {
            inner: Arc::new(Shared {
                name,
                config,
                created_at,
                embedder: RwLock::new(None),
                embedding_model: Mutex::new(embedding_model),
                distance: Distance::new(config.metric),
                generation: AtomicU64::new(0),
                uid: AtomicU64::new(rand::random()),
                next_id: AtomicU64::new(next_id),
                log: RwLock::new(None),
                state: RwLock::new(state),
            }),
        }
    }

    /// Saves the collection to a `.vlc` file, atomically. Searches continue during the save;
    /// writers wait until it is done.
    ///
    /// ```
    /// use vectorlite::{Collection, CollectionConfig, LoadOptions, SaveOptions};
    /// let dir = std::env::temp_dir().join(format!("vl-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let c = Collection::new("notes", CollectionConfig::new(2))?;
    /// c.add(&[1.0, 0.0], Some("hi".into()), None)?;
    /// c.save_to_file(dir.join("notes.vlc"), &SaveOptions::default())?;
    /// let back = Collection::load_from_file(dir.join("notes.vlc"), &LoadOptions::default())?;
    /// assert_eq!(back.get(0)?.text.as_deref(), Some("hi"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), vectorlite::Error>(())
    /// ```
    pub fn save_to_file(&self, path: impl AsRef<Path>, options: &SaveOptions) -> Result<()> {
        let state = self.inner.state.read_recursive();
        let view = SnapshotView {
            name: &self.inner.name,
            config: self.inner.config,
            created_at: &self.inner.created_at,
            next_id: self.next_id(),
            embedding_model: self.embedding_model(),
            store: &state.store,
            graph: state.index.graph(),
        };
        Ok(snapshot::save(&view, path.as_ref(), options)?)
    }

    /// Loads a collection saved by [`save_to_file`](Self::save_to_file) (or by vectorlite 0.1.x).
    pub fn load_from_file(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Collection> {
        let loaded = snapshot::load(path.as_ref(), options)?;
        let state = State { store: loaded.store, index: loaded.index };
        Ok(Self::from_parts(
            loaded.name,
            loaded.config,
            loaded.created_at,
            loaded.next_id,
            loaded.embedding_model,
            state,
        ))
    }

    /// This collection under another name; fails if other handles to it exist.
    pub(crate) fn renamed(self, name: &str) -> Result<Collection> {
        crate::config::validate_name(name)?;
        let shared = Arc::try_unwrap(self.inner)
            .map_err(|inner| Error::CollectionExists { name: inner.name.clone() })?;
        Ok(Collection { inner: Arc::new(Shared { name: name.to_owned(), ..shared }) })
    }

    /// An empty collection re-created from the log with its original identity.
    pub(crate) fn restore(
        name: &str,
        config: CollectionConfig,
        created_at: String,
        uid: u64,
    ) -> Result<Self> {
        config.validate()?;
        let state = State { store: VectorStore::new(config.dimension), index: new_index(&config) };
        let c = Self::from_parts(name.to_owned(), config, created_at, 0, None, state);
        c.set_identity(uid, 0);
        Ok(c)
    }

    /// Starts (or stops) logging this collection's writes.
    pub(crate) fn attach_log(&self, log: Option<Arc<Wal>>) {
        *self.inner.log.write() = log;
    }

    /// Logs the operation `op(uid)` builds if the collection is durable. Call it under the lock
    /// that orders the change, and wait on the ticket after releasing it.
    pub(crate) fn log(&self, op: impl FnOnce(u64) -> Op) -> Result<Option<Ticket>> {
        let log = self.inner.log.read().clone();
        Ok(match log {
            Some(wal) => Some(oplog::log(&wal, &op(self.uid()))?),
            None => None,
        })
    }

    /// The operations that re-create this collection and its records from nothing.
    pub(crate) fn as_ops(&self) -> Vec<Op> {
        let uid = self.uid();
        let config = self.inner.config;
        let mut ops = vec![Op::Create {
            uid,
            name: self.name().to_owned(),
            config,
            created_at: self.created_at().to_owned(),
        }];
        let ids = self.ids();
        for chunk in ids.chunks(1_000) {
            let records = chunk
                .iter()
                .filter_map(|&id| self.get(id).ok())
                .map(|r| LoggedRecord { id: r.id, vector: r.vector, text: r.text, metadata: r.metadata })
                .collect();
            ops.push(Op::Put { uid, records });
        }
        if let Some(model) = self.embedding_model() {
            ops.push(Op::Model { uid, model });
        }
        ops
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

    /// Adopts the identity recorded in a directory manifest.
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
        self.inner.state.read_recursive().store.len()
    }

    /// True when the collection holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id the next [`add`](Self::add) will hand out.
    pub fn next_id(&self) -> u64 {
        self.inner.next_id.load(Ordering::Acquire)
    }

    /// The record with this id, or [`Error::IdNotFound`].
    pub fn get(&self, id: u64) -> Result<Record> {
        let state = self.inner.state.read_recursive();
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
        self.inner.state.read_recursive().store.slot_of(id).is_some()
    }

    /// Every live id, ascending.
    pub fn ids(&self) -> Vec<u64> {
        let state = self.inner.state.read_recursive();
        let mut ids: Vec<u64> = state.store.live_slots().map(|s| state.store.id(s)).collect();
        ids.sort_unstable();
        ids
    }

    /// Count, dimension, metric, index and approximate memory.
    pub fn info(&self) -> CollectionInfo {
        let state = self.inner.state.read_recursive();
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

    /// Checks a vector's length and values; under cosine also rejects the zero vector.
    fn check_vector(&self, vector: &[f32]) -> Result<()> {
        let expected = self.inner.config.dimension;
        if vector.len() != expected {
            return Err(Error::DimensionMismatch { expected, actual: vector.len() });
        }
        if let Some(position) = vector.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteValue { position, value: vector[position] });
        }
        // A norm that underflows to zero has no usable direction either.
        if self.inner.config.metric == SimilarityMetric::Cosine && norm(vector) == 0.0 {
            return Err(Error::ZeroVector);
        }
        Ok(())
    }
}

/// Metadata must be a JSON object; `null` means none.
fn check_metadata(metadata: Option<Value>) -> Result<Option<Value>> {
    match metadata {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(other) => Err(Error::InvalidMetadata {
            found: match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                _ => "an array",
            },
        }),
    }
}
