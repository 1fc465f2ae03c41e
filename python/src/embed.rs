//! Embedders the Python client can use: the built-in model, loaded on first use (so a client
//! that never embeds text never pays for it), and any Python callable or LangChain
//! `Embeddings` object, called back with the GIL held.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;
use vectorlite::{EmbeddingFunction, Error, MiniLmEmbedder, Result};

use crate::convert;

/// How a load of the built-in model failed, kept so that every later call fails the same way.
enum LoadFailure {
    NotFound(Vec<PathBuf>),
    Other(String),
}

/// all-MiniLM-L6-v2, loaded from `dir` (or the library's default places) on first use.
pub struct LazyModel {
    dir: Option<PathBuf>,
    loaded: OnceLock<std::result::Result<Arc<MiniLmEmbedder>, LoadFailure>>,
}

impl LazyModel {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir, loaded: OnceLock::new() }
    }

    fn model(&self) -> Result<&Arc<MiniLmEmbedder>> {
        let loaded = self.loaded.get_or_init(|| match MiniLmEmbedder::discover(self.dir.as_deref()) {
            Ok(m) => Ok(Arc::new(m)),
            Err(Error::ModelNotFound { searched }) => Err(LoadFailure::NotFound(searched)),
            Err(e) => Err(LoadFailure::Other(e.to_string())),
        });
        match loaded {
            Ok(m) => Ok(m),
            Err(LoadFailure::NotFound(searched)) => Err(Error::ModelNotFound { searched: searched.clone() }),
            Err(LoadFailure::Other(message)) => Err(Error::Embedding { message: message.clone() }),
        }
    }
}

impl EmbeddingFunction for LazyModel {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.model()?.embed_batch(texts)
    }

    fn dimension(&self) -> Result<usize> {
        self.model()?.dimension()
    }

    fn model_id(&self) -> Result<String> {
        self.model()?.model_id()
    }
}

/// A Python embedder: an object with `embed_documents(texts)` (LangChain's `Embeddings`) or a
/// callable `f(texts) -> vectors`.
pub struct PyEmbedder {
    func: Py<PyAny>,
    model_id: String,
    dimension: OnceLock<usize>,
}

impl PyEmbedder {
    pub fn new(py: Python<'_>, func: Py<PyAny>, model_id: Option<String>) -> PyResult<Self> {
        let model_id = match model_id {
            Some(id) => id,
            None => {
                let f = func.bind(py);
                let named = ["model_id", "model", "model_name"]
                    .iter()
                    .find_map(|a| f.getattr(*a).ok().and_then(|v| v.extract::<String>().ok()));
                match named {
                    Some(n) => n,
                    None => format!("python:{}", f.get_type().qualname()?),
                }
            }
        };
        Ok(Self { func, model_id, dimension: OnceLock::new() })
    }

    fn call(&self, texts: &[&str]) -> PyResult<Vec<Vec<f32>>> {
        Python::attach(|py| {
            let f = self.func.bind(py);
            let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
            let out = if f.hasattr("embed_documents")? {
                f.call_method1("embed_documents", (texts,))?
            } else {
                f.call1((texts,))?
            };
            let array = convert::matrix(&out, "the embedding function's vectors")?;
            Ok(convert::rows(&array)?.into_iter().map(<[f32]>::to_vec).collect())
        })
    }
}

impl EmbeddingFunction for PyEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.call(texts)
            .map_err(|e| Error::Embedding { message: format!("the embedding function failed: {e}") })
    }

    fn dimension(&self) -> Result<usize> {
        if let Some(&d) = self.dimension.get() {
            return Ok(d);
        }
        let d = self.embed("dimension probe")?.len();
        Ok(*self.dimension.get_or_init(|| d))
    }

    fn model_id(&self) -> Result<String> {
        Ok(self.model_id.clone())
    }
}
