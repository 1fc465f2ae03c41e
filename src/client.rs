//! `VectorLiteClient`: the database, a thread-safe map from names to collections. Creating or
//! deleting a collection takes its lock briefly; work on a collection goes through the
//! collection's own lock, so writes to one collection never block searches on another.
//!
//! Creating, adopting and dropping collections follow the same rule as record writes: each is
//! an [`Op`], logged under the map's lock in a durable database and applied by
//! [`apply_op`], which recovery calls for every logged op too.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::Clock;
use crate::collection::{Collection, CollectionInfo, wait};
use crate::config::CollectionConfig;
use crate::embed::EmbeddingFunction;
use crate::error::{Error, Result};
use crate::persist::durable::{Durable, Opening, Snapshot};
use crate::persist::manifest::{self, DirConfig, DirectoryEntry, SnapshotSource};
use crate::persist::oplog::{Op, Ticket};
use crate::persist::{
    ConflictPolicy, DurabilityOptions, LoadMode, LoadOptions, MergeOptions, MergeReport, MergeStats,
    PersistenceError, SaveOptions,
};

type Collections = RwLock<BTreeMap<String, Collection>>;
type Embedder = RwLock<Option<Arc<dyn EmbeddingFunction>>>;

/// An in-memory database of named collections. `Send + Sync`: share it with `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use vectorlite::{CollectionConfig, SearchOptions, VectorLiteClient};
///
/// let client = Arc::new(VectorLiteClient::new());
/// client.create_collection("memories", CollectionConfig::new(4))?;
/// let memories = client.collection("memories")?;
/// memories.add(&[0.1, 0.2, 0.3, 0.4], Some("met Ada".into()), None)?;
/// assert_eq!(client.list_collections(), vec!["memories".to_string()]);
/// assert_eq!(client.collection_info("memories")?.count, 1);
/// # Ok::<(), vectorlite::Error>(())
/// ```
#[derive(Default)]
pub struct VectorLiteClient {
    // Shared with the checkpoint thread of a durable database, which holds them weakly.
    collections: Arc<Collections>,
    embedder: Arc<Embedder>,
    /// The clock given to every collection (the system's when `None`).
    clock: Arc<RwLock<Option<Arc<dyn Clock>>>>,
    /// The data directory and write-ahead log, for a database from [`open`](Self::open).
    durable: Option<Arc<Durable>>,
}

impl std::fmt::Debug for VectorLiteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let model = self.embedder.read().as_ref().map(|e| e.model_id());
        f.debug_struct("VectorLiteClient")
            .field("collections", &self.list_collections())
            .field("embedder", &model)
            .finish()
    }
}

/// Applies one client-level op to the name map: the function live writes and recovery share.
/// `built` is the collection a live create already has in hand (the op was made from it);
/// recovery builds it from the op.
fn apply_op(map: &mut BTreeMap<String, Collection>, op: Op, built: Option<Collection>) -> Result<()> {
    let by_uid =
        |map: &BTreeMap<String, Collection>, uid: u64| map.values().find(|c| c.uid() == uid).cloned();
    match op {
        Op::Create { uid, name, config, created_at, next_id, model, records } => {
            if by_uid(map, uid).is_some() {
                return Ok(()); // already in the snapshot
            }
            let c = match built {
                Some(c) => c,
                None => Collection::restore(uid, &name, config, created_at, next_id, model, records)?,
            };
            map.insert(name, c);
        }
        Op::Drop { uid } => map.retain(|_, c| c.uid() != uid),
        Op::Write { uid, change } => {
            // Writes to a collection dropped later in the log have nowhere to go.
            if let Some(c) = by_uid(map, uid) {
                c.apply_replayed(change)?;
            }
        }
    }
    Ok(())
}

/// Replays logged ops into a map, folding runs of small writes to one collection into one
/// batch (one parallel index insert instead of many single ones).
struct Replayer<'a> {
    map: &'a mut BTreeMap<String, Collection>,
    pending: Option<Op>,
}

