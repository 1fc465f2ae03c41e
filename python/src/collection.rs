//! `Collection`: records in and out as Python values, the library's calls with the GIL
//! released.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyList;
use vectorlite::{
    DocumentFilter, Expiry, Filter, HybridOptions, ListOptions, NewRecord, RecordUpdate, SaveOptions,
    SearchOptions, SearchResult,
};

use crate::convert::{self, to_json, to_json_opt, to_py};
use crate::errors::{IntoPy, invalid};
use crate::types::{QueryResult, Record};

/// One collection of a [`crate::client::Client`]; cheap to hold, and every handle sees the
/// same data.
#[pyclass(module = "vectorlite", name = "Collection")]
pub struct Collection {
    inner: vectorlite::Collection,
}

impl Collection {
    pub fn new(inner: vectorlite::Collection) -> Self {
        Self { inner }
    }
}

/// Which fields results carry.
#[derive(Clone, Copy)]
struct Include {
    text: bool,
    metadata: bool,
    vector: bool,
}

fn include_from(include: Option<&Bound<'_, PyAny>>, default: Include) -> PyResult<Include> {
    let Some(include) = include.filter(|i| !i.is_none()) else { return Ok(default) };
    let mut out = Include { text: false, metadata: false, vector: false };
    for field in include.try_iter()? {
        let field: String = field?.extract()?;
        match field.as_str() {
            "text" | "texts" | "document" | "documents" => out.text = true,
            "metadata" | "metadatas" => out.metadata = true,
            "vector" | "vectors" | "embedding" | "embeddings" => out.vector = true,
            other => return Err(invalid(format!("cannot include '{other}'; use text, metadata, vector"))),
        }
    }
    Ok(out)
}

const TEXT_AND_METADATA: Include = Include { text: true, metadata: true, vector: false };

