//! A collection and its files: `save_to_file` / `load_from_file`, and the [`SnapshotSource`]
//! view a directory save (or a checkpoint) writes through, so persistence never needs the
//! `Collection` type.

use std::path::Path;

use super::{Collection, State};
use crate::config::CollectionConfig;
use crate::error::Result;
use crate::persist::manifest::SnapshotSource;
use crate::persist::snapshot::{self, LoadedCollection, SnapshotView};
use crate::persist::{LoadOptions, PersistenceError, SaveOptions};

impl Collection {
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
        self.save_snapshot(path.as_ref(), options)?;
        Ok(())
    }

    /// Loads a collection saved by [`save_to_file`](Self::save_to_file) (or by vectorlite 0.1.x).
    pub fn load_from_file(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Collection> {
        Ok(Collection::from_loaded(snapshot::load(path.as_ref(), options)?))
    }

    /// Wraps a collection read from a file.
    pub(crate) fn from_loaded(loaded: LoadedCollection) -> Collection {
        let state = State {
            text: State::index_texts(&loaded.config, &loaded.store),
            store: loaded.store,
            index: loaded.index,
            next_id: loaded.next_id,
            embedding_model: loaded.embedding_model,
            tracker: None,
        };
        Collection::from_state(loaded.name, loaded.config, loaded.created_at, state)
    }
}

impl SnapshotSource for Collection {
    fn name(&self) -> &str {
        Collection::name(self)
    }

    fn identity(&self) -> (u64, u64) {
        (self.uid(), self.generation())
    }

    fn save_snapshot(
        &self,
        path: &Path,
        options: &SaveOptions,
    ) -> Result<(u64, CollectionConfig), PersistenceError> {
        let state = self.inner.state.read();
        let view = SnapshotView {
            name: &self.inner.name,
            config: self.inner.config,
            created_at: &self.inner.created_at,
            next_id: state.next_id,
            embedding_model: state.embedding_model.as_deref(),
            store: &state.store,
            graph: state.index.graph(),
        };
        snapshot::save(&view, path, options)?;
        Ok((state.store.len() as u64, self.inner.config))
    }
}

#[cfg(test)]
impl Collection {
    /// The HNSW graph's arrays, as a file would hold them (for the fuzz drivers).
    pub(crate) fn graph_parts(&self) -> crate::index::hnsw::graph::GraphParts {
        let state = self.inner.state.read();
        let graph = state.index.graph().expect("an HNSW collection");
        graph.with_view(|v| crate::index::hnsw::graph::GraphParts {
            m: v.m,
            entry: v.entry,
            levels: v.levels.to_vec(),
            layer0: (v.layer0)().collect(),
            upper_start: v.upper_start.to_vec(),
            upper: (v.upper)().collect(),
        })
    }

    /// A copy of this HNSW collection's records searched through `graph` (for the fuzz drivers).
    pub(crate) fn with_graph(&self, graph: crate::index::hnsw::graph::Graph) -> Collection {
        let state = self.inner.state.read();
        let crate::config::IndexType::HNSW(params) = self.config().index else {
            panic!("an HNSW collection")
        };
        let index = crate::index::hnsw::HnswIndex::with_graph(
            params,
            crate::index::distance::Distance::new(self.config().metric),
            graph,
        );
        let copy = State {
            text: State::index_texts(self.config(), &state.store),
            store: state.store.clone(),
            index: Box::new(index),
            next_id: state.next_id,
            embedding_model: None,
            tracker: None,
        };
        Collection::from_state(self.name().to_owned(), *self.config(), self.created_at().to_owned(), copy)
    }
}
