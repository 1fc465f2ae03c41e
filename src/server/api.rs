//! Request and response bodies. Where the published vectorlite 0.1.x API used other shapes,
//! those are accepted too (`index_type`, `values`, `query`, `file_path`, `collection_name`),
//! so its JavaScript and Go clients keep working.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::collection::CollectionInfo;

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
    #[schema(value_type = Option<Object>)]
    pub index: Option<Value>,
    /// 0.1.x: `"flat"` or `"hnsw"`.
    pub index_type: Option<String>,
    /// Records written without an expiry expire this many seconds later.
    pub default_ttl_seconds: Option<u64>,
    /// Keyword search: `{"stemming": true, "stop_words": true, "k1": 1.2, "b": 0.75}`
    /// (default: no stemming, no stop words).
    pub text: Option<crate::fulltext::TextConfig>,
    /// `f32` (default), `f16` (half the memory) or `int8` (a quarter, plus the f32 copy when
    /// `rescore`).
    pub vector_storage: Option<String>,
    /// `int8` only: keep f32 vectors and rescore candidates with them (default true).
    pub rescore: Option<bool>,
    /// Keep the f32 vectors (`f32`, or `int8` with `rescore`) in a memory-mapped file instead
    /// of RAM (default false).
    pub on_disk: Option<bool>,
}

/// One record to write; `id` optional (assigned when absent). `ttl_seconds` or `expires_at`
/// (RFC 3339) sets when it expires (default: the collection's `default_ttl_seconds`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorRecord {
    pub id: Option<u64>,
    pub vector: Vec<f32>,
    pub text: Option<String>,
    pub metadata: Option<Value>,
    pub ttl_seconds: Option<f64>,
    pub expires_at: Option<String>,
}

/// Deduplicate on add: a record at least `min_score` similar to an existing one (among those
/// passing `filter`) updates it instead of adding a near-copy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupSpec {
    pub min_score: f32,
    #[serde(alias = "where")]
    pub filter: Option<Value>,
}

/// `POST /collections/{name}/vectors`: one record, or `{"vectors": [...]}`; with ids, `upsert`
/// replaces existing records; `dedup` merges near-copies.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WriteVectors {
    Batch {
        vectors: Vec<VectorRecord>,
        #[serde(default)]
        upsert: bool,
        dedup: Option<DedupSpec>,
    },
    One {
        #[serde(flatten)]
        record: VectorRecord,
        #[serde(default)]
        upsert: bool,
        dedup: Option<DedupSpec>,
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

/// `PUT /collections/{name}/vectors/{id}`: any of a new vector, text (re-embedded when no
/// vector comes with it and the server has a model), metadata (null clears it) and expiry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecord {
    pub vector: Option<Vec<f32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub text: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Value>>,
    pub ttl_seconds: Option<f64>,
    pub expires_at: Option<String>,
}

/// A field that is there (possibly `null`) as `Some`, apart from one that is absent (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// One text to embed and store, optionally under an id (then `upsert` applies).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRecord {
    pub id: Option<u64>,
    pub text: String,
    pub metadata: Option<Value>,
    pub ttl_seconds: Option<f64>,
    pub expires_at: Option<String>,
}

/// `POST /collections/{name}/text`: one text, or `{"texts": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WriteTexts {
    Batch {
        texts: Vec<TextRecord>,
        #[serde(default)]
        upsert: bool,
        dedup: Option<DedupSpec>,
    },
    One {
        #[serde(flatten)]
        record: TextRecord,
        #[serde(default)]
        upsert: bool,
        dedup: Option<DedupSpec>,
    },
}

/// Recency blended into the score: `(1 - weight) * similarity + weight * 0.5^(age /
/// half_life_seconds)`, the age taken from a metadata `field` (Unix seconds or RFC 3339) or,
/// without one, from when the record was last written.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecaySpec {
    pub field: Option<String>,
    pub half_life_seconds: f64,
    #[serde(default = "half")]
    pub weight: f32,
}