impl Replayer<'_> {
    fn push(&mut self, op: Op) -> Result<()> {
        let next = match &mut self.pending {
            Some(pending) => pending.absorb(op),
            None => Some(op),
        };
        if let Some(next) = next {
            self.flush()?;
            self.pending = Some(next);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match self.pending.take() {
            Some(op) => apply_op(self.map, op, None),
            None => Ok(()),
        }
    }
}

/// Collections from a snapshot, keyed by name, with their recorded identities.
fn from_snapshot(entries: Vec<DirectoryEntry>) -> BTreeMap<String, Collection> {
    entries
        .into_iter()
        .map(|e| {
            let c = Collection::from_loaded(e.collection);
            c.set_identity(e.uid, e.generation);
            (c.name().to_owned(), c)
        })
        .collect()
}

/// What a snapshot of the database writes: every collection and the embedding config.
/// The directory's config names the embedder once some collection holds its vectors (asking
/// earlier would make a lazily loaded model load just to be named).
fn capture(collections: &Collections, embedder: &Embedder) -> Result<Snapshot> {
    let list: Vec<Collection> = collections.read().values().cloned().collect();
    let embedded = list.iter().any(|c| c.embedding_model().is_some());
    let config = match embedder.read().as_ref() {
        Some(e) if embedded => {
            Some(DirConfig { embedding_model: Some(e.model_id()?), dimension: Some(e.dimension()?) })
        }
        _ => None,
    };
    Ok((list.into_iter().map(|c| Box::new(c) as Box<dyn SnapshotSource>).collect(), config))
}

