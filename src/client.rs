//! `VectorLiteClient`: the database, a thread-safe map from names to collections. Creating or
//! deleting a collection takes its lock briefly; work on a collection goes through the
//! collection's own lock, so writes to one collection never block searches on another.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::collection::{Collection, CollectionInfo};
use crate::config::CollectionConfig;
use crate::embed::EmbeddingFunction;
use crate::error::{Error, Result};
use crate::persist::manifest;
use crate::persist::{
    ConflictPolicy, LoadMode, LoadOptions, MergeOptions, MergeReport, MergeStats, SaveOptions,
};

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
    collections: RwLock<BTreeMap<String, Collection>>,
    embedder: RwLock<Option<Arc<dyn EmbeddingFunction>>>,
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

impl VectorLiteClient {
    /// An empty database without an embedding model (text calls fail with [`Error::NoEmbedder`]).
    pub fn new() -> Self {
        Self::default()
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

    /// The database's embedder, if it has one.
    pub fn embedder(&self) -> Option<Arc<dyn EmbeddingFunction>> {
        self.embedder.read().clone()
    }

    /// Adds an existing collection (e.g. one loaded from a file) under `name`.
    pub fn add_collection(&self, collection: Collection, name: &str) -> Result<()> {
        let collection = if collection.name() == name { collection } else { collection.renamed(name)? };
        let mut map = self.collections.write();
        if map.contains_key(name) {
            return Err(Error::CollectionExists { name: name.to_owned() });
        }
        self.adopt(&mut map, collection);
        Ok(())
    }

    /// Replaces every collection with those of `other` (e.g. a database reloaded from disk).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn replace_collections(&self, other: VectorLiteClient) {
        let incoming = other.collections.into_inner();
        let embedder = self.embedder();
        for c in incoming.values() {
            c.set_embedder(embedder.clone());
        }
        *self.collections.write() = incoming;
    }

    /// Registers a collection under its name, attaching the database's embedder.
    fn adopt(&self, map: &mut BTreeMap<String, Collection>, collection: Collection) {
        collection.set_embedder(self.embedder());
        map.insert(collection.name().to_owned(), collection);
    }

    /// Creates a collection; [`Error::CollectionExists`] if the name is taken.
    pub fn create_collection(&self, name: &str, config: CollectionConfig) -> Result<Collection> {
        let collection = Collection::new(name, config)?;
        collection.set_embedder(self.embedder());
        let mut map = self.collections.write();
        if map.contains_key(name) {
            return Err(Error::CollectionExists { name: name.to_owned() });
        }
        map.insert(name.to_owned(), collection.clone());
        Ok(collection)
    }

    /// Removes a collection. Handles obtained earlier keep working on the detached data.
    pub fn delete_collection(&self, name: &str) -> Result<()> {
        self.collections.write().remove(name).map(drop).ok_or_else(|| not_found(name))
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
    /// The manifest is written last and is the commit point.
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
        let collections: Vec<Collection> = self.collections.read().values().cloned().collect();
        let config = match self.embedder() {
            Some(e) => Some(manifest::DirConfig {
                embedding_model: Some(e.model_id()?),
                dimension: Some(e.dimension()?),
            }),
            None => None,
        };
        manifest::save_directory(dir.as_ref(), &collections, config.as_ref(), options)?;
        Ok(())
    }

    /// Loads a database saved by [`save_to_directory`](Self::save_to_directory); collections
    /// load concurrently, and any damaged file fails the whole load.
    pub fn load_from_directory(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<VectorLiteClient> {
        let collections = manifest::load_directory(dir.as_ref(), options)?;
        let map = collections.into_iter().map(|c| (c.name().to_owned(), c)).collect();
        Ok(VectorLiteClient { collections: RwLock::new(map), embedder: RwLock::new(None) })
    }

    /// Merges every collection saved in `dir` into this database: into the collection of the
    /// same name where one exists, as a new collection otherwise. All sources are loaded and
    /// checked for compatibility before anything changes.
    pub fn merge_from_directory(&self, dir: impl AsRef<Path>, options: &MergeOptions) -> Result<MergeReport> {
        let sources =
            manifest::load_directory(dir.as_ref(), &LoadOptions { progress: options.progress.clone() })?;
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
                    self.adopt(&mut self.collections.write(), source);
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
        match mode {
            LoadMode::Override => {
                let name = loaded.name().to_owned();
                self.adopt(&mut self.collections.write(), loaded);
                Ok(name)
            }
            LoadMode::Merge => {
                let name = loaded.name().to_owned();
                match self.collection(&name) {
                    Ok(target) => {
                        target.merge_from(&loaded, ConflictPolicy::default())?;
                    }
                    Err(_) => {
                        self.adopt(&mut self.collections.write(), loaded);
                    }
                }
                Ok(name)
            }
            LoadMode::CreateNew(name) => {
                self.add_collection(loaded, &name)?;
                Ok(name)
            }
        }
    }
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
