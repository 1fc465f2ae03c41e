//! Readers for older formats. Format v1 is the JSON `.vlc` file of vectorlite 0.1.x:
//!
//! ```text
//! {"header": {"version": "1.0.0", "format": "vectorlite-collection", "created_at"},
//!  "metadata": {"name", "created_at", "vector_count", "dimension", "index_type": "Flat" | "HNSW"},
//!  "index": {"Flat": {"dim", "data": [{"id", "values": [f64..], "text", "metadata"}]}}
//!         | {"HNSW": {"dim", "metric", "id_to_index", "index_to_id",
//!                     "metadata": {"<id>": {"text", "metadata"}}, "vector_values": {"<id>": [f64..]}}},
//!  "next_id"}
//! ```
//!
//! v1 stored no graph, so HNSW collections are rebuilt (with default parameters). Its Flat
//! index took the metric per search and stored none; migrated Flat collections use cosine,
//! the 0.1.x default. Later versions will chain: v1 -> v2 -> ...

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::PersistenceError;
use super::snapshot::LoadedCollection;
use crate::config::{CollectionConfig, HnswParams, IndexType, SimilarityMetric};
use crate::index::build_index;
use crate::store::VectorStore;

#[derive(Deserialize)]
struct V1File {
    header: V1Header,
    metadata: V1Metadata,
    index: V1Index,
    #[serde(default)]
    next_id: Option<u64>,
}

#[derive(Deserialize)]
struct V1Header {
    version: String,
    format: String,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct V1Metadata {
    name: String,
    #[serde(default)]
    created_at: Option<String>,
    dimension: usize,
}

#[derive(Deserialize)]
enum V1Index {
    Flat(V1Flat),
    #[serde(rename = "HNSW")]
    Hnsw(V1Hnsw),
}

#[derive(Deserialize)]
struct V1Flat {
    dim: usize,
    data: Vec<V1Vector>,
}

#[derive(Deserialize)]
struct V1Vector {
    id: u64,
    values: Vec<f64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct V1Hnsw {
    dim: usize,
    #[serde(default)]
    metric: Option<V1Metric>,
    #[serde(default)]
    metadata: HashMap<String, V1Extra>,
    vector_values: HashMap<String, Vec<f64>>,
}

#[derive(Deserialize)]
enum V1Metric {
    Cosine,
    Euclidean,
    Manhattan,
    DotProduct,
}

#[derive(Deserialize, Default)]
struct V1Extra {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// Reads a v1 JSON collection file.
pub(crate) fn load_v1(path: &Path, json: &[u8]) -> Result<LoadedCollection, PersistenceError> {
    let corrupt = |reason: String| PersistenceError::Corrupt {
        path: path.into(),
        section: "v1 json",
        offset: 0,
        reason,
    };
    let file: V1File = serde_json::from_slice(json).map_err(|e| {
        // Byte offsets help find the damage in a large JSON file.
        PersistenceError::Corrupt {
            path: path.into(),
            section: "v1 json",
            offset: json_offset(json, e.line(), e.column()),
            reason: e.to_string(),
        }
    })?;
    if file.header.format != "vectorlite-collection" {
        return Err(PersistenceError::NotACollectionFile { path: path.into() });
    }
    if !file.header.version.starts_with("1.") {
        return Err(corrupt(format!("unsupported v1 header version {}", file.header.version)));
    }
    let name = file.metadata.name;
    crate::config::validate_collection_name(&name).map_err(|e| corrupt(e.to_string()))?;
    let (dim, metric, index, records): (usize, SimilarityMetric, IndexType, Vec<V1Vector>) = match file.index
    {
        V1Index::Flat(f) => (f.dim, SimilarityMetric::Cosine, IndexType::Flat, f.data),
        V1Index::Hnsw(h) => {
            let metric = match h.metric {
                None | Some(V1Metric::Cosine) => SimilarityMetric::Cosine,
                Some(V1Metric::Euclidean) => SimilarityMetric::Euclidean,
                Some(V1Metric::Manhattan) => SimilarityMetric::Manhattan,
                Some(V1Metric::DotProduct) => SimilarityMetric::DotProduct,
            };
            let mut extras = h.metadata;
            let mut records = Vec::with_capacity(h.vector_values.len());
            for (key, values) in h.vector_values {
                let id =
                    key.parse::<u64>().map_err(|_| corrupt(format!("vector key '{key}' is not an id")))?;
                let extra = extras.remove(&key).unwrap_or_default();
                records.push(V1Vector { id, values, text: extra.text, metadata: extra.metadata });
            }
            records.sort_by_key(|r| r.id);
            (h.dim, metric, IndexType::HNSW(HnswParams::default()), records)
        }
    };
    if dim != file.metadata.dimension {
        return Err(corrupt(format!(
            "index dimension {dim} differs from metadata dimension {}",
            file.metadata.dimension
        )));
    }
    let config = CollectionConfig { metric, index, ..CollectionConfig::new(dim) };
    config.validate().map_err(|e| corrupt(e.to_string()))?;

    let n = records.len();
    let mut vectors = Vec::with_capacity(n * dim);
    let (mut ids, mut texts, mut metadata) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for r in records {
        if r.values.len() != dim {
            return Err(corrupt(format!("record {} has {} values, expected {dim}", r.id, r.values.len())));
        }
        let start = vectors.len();
        vectors.extend(r.values.iter().map(|&x| x as f32));
        let row = &mut vectors[start..];
        crate::vector::check(row, &config).map_err(|e| corrupt(format!("record {}: {e}", r.id)))?;
        if metric == SimilarityMetric::Cosine {
            crate::vector::normalize(row);
        }
        let md = match r.metadata {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v),
            Some(_) => return Err(corrupt(format!("record {} has metadata that is not an object", r.id))),
        };
        ids.push(r.id);
        texts.push(r.text);
        metadata.push(md);
    }
    let store = VectorStore::from_columns(
        dim,
        (Some(crate::rows::F32Rows::in_ram(vectors.into())), crate::codes::Codes::None),
        ids,
        vec![true; n],
        texts,
        metadata,
        vec![Default::default(); n],
    )
    .map_err(corrupt)?;
    let next_id = file.next_id.unwrap_or(0).max(store.max_id().map_or(0, |m| m.saturating_add(1)));
    let (index, _) = build_index(&config, &store, None);
    let created_at =
        file.metadata.created_at.or(file.header.created_at).unwrap_or_else(super::fs::now_rfc3339);
    Ok(LoadedCollection { name, config, created_at, next_id, embedding_model: None, store, index })
}

fn json_offset(json: &[u8], line: usize, column: usize) -> u64 {
    let line_start: usize =
        json.split(|&b| b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (line_start + column.saturating_sub(1)) as u64
}
