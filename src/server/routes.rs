//! Thin handlers: parse, call the library on the blocking pool, shape the answer. No business
//! logic lives here; every failure goes through `ApiError`.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AppState;
use super::api::{
    Ack, CollectionList, CollectionResponse, CreateCollection, DatabaseResponse, ErrorBody, Health, Hit,
    IndexSpec, LegacyVector, LoadFile, Loaded, PatchMetadata, SaveFile, Saved, Search, SearchResponse,
    WriteTexts, WriteVectors, Written,
};
use super::error::ApiError;
use crate::collection::{Collection, NewRecord, Record, SearchOptions};
use crate::config::{CollectionConfig, HnswParams, IndexType};
use crate::filter::Filter;
use crate::persist::{LoadMode, LoadOptions, SaveOptions};
use crate::{SearchResult, VectorLiteClient};

/// The most records or texts one request may carry.
pub const MAX_BATCH: usize = 10_000;

/// JSON body extractor whose failures are our JSON errors (400, or 413 when too large).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", rejection.body_text()))
            }
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// Runs library work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("worker task failed: {e}"))
    })?
}

fn collection(state: &AppState, name: &str) -> Result<Collection, ApiError> {
    Ok(state.client.collection(name)?)
}

fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("'{raw}' is not a record id (an unsigned integer)")))
}

fn check_batch(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::invalid("empty_batch", "the batch is empty"));
    }
    if n > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{n} items; at most {MAX_BATCH} per request"),
        ));
    }
    Ok(())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/collections", get(list_collections).post(create_collection))
        .route("/collections/load", post(load_collection))
        .route("/collections/{name}", get(collection_info).delete(delete_collection))
        .route("/collections/{name}/vectors", post(write_vectors))
        .route("/collections/{name}/vector", post(legacy_vector))
        .route("/collections/{name}/vectors/{id}", get(get_record).patch(patch_record).delete(delete_record))
        .route("/collections/{name}/text", post(write_texts))
        .route("/collections/{name}/search", post(search))
        .route("/collections/{name}/search/text", post(search))
        .route("/collections/{name}/search/vector", post(search))
        .route("/collections/{name}/save", post(save_collection))
        .route("/save", post(save_database))
        .route("/load", post(load_database))
}

/// Liveness, version and embedding model; needs no API key.
#[utoipa::path(get, path = "/health", tag = "service", security(()),
    responses((status = 200, body = Health)))]
pub(super) async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        service: "vectorlite",
        version: env!("CARGO_PKG_VERSION"),
        embedding_model: state.client.embedder().and_then(|e| e.model_id().ok()),
    })
}

/// Names of all collections, sorted.
#[utoipa::path(get, path = "/collections", tag = "collections",
    responses((status = 200, body = CollectionList), (status = 401, body = ErrorBody)))]
pub(super) async fn list_collections(State(state): State<AppState>) -> Json<CollectionList> {
    Json(CollectionList { collections: state.client.list_collections() })
}

fn index_from(spec: Option<IndexSpec>, legacy: Option<String>) -> Result<IndexType, ApiError> {
    let (kind, params) = match (spec, legacy) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("invalid_parameter", "give index or index_type, not both"));
        }
        (Some(IndexSpec::Name(kind)), None) | (None, Some(kind)) => (kind, HnswParams::default()),
        (Some(IndexSpec::Detailed { kind, params }), None) => (kind, params.apply()),
        (None, None) => return Ok(IndexType::default()),
    };
    match kind.to_ascii_lowercase().as_str() {
        "flat" => Ok(IndexType::Flat),
        "hnsw" => Ok(IndexType::HNSW(params)),
        other => {
            Err(ApiError::invalid("invalid_parameter", format!("unknown index '{other}'; use flat or hnsw")))
        }
    }
}

/// Creates a collection; `dimension` defaults to the embedding model's.
#[utoipa::path(post, path = "/collections", tag = "collections", request_body = CreateCollection,
    responses(
        (status = 201, body = CollectionResponse),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Bad name, dimension, metric or index", body = ErrorBody),
    ))]