impl VectorLiteClient {
    /// An empty database without an embedding model (text calls fail with [`Error::NoEmbedder`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the durable database in `dir`, creating it if needed: every write is logged
    /// before it is acknowledged, so a crash or kill loses nothing acknowledged (see
    /// [`DurabilityOptions`] for when writes reach the disk). Recovers the last checkpoint and
    /// the log after it. [`Error::Persistence`] with `Locked` if another process has `dir` open.
    ///
    /// ```
    /// use vectorlite::{CollectionConfig, DurabilityOptions, VectorLiteClient};
    /// let dir = std::env::temp_dir().join(format!("vl-open-doc-{}", std::process::id()));
    /// {
    ///     let db = VectorLiteClient::open(&dir, DurabilityOptions::default())?;
    ///     db.create_collection("notes", CollectionConfig::new(2))?.add(&[1.0, 0.0], None, None)?;
    /// } // no save: the log has it
    /// let db = VectorLiteClient::open(&dir, DurabilityOptions::default())?;
    /// assert_eq!(db.collection("notes")?.len(), 1);
    /// # drop(db);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), vectorlite::Error>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>, options: DurabilityOptions) -> Result<VectorLiteClient> {
        let mut opening = Opening::open(dir.as_ref(), &LoadOptions::default())?;
        let mut map = from_snapshot(std::mem::take(&mut opening.snapshot));
        {
            let mut replayer = Replayer { map: &mut map, pending: None };
            opening.replay(false, |op| replayer.push(op))?;
            replayer.flush()?;
        }
        let collections: Arc<Collections> = Arc::new(RwLock::new(map));
        let embedder: Arc<Embedder> = Arc::default();
        let (weak_collections, weak_embedder) = (Arc::downgrade(&collections), Arc::downgrade(&embedder));
        let durable = opening.finish(
            &options,
            Box::new(move || {
                let (c, e) = (weak_collections.upgrade()?, weak_embedder.upgrade()?);
                Some(capture(&c, &e))
            }),
        )?;
        let rows_dir: Arc<Path> = Arc::from(durable.dir());
        for c in collections.read().values() {
            c.place_rows_in(&rows_dir);
            c.attach_log(Some(Arc::clone(durable.wal())));
            // A replay may leave many tombstones: compact in the background, not at the next write.
            c.compact_if_needed();
        }
        Ok(VectorLiteClient {
            collections,
            embedder,
            durable: Some(Arc::new(durable)),
            clock: Arc::default(),
        })
    }

    /// For a durable database: snapshots every collection into the data directory and drops
    /// the log the snapshot covers, so the next open is fast. Writes go on meanwhile. Does
    /// nothing for an in-memory database.
    pub fn checkpoint(&self) -> Result<()> {
        match &self.durable {
            Some(d) => d.checkpoint(),
            None => Ok(()),
        }
    }

    /// Shuts a durable database down cleanly: checkpoints, so the next open replays nothing,
    /// then releases the directory. (Dropping it without `close` loses nothing either: the
    /// next open replays the log.)
    pub fn close(self) -> Result<()> {
        self.checkpoint()
    }

    /// The data directory of a durable database; `None` in memory.
    pub fn data_dir(&self) -> Option<&Path> {
        self.durable.as_deref().map(Durable::dir)
    }

    /// An empty database whose collections embed text with `embedder`.
    pub fn with_embedder(embedder: Arc<dyn EmbeddingFunction>) -> Self {
        let client = Self::new();
        client.set_embedder(Some(embedder));
        client
    }

    /// Replaces the embedder of the database and of every collection in it.
    pub fn set_embedder(&self, embedder: Option<Arc<dyn EmbeddingFunction>>) {
        for c in self.collections.read().values() {
            c.set_embedder(embedder.clone());
        }
        *self.embedder.write() = embedder;
    }

    /// Uses `clock` for the write times and expiry of every collection, present and future (the
    /// system clock by default); tests of expiry use a [`crate::ManualClock`].
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        for c in self.collections.read().values() {
            c.set_clock(Arc::clone(&clock));
        }
        *self.clock.write() = Some(clock);
    }

    /// The database's embedder, if it has one.
    pub fn embedder(&self) -> Option<Arc<dyn EmbeddingFunction>> {
        self.embedder.read().clone()
    }

    /// Logs `op` (in a durable database) and applies it to the map: the client's write path,
    /// called under the map's write lock. Wait on the ticket after releasing the lock.
    fn commit(
        &self,
        map: &mut BTreeMap<String, Collection>,
        op: Op,
        built: Option<Collection>,
    ) -> Result<Option<Ticket>> {
        let ticket = match &self.durable {
            Some(d) => {
                let encoded = op.encode().map_err(|e| crate::config::invalid("collection", e.to_string()))?;
                Some(d.log(&encoded)?)
            }
            None => None,
        };
        apply_op(map, op, built)?;
        Ok(ticket)
    }

    /// Registers a collection under its name (replacing one of that name), attaching the
    /// database's embedder and, in a durable database, its log; the collection is logged whole.
    fn adopt(
        &self,
        map: &mut BTreeMap<String, Collection>,
        collection: Collection,
    ) -> Result<Option<Ticket>> {
        let mut ticket = self.remove(map, collection.name())?;
        if let Some(d) = &self.durable {
            // A fresh identity: the log names collections by uid, and this one may share its
            // uid with another (a renamed copy, a directory saved from this database).
            let uid = rand::random();
            let op = collection.creation_op(uid);
            collection.set_identity(uid, collection.generation());
            ticket = self.commit(map, op, Some(collection.clone()))?;
            collection.place_rows_in(&Arc::from(d.dir()));
            collection.attach_log(Some(Arc::clone(d.wal())));
        } else {
            map.insert(collection.name().to_owned(), collection.clone());
        }
        collection.set_embedder(self.embedder());
        if let Some(clock) = self.clock.read().clone() {
            collection.set_clock(clock);
        }
        Ok(ticket)
    }

    /// Unregisters the named collection, if any, logging its deletion.
    fn remove(&self, map: &mut BTreeMap<String, Collection>, name: &str) -> Result<Option<Ticket>> {
        let Some(c) = map.get(name).cloned() else { return Ok(None) };
        let ticket = self.commit(map, Op::Drop { uid: c.uid() }, None)?;
        c.attach_log(None);
        Ok(ticket)
    }

    /// Adds an existing collection (e.g. one loaded from a file) under `name`.
    pub fn add_collection(&self, collection: Collection, name: &str) -> Result<()> {
        let collection = if collection.name() == name { collection } else { collection.renamed(name)? };
        let mut map = self.collections.write();
        if map.contains_key(name) {
            return Err(Error::CollectionExists { name: name.to_owned() });
        }
        let ticket = self.adopt(&mut map, collection)?;
        drop(map);
        wait(ticket)
    }

    /// Replaces every collection with those of `other` (e.g. a database reloaded from disk).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn replace_collections(&self, other: VectorLiteClient) -> Result<()> {
        let incoming = std::mem::take(&mut *other.collections.write());
        let mut map = self.collections.write();
        let mut ticket = None;
        for name in map.keys().cloned().collect::<Vec<_>>() {
            ticket = self.remove(&mut map, &name)?.or(ticket);
        }
        for c in incoming.into_values() {
            ticket = self.adopt(&mut map, c)?.or(ticket);
        }
        drop(map);
        wait(ticket)
    }

    /// Creates a collection; [`Error::CollectionExists`] if the name is taken.
    pub fn create_collection(&self, name: &str, config: CollectionConfig) -> Result<Collection> {
        let collection = Collection::new(name, config)?;
        let mut map = self.collections.write();
        if map.contains_key(name) {
            return Err(Error::CollectionExists { name: name.to_owned() });
        }
        let ticket = self.adopt(&mut map, collection.clone())?;
        drop(map);
        wait(ticket)?;
        Ok(collection)
    }

    /// Removes a collection. Handles obtained earlier keep working on the detached data (which
    /// a durable database no longer logs).
    pub fn delete_collection(&self, name: &str) -> Result<()> {
        let mut map = self.collections.write();
        if !map.contains_key(name) {
            return Err(not_found(name));
        }
        let ticket = self.remove(&mut map, name)?;
        drop(map);
        wait(ticket)
    }

    /// Collection names, sorted.
    pub fn list_collections(&self) -> Vec<String> {
        self.collections.read().keys().cloned().collect()
    }

    /// A handle to the named collection.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        self.collections.read().get(name).cloned().ok_or_else(|| not_found(name))
    }

    /// True when a collection has this name.
    pub fn has_collection(&self, name: &str) -> bool {
        self.collections.read().contains_key(name)
    }

    /// Count, dimension, metric, index and approximate memory of the named collection.
    pub fn collection_info(&self, name: &str) -> Result<CollectionInfo> {
        Ok(self.collection(name)?.info())
    }
}

