//! Health and collections: list, create, inspect, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::super::AppState;
use super::super::api::{Ack, CollectionList, CollectionResponse, CreateCollection, ErrorBody, Health};
use super::super::error::ApiError;
use super::super::extract::ApiJson;
use crate::config::{CollectionConfig, IndexType};

/// Liveness, version and embedding model; needs no API key. Answers while the database is
/// still recovering its log after a restart, with `"status": "recovering"`.
#[utoipa::path(get, path = "/health", tag = "service", security(()),
    responses((status = 200, body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    let client = state.client().ok();
    Json(Health {
        status: if client.is_some() { "ok" } else { "recovering" },
        service: "vectorlite",
        version: env!("CARGO_PKG_VERSION"),
        embedding_model: client.and_then(|c| c.embedder()).and_then(|e| e.model_id().ok()),
    })
}

/// Names of all collections, sorted.
#[utoipa::path(get, path = "/collections", tag = "collections",
    responses((status = 200, body = CollectionList), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_collections(
    State(state): State<AppState>,
) -> Result<Json<CollectionList>, ApiError> {
    Ok(Json(CollectionList { collections: state.client()?.list_collections() }))
}

fn index_from(spec: Option<serde_json::Value>, legacy: Option<String>) -> Result<IndexType, ApiError> {
    match (spec, legacy) {
        (Some(_), Some(_)) => Err(ApiError::invalid("give index or index_type, not both")),
        (None, Some(kind)) => Ok(kind.parse::<IndexType>()?),
        (Some(spec), None) => {
            serde_json::from_value(spec).map_err(|e| ApiError::invalid(format!("index: {e}")))
        }
        (None, None) => Ok(IndexType::default()),
    }
}

/// Creates a collection; `dimension` defaults to the embedding model's.
#[utoipa::path(post, path = "/collections", tag = "collections", request_body = CreateCollection,
    responses(
        (status = 201, body = CollectionResponse),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Bad name, dimension, metric or index", body = ErrorBody),
    ))]
pub(crate) async fn create_collection(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateCollection>,
) -> Result<Response, ApiError> {
    let client = state.client()?.clone();
    let dimension = match (req.dimension, client.embedder()) {
        (Some(d), _) => d,
        (None, Some(e)) => e.dimension()?,
        (None, None) => {
            return Err(ApiError::invalid("dimension is required (the server has no embedding model)"));
        }
    };
    let metric = req.metric.as_deref().map(str::parse).transpose()?.unwrap_or_default();
    let config = CollectionConfig {
        dimension,
        metric,
        index: index_from(req.index, req.index_type)?,
        default_ttl_seconds: req.default_ttl_seconds,
        text: req.text.unwrap_or_default(),
        vector_storage: req.vector_storage.as_deref().map(str::parse).transpose()?.unwrap_or_default(),
        rescore: req.rescore.unwrap_or(true),
        on_disk: req.on_disk.unwrap_or(false),
    };
    let name = req.name;
    let info = state.blocking(move || Ok(client.create_collection(&name, config)?.info())).await?;
    let body = CollectionResponse { message: format!("collection '{}' created", info.name), info };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Record count, dimension, metric, index parameters and memory of one collection.
#[utoipa::path(get, path = "/collections/{name}", tag = "collections", params(("name" = String, Path)),
    responses((status = 200, body = CollectionResponse), (status = 404, body = ErrorBody)))]
pub(crate) async fn collection_info(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CollectionResponse>, ApiError> {
    let client = state.client()?.clone();
    let info = state.blocking(move || Ok(client.collection_info(&name)?)).await?;
    Ok(Json(CollectionResponse { message: "ok".into(), info }))
}

/// Deletes a collection and its records.
#[utoipa::path(delete, path = "/collections/{name}", tag = "collections", params(("name" = String, Path)),
    responses((status = 200, body = Ack), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_collection(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Ack>, ApiError> {
    let client = state.client()?.clone();
    let message = format!("collection '{name}' deleted");
    state.blocking(move || Ok(client.delete_collection(&name)?)).await?;
    Ok(Json(Ack { message, id: None }))
}

/// `GET /collections/load`: the collection named "load".
pub(crate) async fn load_named_info(state: State<AppState>) -> Result<Json<CollectionResponse>, ApiError> {
    collection_info(state, Path("load".to_owned())).await
}

/// `DELETE /collections/load`: the collection named "load".
pub(crate) async fn load_named_delete(state: State<AppState>) -> Result<Json<Ack>, ApiError> {
    delete_collection(state, Path("load".to_owned())).await
}