pub(super) async fn create_collection(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateCollection>,
) -> Result<Response, ApiError> {
    let dimension = match (req.dimension, state.client.embedder()) {
        (Some(d), _) => d,
        (None, Some(e)) => e.dimension()?,
        (None, None) => {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "dimension is required (the server has no embedding model)",
            ));
        }
    };
    let config = CollectionConfig {
        dimension,
        metric: req.metric.unwrap_or_default(),
        index: index_from(req.index, req.index_type)?,
    };
    let c = state.client.create_collection(&req.name, config)?;
    let body = CollectionResponse { message: format!("collection '{}' created", req.name), info: c.info() };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Record count, dimension, metric, index parameters and memory of one collection.
#[utoipa::path(get, path = "/collections/{name}", tag = "collections", params(("name" = String, Path)),
    responses((status = 200, body = CollectionResponse), (status = 404, body = ErrorBody)))]
pub(super) async fn collection_info(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CollectionResponse>, ApiError> {
    let info = state.client.collection_info(&name)?;
    Ok(Json(CollectionResponse { message: "ok".into(), info }))
}

/// Deletes a collection and its records.
#[utoipa::path(delete, path = "/collections/{name}", tag = "collections", params(("name" = String, Path)),
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_collection(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Ack>, ApiError> {
    state.client.delete_collection(&name)?;
    Ok(Json(Ack { message: format!("collection '{name}' deleted"), id: None }))
}

/// Adds one record or a batch (`{"vectors": [...]}`); with ids, `upsert` replaces existing ones.
#[utoipa::path(post, path = "/collections/{name}/vectors", tag = "records", params(("name" = String, Path)),
    request_body = WriteVectors,
    responses(
        (status = 200, body = Written),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An id is taken and `upsert` is false", body = ErrorBody),
        (status = 413, description = "More than 10,000 records", body = ErrorBody),
        (status = 422, description = "Wrong dimension, NaN or infinity, bad metadata", body = ErrorBody),
    ))]
pub(super) async fn write_vectors(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<WriteVectors>,
) -> Result<Json<Written>, ApiError> {
    let c = collection(&state, &name)?;
    let (records, upsert) = match req {
        WriteVectors::Batch { vectors, upsert } => (vectors, upsert),
        WriteVectors::One { record, upsert } => (vec![record], upsert),
    };
    check_batch(records.len())?;
    let with_ids = records.iter().filter(|r| r.id.is_some()).count();
    if with_ids != 0 && with_ids != records.len() {
        return Err(ApiError::invalid("invalid_parameter", "give an id for every record or for none"));
    }
    let ids = blocking(move || {
        if with_ids == 0 {
            let new = records.into_iter().map(|r| NewRecord {
                vector: r.vector,
                text: r.text,
                metadata: r.metadata,
            });
            return Ok(c.add_batch(new.collect())?);
        }
        let ids: Vec<u64> = records.iter().filter_map(|r| r.id).collect();
        let full = records.into_iter().map(|r| Record {
            id: r.id.unwrap_or_default(),
            vector: r.vector,
            text: r.text,
            metadata: r.metadata,
        });
        if upsert {
            c.upsert_batch(full.collect())?
        } else {
            c.insert_batch(full.collect())?
        }
        Ok(ids)
    })
    .await?;
    Ok(Json(Written { message: format!("{} records written", ids.len()), ids: Some(ids), id: None }))
}

/// vectorlite 0.1.x (deprecated: use `POST /collections/{name}/vectors`): one vector, explicit id.
#[utoipa::path(post, path = "/collections/{name}/vector", tag = "records", params(("name" = String, Path)),
    request_body = LegacyVector,
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn legacy_vector(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<LegacyVector>,
) -> Result<Json<Ack>, ApiError> {
    let c = collection(&state, &name)?;
    let vector: Vec<f32> = req.values.iter().map(|&x| x as f32).collect();
    blocking(move || Ok(c.insert(req.id, &vector, None, None)?)).await?;
    Ok(Json(Ack { message: "Vector added successfully".into(), id: Some(req.id) }))
}

/// One record: id, vector, text and metadata.
#[utoipa::path(get, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)),
    responses((status = 200, body = Record), (status = 404, body = ErrorBody)))]
pub(super) async fn get_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Record>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(collection(&state, &name)?.get(id)?))
}

