//! Request and response bodies. Where the published vectorlite 0.1.x API used other shapes,
//! those are accepted too (`index_type`, `values`, `query`, `file_path`, `collection_name`),
//! so its JavaScript and Go clients keep working.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::collection::CollectionInfo;
use crate::config::HnswParams;

/// `POST /collections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    pub name: String,
    /// Defaults to the embedding model's dimension when the server has one.
    pub dimension: Option<usize>,
    /// `cosine` (default), `euclidean` (`l2`), `dot` or `manhattan` (`l1`).
    pub metric: Option<String>,
    /// `"flat"`, `"hnsw"`, or `{"type": "hnsw", "m": 16, "ef_construction": 200, "ef_search": 48}`.
    pub index: Option<IndexSpec>,
    /// 0.1.x: `"flat"` or `"hnsw"`.
    pub index_type: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum IndexSpec {
    Name(String),
    Detailed {
        #[serde(rename = "type")]
        kind: String,
        #[serde(flatten)]
        params: HnswParamsPatch,
    },
}

/// HNSW parameters where any may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct HnswParamsPatch {
    pub m: Option<usize>,
    pub ef_construction: Option<usize>,
    pub ef_search: Option<usize>,
}

impl HnswParamsPatch {
    pub fn apply(&self) -> HnswParams {
        let d = HnswParams::default();
        HnswParams {
            m: self.m.unwrap_or(d.m),
            ef_construction: self.ef_construction.unwrap_or(d.ef_construction),
            ef_search: self.ef_search.unwrap_or(d.ef_search),
        }
    }
}

/// One record to write; `id` optional (assigned when absent).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorRecord {
    pub id: Option<u64>,
    pub vector: Vec<f32>,
    pub text: Option<String>,
    pub metadata: Option<Value>,
}

/// `POST /collections/{name}/vectors`: one record, or `{"vectors": [...]}`; `upsert` replaces.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WriteVectors {
    Batch {
        vectors: Vec<VectorRecord>,
        #[serde(default)]
        upsert: bool,
    },
    One {
        #[serde(flatten)]
        record: VectorRecord,
        #[serde(default)]
        upsert: bool,
    },
}

/// 0.1.x `POST /collections/{name}/vector`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LegacyVector {
    pub id: u64,
    pub values: Vec<f64>,
}

/// `PATCH /collections/{name}/vectors/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMetadata {
    pub metadata: Option<Value>,
}

/// One text to embed and store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRecord {
    pub text: String,
    pub metadata: Option<Value>,
}

/// `POST /collections/{name}/text`: one text, or `{"texts": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WriteTexts {
    Batch { texts: Vec<TextRecord> },
    One(TextRecord),
}

/// `POST /collections/{name}/search`: a vector or a text query.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub vector: Option<Vec<f32>>,
    pub text: Option<String>,
    /// 0.1.x: a vector (`/search/vector`) or a string (`/search/text`).
    pub query: Option<Value>,
    pub k: Option<usize>,
    /// Metadata filter (`where` is accepted as an alias).
    #[serde(alias = "where")]
    pub filter: Option<Value>,
    pub ef: Option<usize>,
    /// Fields to return besides id and score: any of "text", "metadata", "vector".
    /// Default: text and metadata.
    pub include: Option<Vec<String>>,
    /// 0.1.x: accepted and ignored (the metric is the collection's).
    #[serde(rename = "similarity_metric")]
    #[schema(value_type = Option<String>)]
    pub _similarity_metric: Option<serde::de::IgnoredAny>,
}

/// One search hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// `POST /collections/{name}/save`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SaveFile {
    /// Relative to the data directory; default `<name>.vlc`.
    #[serde(alias = "file_path", alias = "path")]
    pub file: Option<String>,
}

/// `POST /collections/load`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoadFile {
    #[serde(alias = "file_path", alias = "path")]
    pub file: String,
    /// Load under this name (0.1.x: `collection_name`); a taken name is a conflict.
    #[serde(alias = "collection_name")]
    pub name: Option<String>,
    /// `"override"`, `"merge"` or `"create"` (the default when `name` is given).
    pub mode: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `"ok"` while the server answers.
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
    /// The embedding model's id, or null when text calls are off.
    pub embedding_model: Option<String>,
}

/// `GET /collections`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionList {
    pub collections: Vec<String>,
}

/// A collection's info (after creating or on `GET /collections/{name}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionResponse {
    pub message: String,
    pub info: CollectionInfo,
}

/// An acknowledgement, with the record id it concerns if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ack {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

/// Ids of written records, in request order. A single text (0.1.x shape) answers with `id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

/// `POST /collections/{name}/search`: hits, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub message: &'static str,
    pub results: Vec<Hit>,
}

/// `POST /collections/{name}/save`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Saved {
    pub message: String,
    /// Relative to the data directory.
    pub file_path: String,
}

/// `POST /collections/load`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Loaded {
    pub message: String,
    pub collection_name: String,
}

/// `POST /save` and `POST /load`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseResponse {
    pub message: &'static str,
    pub collections: Vec<String>,
}

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable machine-readable code and a message for humans.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: super::error::ErrorCode,
    pub message: String,
}