fn filter_from(filter: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Filter>> {
    match to_json_opt(filter)? {
        None => Ok(None),
        Some(f) => Ok(Some(Filter::parse(&f).map_err(vectorlite::Error::from).py_err()?)),
    }
}

fn expiry_from(ttl_seconds: Option<f64>) -> PyResult<Option<Expiry>> {
    ttl_seconds.map(Expiry::after_seconds).transpose().py_err()
}

fn record_out(py: Python<'_>, r: vectorlite::Record, include: Include) -> PyResult<Record> {
    Ok(Record {
        id: r.id,
        text: r.text.filter(|_| include.text),
        metadata: match r.metadata.filter(|_| include.metadata) {
            Some(m) => Some(to_py(py, &m)?.unbind()),
            None => None,
        },
        vector: include.vector.then(|| convert::vector_out(py, r.vector).unbind()),
        expires_at: r.expires_at,
        updated_at: (r.updated_at > 0).then_some(r.updated_at),
    })
}

fn hit_out(py: Python<'_>, r: SearchResult, include: Include) -> PyResult<QueryResult> {
    Ok(QueryResult {
        id: r.id,
        score: r.score,
        text: r.text.filter(|_| include.text),
        metadata: match r.metadata.filter(|_| include.metadata) {
            Some(m) => Some(to_py(py, &m)?.unbind()),
            None => None,
        },
        vector: r.vector.map(|v| convert::vector_out(py, v).unbind()),
        similarity: r.similarity,
        sources: match r.sources {
            Some(s) => {
                Some(to_py(py, &serde_json::to_value(s).map_err(|e| invalid(e.to_string()))?)?.unbind())
            }
            None => None,
        },
    })
}

/// A search option given as a dict (`mmr`, `hybrid`), in the library's JSON shape.
fn option_from<T: serde::de::DeserializeOwned>(
    value: Option<&Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<T>> {
    match to_json_opt(value)? {
        None => Ok(None),
        Some(v) => serde_json::from_value(v).map(Some).map_err(|e| invalid(format!("{name}: {e}"))),
    }
}

fn hits_out(py: Python<'_>, results: Vec<SearchResult>, include: Include) -> PyResult<Vec<QueryResult>> {
    results.into_iter().map(|r| hit_out(py, r, include)).collect()
}

impl Collection {
    /// Records from the write arguments: vectors (embedding `texts` when there are none),
    /// texts, metadatas and ids, all of one length.
    fn records(
        &self,
        py: Python<'_>,
        vectors: Option<&Bound<'_, PyAny>>,
        texts: Option<Vec<String>>,
        metadatas: Option<&Bound<'_, PyAny>>,
        ids: Option<Vec<u64>>,
        ttl_seconds: Option<f64>,
    ) -> PyResult<Vec<(Option<u64>, NewRecord)>> {
        let vectors: Vec<Vec<f32>> = match (vectors.filter(|v| !v.is_none()), &texts) {
            (Some(v), _) => {
                let array = convert::matrix(v, "vectors")?;
                convert::rows(&array)?.into_iter().map(<[f32]>::to_vec).collect()
            }
            (None, Some(texts)) => {
                let c = self.inner.clone();
                let texts = texts.clone();
                py.detach(move || c.embed_for_storage(&texts.iter().map(String::as_str).collect::<Vec<_>>()))
                    .py_err()?
            }
            (None, None) => return Err(invalid("give vectors, texts, or both")),
        };
        let n = vectors.len();
        let metadatas: Vec<Option<serde_json::Value>> = match metadatas.filter(|m| !m.is_none()) {
            None => vec![None; n],
            Some(m) => m.try_iter()?.map(|item| to_json_opt(Some(&item?))).collect::<PyResult<_>>()?,
        };
        let checks = [
            ("texts", texts.as_ref().map(Vec::len)),
            ("metadatas", Some(metadatas.len())),
            ("ids", ids.as_ref().map(Vec::len)),
        ];
        for (what, len) in checks {
            if let Some(len) = len.filter(|&l| l != n) {
                return Err(invalid(format!("{n} vectors but {len} {what}")));
            }
        }
        if n == 0 {
            return Err(invalid("nothing to write"));
        }
        let expiry = expiry_from(ttl_seconds)?;
        let mut texts =
            texts.map(|t| t.into_iter().map(Some)).into_iter().flatten().chain(std::iter::repeat(None));
        let mut ids =
            ids.map(|i| i.into_iter().map(Some)).into_iter().flatten().chain(std::iter::repeat(None));
        Ok(vectors
            .into_iter()
            .zip(metadatas)
            .map(|(vector, metadata)| {
                let text = texts.next().flatten();
                (ids.next().flatten(), NewRecord { vector, text, metadata, expiry })
            })
            .collect())
    }
}

#[pymethods]
impl Collection {
    /// The collection's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Length of every vector.
    #[getter]
    fn dimension(&self) -> usize {
        self.inner.config().dimension
    }

    /// cosine, euclidean, dot or manhattan.
    #[getter]
    fn metric(&self) -> String {
        self.inner.config().metric.to_string()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Count, dimension, metric, index and memory, as a dict.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(self.inner.info()).map_err(|e| invalid(e.to_string()))?;
        to_py(py, &value)
    }

    /// Adds records and returns their ids. Give `vectors` (a 2-D float32 numpy array, or
    /// lists), or `texts` to embed, or both; `metadatas` (dicts) and `ids` (then every id must
    /// be free) are optional. All or nothing.
    #[pyo3(signature = (vectors=None, texts=None, metadatas=None, ids=None, *, ttl_seconds=None))]
    fn add(
        &self,
        py: Python<'_>,
        vectors: Option<&Bound<'_, PyAny>>,
        texts: Option<Vec<String>>,
        metadatas: Option<&Bound<'_, PyAny>>,
        ids: Option<Vec<u64>>,
        ttl_seconds: Option<f64>,
    ) -> PyResult<Vec<u64>> {
        let records = self.records(py, vectors, texts, metadatas, ids, ttl_seconds)?;
        let c = self.inner.clone();
        py.detach(move || {
            if records[0].0.is_some() {
                let ids = records.iter().filter_map(|(id, _)| *id).collect();
                c.write_with_ids(
                    records.into_iter().map(|(id, r)| (id.unwrap_or_default(), r)).collect(),
                    false,
                )
                .map(|()| ids)
            } else {
                c.add_batch(records.into_iter().map(|(_, r)| r).collect())
            }
        })
        .py_err()
    }

    /// Inserts or replaces records under the given `ids`; returns them.
    #[pyo3(signature = (vectors=None, texts=None, metadatas=None, ids=None, *, ttl_seconds=None))]
    fn upsert(
        &self,
        py: Python<'_>,
        vectors: Option<&Bound<'_, PyAny>>,
        texts: Option<Vec<String>>,
        metadatas: Option<&Bound<'_, PyAny>>,
        ids: Option<Vec<u64>>,
        ttl_seconds: Option<f64>,
    ) -> PyResult<Vec<u64>> {
        let Some(ids) = ids else { return Err(invalid("upsert needs ids")) };
        let records = self.records(py, vectors, texts, metadatas, Some(ids.clone()), ttl_seconds)?;
        let c = self.inner.clone();
        py.detach(move || {
            c.write_with_ids(records.into_iter().map(|(id, r)| (id.unwrap_or_default(), r)).collect(), true)
        })
        .py_err()?;
        Ok(ids)
    }

    /// Records by `ids` (missing ones are left out), or all records passing `where`, in id
    /// order, skipping `offset`, at most `limit`. `include`: any of "text", "metadata",
    /// "vector" (default text and metadata).
    #[pyo3(name = "get", signature = (ids=None, r#where=None, limit=None, offset=0, include=None))]
    fn get_records(
        &self,
        py: Python<'_>,
        ids: Option<Vec<u64>>,
        r#where: Option<&Bound<'_, PyAny>>,
        limit: Option<usize>,
        offset: usize,
        include: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Record>> {
        let include = include_from(include, TEXT_AND_METADATA)?;
        let filter = filter_from(r#where)?;
        let c = self.inner.clone();
        let records = py
            .detach(move || -> vectorlite::Result<Vec<vectorlite::Record>> {
                if let Some(ids) = ids {
                    let (found, _) = c.get_many(&ids);
                    let passing = found
                        .into_iter()
                        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r.metadata.as_ref())));
                    return Ok(passing.skip(offset).take(limit.unwrap_or(usize::MAX)).collect());
                }
                let mut out = Vec::new();
                let (mut after, mut skip) = (None, offset);
                let mut left = limit.unwrap_or(usize::MAX);
                while left > 0 {
                    let page_size = left.min(vectorlite::MAX_PAGE);
                    let options = ListOptions {
                        filter: filter.clone(),
                        limit: page_size,
                        after_id: after,
                        offset: skip,
                        include_vectors: include.vector,
                    };
                    let page = c.list(&options)?;
                    skip = 0;
                    left -= page.records.len();
                    out.extend(page.records);
                    match page.next_after_id {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                Ok(out)
            })
            .py_err()?;
        records.into_iter().map(|r| record_out(py, r, include)).collect()
    }

    /// Deletes records by `ids`, by `where`, or the given ids that pass `where`; returns how
    /// many went. One logged write: all or nothing, after a crash too.
    #[pyo3(signature = (ids=None, r#where=None))]
    fn delete(
        &self,
        py: Python<'_>,
        ids: Option<Vec<u64>>,
        r#where: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let filter = filter_from(r#where)?;
        let c = self.inner.clone();
        py.detach(move || match (ids, filter) {
            (Some(ids), None) => c.delete_many(&ids),
            (None, Some(f)) => c.delete_where(&f),
            (Some(ids), Some(f)) => {
                let (found, _) = c.get_many(&ids);
                let passing: Vec<u64> =
                    found.into_iter().filter(|r| f.matches(r.metadata.as_ref())).map(|r| r.id).collect();
                c.delete_many(&passing)
            }
            (None, None) => Err(vectorlite::Error::InvalidParameter {
                name: "delete",
                reason: "give ids, where, or both (where={} deletes every record)".into(),
            }),
        })
        .py_err()
    }

    /// Every record as columns, in id order: `(ids, vectors, texts, metadatas)` with `ids` a
    /// uint64 array, `vectors` one contiguous 2-D float32 array (no per-row copies), and texts
    /// and metadata dicts as lists. The bulk path under `to_arrow`.
    fn _columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let c = self.inner.clone();
        let dim = c.config().dimension;
        let cols = py.detach(move || c.export_columns());
        let rows = cols.ids.len();
        let ids = numpy::PyArray1::from_vec(py, cols.ids);
        let vectors =
            numpy::PyArrayMethods::reshape(&numpy::PyArray1::from_vec(py, cols.vectors), [rows, dim])?;
        let metadata = cols
            .metadata
            .iter()
            .map(|m| m.as_ref().map(|m| to_py(py, m)).transpose())
            .collect::<PyResult<Vec<_>>>()?;
        (ids, vectors, cols.texts, metadata).into_pyobject(py)
    }

    /// The collection as a `pyarrow.Table` (see `vectorlite.arrow.to_arrow`).
    #[pyo3(signature = (include=None, flatten=None))]
    fn to_arrow<'py>(
        slf: &Bound<'py, Self>,
        include: Option<&Bound<'py, PyAny>>,
        flatten: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("vectorlite.arrow")?.call_method1("to_arrow", (slf, include, flatten))
    }

    /// Adds (or, with ids, upserts) the rows of a `pyarrow.Table` in batches (see
    /// `vectorlite.arrow.add_arrow`); returns the ids.
    #[pyo3(signature = (table, batch_size=10_000, progress=None))]
    fn add_arrow<'py>(
        slf: &Bound<'py, Self>,
        table: &Bound<'py, PyAny>,
        batch_size: usize,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("vectorlite.arrow")?.call_method1("add_arrow", (slf, table, batch_size, progress))
    }

    /// Writes the collection to a Parquet file (see `vectorlite.arrow.to_parquet`).
    #[pyo3(signature = (path, include=None, flatten=None))]
    fn to_parquet<'py>(
        slf: &Bound<'py, Self>,
        path: &Bound<'py, PyAny>,
        include: Option<&Bound<'py, PyAny>>,
        flatten: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("vectorlite.arrow")?.call_method1("to_parquet", (slf, path, include, flatten))
    }

    /// How many records pass `where` (all of them without it).
    #[pyo3(signature = (r#where=None))]
    fn count(&self, py: Python<'_>, r#where: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let filter = filter_from(r#where)?;
        let c = self.inner.clone();
        Ok(py.detach(move || c.count(filter.as_ref())))
    }

    /// The `k` records most similar to one query (`vector` or `text`: a list of results) or to
    /// each of many (`vectors`, a 2-D array, or `texts`: a list of result lists), best first.
    /// `where` filters by metadata, `where_document` by text (`$contains`, `$not_contains`,
    /// `$regex`, `$and`, `$or`), `ef` widens the HNSW search, `min_score` drops weaker results
    /// (for euclidean and manhattan: beyond that distance), `mmr` (`{"lambda": 0.5,
    /// "fetch_k": 20}`) re-ranks for variety. `mode="keyword"` ranks `text`(s) by BM25;
    /// `mode="hybrid"` fuses vector and keyword search of `text` (with `vector` as the vector
    /// side's query if given), as `hybrid` says (`{"fusion": "rrf", "rrf_k": 60}` or
    /// `{"fusion": "weighted", "vector_weight": 0.5}`).
    #[pyo3(signature = (vector=None, vectors=None, text=None, texts=None, k=10, r#where=None, ef=None, include=None, min_score=None, *, mode="vector", where_document=None, mmr=None, hybrid=None))]
    #[allow(clippy::too_many_arguments)]
    fn query<'py>(
        &self,
        py: Python<'py>,
        vector: Option<&Bound<'py, PyAny>>,
        vectors: Option<&Bound<'py, PyAny>>,
        text: Option<String>,
        texts: Option<Vec<String>>,
        k: usize,
        r#where: Option<&Bound<'py, PyAny>>,
        ef: Option<usize>,
        include: Option<&Bound<'py, PyAny>>,
        min_score: Option<f32>,
        mode: &str,
        where_document: Option<&Bound<'py, PyAny>>,
        mmr: Option<&Bound<'py, PyAny>>,
        hybrid: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let include = include_from(include, TEXT_AND_METADATA)?;
        let document = match to_json_opt(where_document)? {
            None => None,
            Some(d) => Some(DocumentFilter::parse(&d).map_err(vectorlite::Error::from).py_err()?),
        };
        let options = SearchOptions {
            k,
            filter: filter_from(r#where)?,
            ef,
            include_vectors: include.vector,
            min_score,
            document,
            mmr: option_from(mmr, "mmr")?,
            ..SearchOptions::default()
        };
        let c = self.inner.clone();
        let hybrid: Option<HybridOptions> = option_from(hybrid, "hybrid")?;
        if hybrid.is_some() && mode != "hybrid" {
            return Err(invalid("hybrid= options need mode=\"hybrid\""));
        }
        if mode != "vector" {
            let keyword = match mode {
                "keyword" => true,
                "hybrid" => false,
                other => {
                    return Err(invalid(format!("unknown mode '{other}'; use vector, keyword or hybrid")));
                }
            };
            let (queries, single) = match (text, texts, vectors.is_some(), keyword && vector.is_some()) {
                (Some(t), None, false, false) => (vec![t], true),
                (None, Some(ts), false, false) if vector.is_none() => (ts, false),
                _ if keyword => return Err(invalid("mode=\"keyword\" takes text or texts alone")),
                _ => return Err(invalid("mode=\"hybrid\" takes text (with an optional vector) or texts")),
            };
            let row: Option<Vec<f32>> = match vector {
                Some(v) => {
                    let array = convert::matrix(v, "vector")?;
                    let rows = convert::rows(&array)?;
                    let [row] = rows[..] else { return Err(invalid("vector: give one vector")) };
                    Some(row.to_vec())
                }
                None => None,
            };
            let hybrid = hybrid.unwrap_or_default();
            let answers = py
                .detach(move || {
                    queries
                        .iter()
                        .map(|q| {
                            if keyword {
                                c.search_keyword(q, &options)
                            } else {
                                c.search_hybrid(q, row.as_deref(), &options, &hybrid)
                            }
                        })
                        .collect::<vectorlite::Result<Vec<_>>>()
                })
                .py_err()?;
            let mut lists = answers
                .into_iter()
                .map(|a| PyList::new(py, hits_out(py, a, include)?))
                .collect::<PyResult<Vec<_>>>()?;
            return if single {
                Ok(lists.remove(0).into_any())
            } else {
                Ok(PyList::new(py, lists)?.into_any())
            };
        }
        let given = [vector.is_some(), vectors.is_some(), text.is_some(), texts.is_some()];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err(invalid("give exactly one of vector, vectors, text, texts"));
        }
        if let Some(v) = vector {
            let array = convert::matrix(v, "vector")?;
            let rows = convert::rows(&array)?;
            let [row] = rows[..] else {
                return Err(invalid("vector: give one vector (use vectors= for many)"));
            };
            let hits = py.detach(|| c.search(row, &options)).py_err()?;
            return Ok(PyList::new(py, hits_out(py, hits, include)?)?.into_any());
        }
        if let Some(t) = text {
            let hits = py.detach(move || c.search_text(&t, &options)).py_err()?;
            return Ok(PyList::new(py, hits_out(py, hits, include)?)?.into_any());
        }
        let answers = if let Some(vs) = vectors {
            let array = convert::matrix(vs, "vectors")?;
            let rows = convert::rows(&array)?;
            let queries: Vec<(&[f32], &SearchOptions)> = rows.iter().map(|r| (*r, &options)).collect();
            py.detach(|| c.search_each(&queries)).py_err()?
        } else {
            let texts = texts.unwrap_or_default();
            py.detach(move || {
                let embedded = c.embed_queries(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
                c.search_batch(&embedded, &options)
            })
            .py_err()?
        };
        let lists = answers
            .into_iter()
            .map(|a| PyList::new(py, hits_out(py, a, include)?))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, lists)?.into_any())
    }

    /// Query vectors for `texts` from the collection's embedding model (a 2-D float32 array).
    fn embed<'py>(&self, py: Python<'py>, texts: Vec<String>) -> PyResult<Bound<'py, numpy::PyArray2<f32>>> {
        let c = self.inner.clone();
        let rows = py
            .detach(move || c.embed_queries(&texts.iter().map(String::as_str).collect::<Vec<_>>()))
            .py_err()?;
        numpy::PyArray2::from_vec2(py, &rows).map_err(|e| invalid(e.to_string()))
    }

    /// Replaces a record's metadata (`None` clears it).
    #[pyo3(signature = (id, metadata))]
    fn update_metadata(&self, py: Python<'_>, id: u64, metadata: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let metadata = to_json_opt(metadata)?;
        let c = self.inner.clone();
        py.detach(move || c.update_metadata(id, metadata)).py_err()
    }

    /// Changes a record in place: a new `vector`, `text` (re-embedded when no vector comes
    /// with it), `metadata` (pass `None` to clear it) or `ttl_seconds`.
    #[pyo3(signature = (id, *, vector=None, text=None, metadata=None, ttl_seconds=None))]
    fn update(
        &self,
        py: Python<'_>,
        id: u64,
        vector: Option<&Bound<'_, PyAny>>,
        text: Option<String>,
        metadata: Option<&Bound<'_, PyAny>>,
        ttl_seconds: Option<f64>,
    ) -> PyResult<()> {
        let vector = match vector {
            Some(v) => {
                let array = convert::matrix(v, "vector")?;
                let rows = convert::rows(&array)?;
                let [row] = rows[..] else { return Err(invalid("vector: give one vector")) };
                Some(row.to_vec())
            }
            None => None,
        };
        let metadata = match metadata {
            None => None,
            Some(m) if m.is_none() => Some(None),
            Some(m) => Some(Some(to_json(m)?)),
        };
        let update =
            RecordUpdate { vector, text: text.map(Some), metadata, expiry: expiry_from(ttl_seconds)? };
        let c = self.inner.clone();
        py.detach(move || c.update(id, update)).py_err()
    }

    /// Saves the collection to a `.vlc` file, atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let c = self.inner.clone();
        py.detach(move || c.save_to_file(path, &SaveOptions::default())).py_err()
    }

    /// Loads a collection file into a collection of its own (not in any client).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Collection> {
        py.detach(move || vectorlite::Collection::load_from_file(path, &vectorlite::LoadOptions::default()))
            .py_err()
            .map(Collection::new)
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "Collection(name={:?}, count={}, dimension={}, metric={})",
            self.inner.name(),
            self.inner.len(),
            c.dimension,
            c.metric
        )
    }
}