/// Replaces a record's metadata (null clears it).
#[utoipa::path(patch, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)), request_body = PatchMetadata,
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn patch_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PatchMetadata>,
) -> Result<Json<Ack>, ApiError> {
    let id = parse_id(&id)?;
    collection(&state, &name)?.update_metadata(id, req.metadata)?;
    Ok(Json(Ack { message: "metadata updated".into(), id: Some(id) }))
}

/// Deletes a record; its id is never reused.
#[utoipa::path(delete, path = "/collections/{name}/vectors/{id}", tag = "records",
    params(("name" = String, Path), ("id" = u64, Path)),
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_record(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Ack>, ApiError> {
    let id = parse_id(&id)?;
    let c = collection(&state, &name)?;
    blocking(move || Ok(c.delete(id)?)).await?;
    Ok(Json(Ack { message: "record deleted".into(), id: Some(id) }))
}

/// Embeds and stores one text or a batch (`{"texts": [...]}`) with the server's model.
#[utoipa::path(post, path = "/collections/{name}/text", tag = "records", params(("name" = String, Path)),
    request_body = WriteTexts,
    responses(
        (status = 200, body = Written),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Bad metadata, or the collection holds another model's vectors", body = ErrorBody),
        (status = 503, description = "The server runs without an embedding model", body = ErrorBody),
    ))]
pub(super) async fn write_texts(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<WriteTexts>,
) -> Result<Json<Written>, ApiError> {
    let c = collection(&state, &name)?;
    let (items, single) = match req {
        WriteTexts::Batch { texts } => (texts, false),
        WriteTexts::One(t) => (vec![t], true),
    };
    check_batch(items.len())?;
    let items: Vec<(String, Option<Value>)> = items.into_iter().map(|t| (t.text, t.metadata)).collect();
    let ids = blocking(move || Ok(c.add_texts(items)?)).await?;
    Ok(Json(if single {
        Written { message: "Text added successfully".into(), id: ids.first().copied(), ids: None }
    } else {
        Written { message: format!("{} texts added", ids.len()), ids: Some(ids), id: None }
    }))
}

enum Query {
    Vector(Vec<f32>),
    Text(String),
}

/// The k records most similar to a vector or a text, optionally filtered by metadata; best first.
/// Also answers the 0.1.x routes `/search/text` and `/search/vector` (`{"query", "k"}`).
#[utoipa::path(post, path = "/collections/{name}/search", tag = "search", params(("name" = String, Path)),
    request_body = Search,
    responses(
        (status = 200, body = SearchResponse),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Wrong dimension, bad k or filter", body = ErrorBody),
        (status = 503, description = "A text query and no embedding model", body = ErrorBody),
    ))]
pub(super) async fn search(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<Search>,
) -> Result<Json<SearchResponse>, ApiError> {
    let c = collection(&state, &name)?;
    let query = match (req.vector, req.text, req.query) {
        (Some(v), None, None) => Query::Vector(v),
        (None, Some(t), None) | (None, None, Some(Value::String(t))) => Query::Text(t),
        (None, None, Some(Value::Array(items))) => Query::Vector(
            items
                .iter()
                .map(|x| x.as_f64().map(|f| f as f32))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::bad_request("query must be a string or an array of numbers"))?,
        ),
        _ => return Err(ApiError::invalid("invalid_query", "give exactly one of vector or text")),
    };
    let (mut text, mut metadata, mut vector) = (true, true, false);
    if let Some(fields) = &req.include {
        (text, metadata, vector) = (false, false, false);
        for f in fields {
            match f.as_str() {
                "text" => text = true,
                "metadata" => metadata = true,
                "vector" | "vectors" => vector = true,
                other => {
                    return Err(ApiError::invalid(
                        "invalid_parameter",
                        format!("cannot include '{other}'; use text, metadata, vector"),
                    ));
                }
            }
        }
    }
    let filter = req.filter.map(|f| Filter::parse(&f)).transpose().map_err(crate::Error::from)?;
    let options = SearchOptions { k: req.k.unwrap_or(10), filter, ef: req.ef, include_vectors: vector };
    let results: Vec<SearchResult> = blocking(move || {
        Ok(match query {
            Query::Vector(v) => c.search(&v, &options)?,
            Query::Text(t) => c.search_text(&t, &options)?,
        })
    })
    .await?;
    let hits: Vec<Hit> = results
        .into_iter()
        .map(|r| Hit {
            id: r.id,
            score: r.score,
            text: r.text.filter(|_| text),
            metadata: r.metadata.filter(|_| metadata),
            vector: r.vector,
        })
        .collect();
    Ok(Json(SearchResponse { message: "ok", results: hits }))
}