/// Saving, loading and merging whole databases and single collections.
impl VectorLiteClient {
    /// Saves every collection into `dir` (`manifest.json`, `config.json`, `collections/*.vlc`),
    /// rewriting only the collections changed since the last save into the same directory.
    /// The manifest is written last and is the commit point. The directory is locked while
    /// the save runs, so a database another process has open there is refused, not overwritten.
    ///
    /// ```
    /// use vectorlite::{CollectionConfig, LoadOptions, SaveOptions, VectorLiteClient};
    /// let dir = std::env::temp_dir().join(format!("vl-dir-doc-{}", std::process::id()));
    /// let client = VectorLiteClient::new();
    /// client.create_collection("a", CollectionConfig::new(2))?.add(&[1.0, 2.0], None, None)?;
    /// client.save_to_directory(&dir, &SaveOptions::default())?;
    /// let back = VectorLiteClient::load_from_directory(&dir, &LoadOptions::default())?;
    /// assert_eq!(back.collection("a")?.len(), 1);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), vectorlite::Error>(())
    /// ```
    pub fn save_to_directory(&self, dir: impl AsRef<Path>, options: &SaveOptions) -> Result<()> {
        let dir = dir.as_ref();
        if let Some(d) = &self.durable
            && same_dir(dir, d.dir())
        {
            // A durable database's own directory also holds its log: save by checkpointing.
            return self.checkpoint();
        }
        crate::persist::fs::create_dir_durably(dir).map_err(|e| PersistenceError::io(dir, e))?;
        let _lock = crate::persist::durable::lock_dir(dir)?;
        let (list, config) = capture(&self.collections, &self.embedder)?;
        let sources: Vec<&dyn SnapshotSource> = list.iter().map(|s| &**s).collect();
        manifest::save_directory(dir, &sources, config.as_ref(), options, None)?;
        Ok(())
    }

