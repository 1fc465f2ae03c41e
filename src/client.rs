//! `VectorLiteClient`: the database, a thread-safe map from names to collections. Creating or
//! deleting a collection takes its lock briefly; work on a collection goes through the
//! collection's own lock, so writes to one collection never block searches on another.

use std::collections::BTreeMap;

use parking_lot::RwLock;

use crate::collection::{Collection, CollectionInfo};
use crate::config::CollectionConfig;
use crate::error::{Error, Result};

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
#[derive(Debug, Default)]
pub struct VectorLiteClient {
    collections: RwLock<BTreeMap<String, Collection>>,
}

impl VectorLiteClient {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a collection; [`Error::CollectionExists`] if the name is taken.
    pub fn create_collection(&self, name: &str, config: CollectionConfig) -> Result<Collection> {
        let collection = Collection::new(name, config)?;
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