/// Saves one collection to a file in the data directory (default `<name>.vlc`); the body is optional.
#[utoipa::path(post, path = "/collections/{name}/save", tag = "persistence", params(("name" = String, Path)),
    request_body(content = Option<SaveFile>),
    responses((status = 200, body = Saved), (status = 404, body = ErrorBody),
        (status = 422, description = "The path leaves the data directory", body = ErrorBody)))]
pub(super) async fn save_collection(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Saved>, ApiError> {
    let c = collection(&state, &name)?;
    // The body is optional: no body saves to `<name>.vlc`.
    let req: SaveFile = if body.iter().all(u8::is_ascii_whitespace) {
        SaveFile::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let rel = req.file.unwrap_or_else(|| format!("{name}.vlc"));
    let path = state.data_path(&rel)?;
    blocking(move || Ok(c.save_to_file(&path, &SaveOptions::default())?)).await?;
    Ok(Json(Saved { message: format!("collection '{name}' saved"), file_path: rel }))
}

/// Loads a collection file from the data directory: as a new collection, or overriding or merging
/// into the one of the same name.
#[utoipa::path(post, path = "/collections/load", tag = "persistence", request_body = LoadFile,
    responses((status = 200, body = Loaded), (status = 404, description = "No such file", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "Corrupt file, or the path leaves the data directory", body = ErrorBody)))]
pub(super) async fn load_collection(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoadFile>,
) -> Result<Json<Loaded>, ApiError> {
    let path = state.data_path(&req.file)?;
    let client = state.client.clone();
    let mode = req.mode.as_deref().map(str::to_ascii_lowercase);
    let name = blocking(move || {
        Ok(match (mode.as_deref(), req.name) {
            (Some("override"), None) => client.load_collection(&path, LoadMode::Override)?,
            (Some("merge"), None) => client.load_collection(&path, LoadMode::Merge)?,
            (None | Some("create"), name) => {
                let loaded = Collection::load_from_file(&path, &LoadOptions::default())?;
                let name = name.unwrap_or_else(|| loaded.name().to_owned());
                client.add_collection(loaded, &name)?;
                name
            }
            (Some(other), _) => {
                return Err(ApiError::invalid(
                    "invalid_parameter",
                    format!(
                        "mode '{other}' (with a name only 'create' applies); use override, merge or create"
                    ),
                ));
            }
        })
    })
    .await?;
    Ok(Json(Loaded { message: format!("collection '{name}' loaded"), collection_name: name }))
}

/// Saves the whole database to the data directory (manifest last, atomically); for a durable
/// database, a checkpoint.
#[utoipa::path(post, path = "/save", tag = "persistence",
    responses((status = 200, body = DatabaseResponse), (status = 401, body = ErrorBody)))]
pub(super) async fn save_database(State(state): State<AppState>) -> Result<Json<DatabaseResponse>, ApiError> {
    let (client, dir) = (state.client.clone(), state.data_dir.clone());
    blocking(move || Ok(client.save_to_directory(&dir, &SaveOptions::default())?)).await?;
    Ok(Json(DatabaseResponse { message: "database saved", collections: state.client.list_collections() }))
}

/// Replaces the database in memory with the one saved in the data directory. A durable
/// database (the default) always holds exactly that already, so this changes nothing.
#[utoipa::path(post, path = "/load", tag = "persistence",
    responses((status = 200, body = DatabaseResponse), (status = 422, description = "Corrupt files", body = ErrorBody)))]
pub(super) async fn load_database(State(state): State<AppState>) -> Result<Json<DatabaseResponse>, ApiError> {
    let (client, dir) = (state.client.clone(), state.data_dir.clone());
    let message = if client.data_dir().is_some() {
        "the database is durable: it already holds everything in the data directory"
    } else {
        blocking(move || {
            let loaded = VectorLiteClient::load_from_directory(&dir, &LoadOptions::default())?;
            Ok(client.replace_collections(loaded)?)
        })
        .await?;
        "database loaded"
    };
    Ok(Json(DatabaseResponse { message, collections: state.client.list_collections() }))
}