    /// Loads a database saved by [`save_to_directory`](Self::save_to_directory), or the data
    /// directory of a durable database (its snapshot and the log after it, without changing
    /// the log), into memory. Collections load concurrently, and any damaged file fails the
    /// whole load. The directory is locked while it is read: a database open elsewhere is
    /// refused with [`PersistenceError::Locked`].
    pub fn load_from_directory(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<VectorLiteClient> {
        let dir = dir.as_ref();
        let layout = crate::persist::layout::MANIFEST;
        if !dir.join(layout).is_file() && !dir.join(crate::persist::layout::WAL_DIR).is_dir() {
            let missing = std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no manifest.json: not a vectorlite directory",
            );
            return Err(PersistenceError::io(dir.join(layout), missing).into());
        }
        let mut opening = Opening::open(dir, options)?;
        let mut map = from_snapshot(std::mem::take(&mut opening.snapshot));
        {
            let mut replayer = Replayer { map: &mut map, pending: None };
            opening.replay(true, |op| replayer.push(op))?;
            replayer.flush()?;
        }
        Ok(VectorLiteClient { collections: Arc::new(RwLock::new(map)), ..VectorLiteClient::default() })
    }

    /// Merges every collection saved in `dir` into this database: into the collection of the
    /// same name where one exists, as a new collection otherwise. All sources are loaded and
    /// checked for compatibility before anything changes.
    pub fn merge_from_directory(&self, dir: impl AsRef<Path>, options: &MergeOptions) -> Result<MergeReport> {
        let load = LoadOptions { progress: options.progress.clone(), ..LoadOptions::default() };
        let source = VectorLiteClient::load_from_directory(dir, &load)?;
        let sources: Vec<Collection> = source.collections.read().values().cloned().collect();
        for source in &sources {
            if let Ok(target) = self.collection(source.name()) {
                target.check_mergeable(source)?;
            }
        }
        let mut report = MergeReport::default();
        for source in sources {
            let name = source.name().to_owned();
            let stats = match self.collection(&name) {
                Ok(target) => target.merge_from(&source, options.on_conflict)?,
                Err(_) => {
                    let added = source.len();
                    let ticket = self.adopt(&mut self.collections.write(), source)?;
                    wait(ticket)?;
                    MergeStats { vectors_added: added, ..MergeStats::default() }
                }
            };
            report.total.absorb(&stats);
            report.collections.insert(name, stats);
        }
        Ok(report)
    }

    /// Saves one collection to a `.vlc` file.
    pub fn save_collection(&self, name: &str, path: impl AsRef<Path>, options: &SaveOptions) -> Result<()> {
        self.collection(name)?.save_to_file(path, options)
    }

    /// Loads a `.vlc` file into this database and returns the resulting collection's name.
    pub fn load_collection(&self, path: impl AsRef<Path>, mode: LoadMode) -> Result<String> {
        let loaded = Collection::load_from_file(path, &LoadOptions::default())?;
        let name = loaded.name().to_owned();
        match mode {
            LoadMode::Merge if self.has_collection(&name) => {
                self.collection(&name)?.merge_from(&loaded, ConflictPolicy::default())?;
            }
            LoadMode::Override | LoadMode::Merge => {
                let ticket = self.adopt(&mut self.collections.write(), loaded)?;
                wait(ticket)?;
            }
            LoadMode::CreateNew(new_name) => {
                self.add_collection(loaded, &new_name)?;
                return Ok(new_name);
            }
        }
        Ok(name)
    }
}

/// True when both paths name the same existing directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn not_found(name: &str) -> Error {
    Error::CollectionNotFound { name: name.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<VectorLiteClient>();
        assert_send_sync::<Collection>();
    }
}