fn half() -> f32 {
    0.5
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
    /// Only results at least this similar (for euclidean and manhattan: within this distance).
    pub min_score: Option<f32>,
    pub decay: Option<DecaySpec>,
    /// `vector` (default: `vector` or `text` embedded), `keyword` (BM25 on `text`) or
    /// `hybrid` (`text` for both sides, or `text` and `vector`), fused as `hybrid` says.
    pub mode: Option<String>,
    /// Conditions on the record's text: `{"$contains": "ERR-4032"}`, `$not_contains`,
    /// `$regex`, combined with `$and` / `$or`.
    #[schema(value_type = Option<Object>)]
    pub where_document: Option<Value>,
    /// Maximal marginal relevance re-ranking: `{"lambda": 0.5, "fetch_k": 20}` (of the
    /// `fetch_k` best candidates, pick `k` balancing relevance, 1, against variety, 0).
    #[schema(value_type = Option<Object>)]
    pub mmr: Option<crate::Mmr>,
    /// How hybrid mode fuses its sides: `{"fusion": "rrf", "rrf_k": 60}` (default) or
    /// `{"fusion": "weighted", "vector_weight": 0.5}`, with optional `vector_k`, `keyword_k`
    /// (candidates per side).
    #[schema(value_type = Option<Object>)]
    pub hybrid: Option<crate::HybridOptions>,
    /// 0.1.x: accepted and ignored (the metric is the collection's).
    #[serde(rename = "similarity_metric")]
    #[schema(value_type = Option<String>)]
    pub _similarity_metric: Option<serde::de::IgnoredAny>,
}

/// `POST /collections/{name}/search/batch`: queries answered in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBatch {
    pub queries: Vec<Search>,
}

/// The answers of a batch search, in query order.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchBatchResponse {
    pub results: Vec<Vec<Hit>>,
}

/// `POST /collections/{name}/scroll`: records passing a filter, in id order, a page at a time.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scroll {
    #[serde(alias = "where")]
    pub filter: Option<Value>,
    /// Records per page, 1 to 10,000 (default 100).
    pub limit: Option<usize>,
    /// Start after this id: the previous page's `next_after_id`.
    pub after_id: Option<u64>,
    /// Skip this many matching records first.
    pub offset: Option<usize>,
    /// Any of "text", "metadata", "vector"; default text and metadata.
    pub include: Option<Vec<String>>,
}

/// One page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScrollResponse {
    pub records: Vec<RecordOut>,
    /// Pass as `after_id` for the next page; null after the last one.
    pub next_after_id: Option<u64>,
}

/// A record as listed: what `include` asked for, and its times (RFC 3339).
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordOut {
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// When it was last written (absent when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When it expires (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `POST /collections/{name}/count`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Count {
    #[serde(alias = "where")]
    pub filter: Option<Value>,
}

/// How many records passed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountResponse {
    pub count: usize,
}

/// `POST /collections/{name}/delete`: records by id, by filter, or the given ids that pass
/// the filter.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRecords {
    pub ids: Option<Vec<u64>>,
    #[serde(alias = "where")]
    pub filter: Option<Value>,
}

/// How many records were removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: usize,
}

/// `POST /collections/{name}/get`: records by id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetRecords {
    pub ids: Vec<u64>,
    /// Any of "text", "metadata", "vector"; default all three.
    pub include: Option<Vec<String>>,
}

/// The records found, in the order asked, and the ids that have none.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetResponse {
    pub records: Vec<RecordOut>,
    pub missing: Vec<u64>,
}

/// One search hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Hit {
    pub id: u64,
    /// Higher is better: the similarity, or its blend with recency when `decay` was asked for.
    pub score: f32,
    /// The raw similarity, when `score` blends in recency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// Keyword and hybrid modes: each side's rank and score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<crate::Sources>,
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

/// What a write did: `id` for a one-record body, `ids` (in request order) for a batch, and with
/// `dedup`, per record whether it was merged into an existing one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<WrittenRecord>>,
}

/// One record of a deduplicated write.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrittenRecord {
    pub id: u64,
    /// True when it updated an existing record instead of adding one.
    pub merged: bool,
}

/// `POST /collections/{name}/search`: hits, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub message: &'static str,
    /// The mode that ran: `vector`, `keyword` or `hybrid`.
    pub mode: &'static str,
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
