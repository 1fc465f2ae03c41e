//! The small result types: a stored [`Record`] and a search hit, [`QueryResult`]. Frozen
//! Python objects with readable `repr`s; `HttpClient` builds the same classes.

use numpy::PyArray1;
use pyo3::prelude::*;

/// A stored record: `id`, `text`, `metadata`, `vector` (a float32 numpy array, or `None` when
/// not asked for), `expires_at` and `updated_at` (Unix milliseconds; `None` when unknown).
#[pyclass(module = "vectorlite", frozen, get_all)]
pub struct Record {
    pub id: u64,
    pub text: Option<String>,
    pub metadata: Option<Py<PyAny>>,
    pub vector: Option<Py<PyArray1<f32>>>,
    pub expires_at: Option<u64>,
    pub updated_at: Option<u64>,
}

#[pymethods]
impl Record {
    #[new]
    #[pyo3(signature = (id, text=None, metadata=None, vector=None, expires_at=None, updated_at=None))]
    fn new(
        id: u64,
        text: Option<String>,
        metadata: Option<Py<PyAny>>,
        vector: Option<Py<PyArray1<f32>>>,
        expires_at: Option<u64>,
        updated_at: Option<u64>,
    ) -> Self {
        Self { id, text, metadata, vector, expires_at, updated_at }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let metadata = match &self.metadata {
            Some(m) => m.bind(py).repr()?.to_string(),
            None => "None".into(),
        };
        let vector = self
            .vector
            .as_ref()
            .map_or(String::new(), |v| format!(", vector=<{} floats>", v.bind(py).len().unwrap_or(0)));
        Ok(format!(
            "Record(id={}, text={}, metadata={metadata}{vector})",
            self.id,
            repr_text(self.text.as_deref())
        ))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Record>() else { return Ok(false) };
        let o = other.get();
        let py = other.py();
        Ok(self.id == o.id && self.text == o.text && same(py, &self.metadata, &o.metadata)?)
    }
}

/// One search hit: `id`, `score` (higher is better), `text`, `metadata`, optional `vector`,
/// `similarity` (the raw similarity when `score` blends in recency), and `sources` (keyword and
/// hybrid modes: a dict of each side's rank and score).
#[pyclass(module = "vectorlite", frozen, get_all)]
pub struct QueryResult {
    pub id: u64,
    pub score: f32,
    pub text: Option<String>,
    pub metadata: Option<Py<PyAny>>,
    pub vector: Option<Py<PyArray1<f32>>>,
    pub similarity: Option<f32>,
    pub sources: Option<Py<PyAny>>,
}

#[pymethods]
impl QueryResult {
    #[new]
    #[pyo3(signature = (id, score, text=None, metadata=None, vector=None, similarity=None, sources=None))]
    fn new(
        id: u64,
        score: f32,
        text: Option<String>,
        metadata: Option<Py<PyAny>>,
        vector: Option<Py<PyArray1<f32>>>,
        similarity: Option<f32>,
        sources: Option<Py<PyAny>>,
    ) -> Self {
        Self { id, score, text, metadata, vector, similarity, sources }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let metadata = match &self.metadata {
            Some(m) => m.bind(py).repr()?.to_string(),
            None => "None".into(),
        };
        Ok(format!(
            "QueryResult(id={}, score={:.4}, text={}, metadata={metadata})",
            self.id,
            self.score,
            repr_text(self.text.as_deref())
        ))
    }
}

fn repr_text(text: Option<&str>) -> String {
    match text {
        None => "None".into(),
        Some(t) if t.chars().count() > 60 => format!("{:?}...", t.chars().take(57).collect::<String>()),
        Some(t) => format!("{t:?}"),
    }
}

fn same(py: Python<'_>, a: &Option<Py<PyAny>>, b: &Option<Py<PyAny>>) -> PyResult<bool> {
    match (a, b) {
        (None, None) => Ok(true),
        (Some(a), Some(b)) => a.bind(py).eq(b.bind(py)),
        _ => Ok(false),
    }
}
