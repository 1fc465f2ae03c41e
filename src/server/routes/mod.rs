//! Thin handlers: parse, call the library on the blocking pool, shape the answer. No business
//! logic lives here; every failure goes through `ApiError`. Grouped by what they serve:
//! `collections`, `records`, `search`, `files`.

pub(super) mod collections;
pub(super) mod files;
pub(super) mod records;
pub(super) mod search;

use axum::Router;
use axum::routing::{get, post};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::collection::Collection;
use crate::filter::Filter;

/// The most records or texts one request may carry.
pub const MAX_BATCH: usize = 10_000;

/// A handle to the named collection (404 when there is none, 503 while recovering).
fn collection(state: &AppState, name: &str) -> Result<Collection, ApiError> {
    Ok(state.client()?.collection(name)?)
}

fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("'{raw}' is not a record id (an unsigned integer)")))
}

/// A metadata filter from a request (call on the blocking pool: a filter can be megabytes).
fn parse_filter(filter: Option<Value>) -> Result<Option<Filter>, ApiError> {
    Ok(filter.map(|f| Filter::parse(&f)).transpose().map_err(crate::Error::from)?)
}

/// A body that may be empty (then every field takes its default).
fn optional_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::from_json_error(&e))
}

/// Which fields of a record an answer carries (`"include": ["text", "metadata", "vector"]`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Include {
    pub text: bool,
    pub metadata: bool,
    pub vector: bool,
}

impl Include {
    pub(super) const TEXT_AND_METADATA: Include = Include { text: true, metadata: true, vector: false };
    pub(super) const ALL: Include = Include { text: true, metadata: true, vector: true };

    /// The fields `include` names, or `default` when it is absent.
    pub(super) fn parse(include: Option<&[String]>, default: Include) -> Result<Include, ApiError> {
        let Some(fields) = include else { return Ok(default) };
        let mut out = Include { text: false, metadata: false, vector: false };
        for f in fields {
            match f.as_str() {
                "text" | "texts" | "documents" => out.text = true,
                "metadata" | "metadatas" => out.metadata = true,
                "vector" | "vectors" | "embeddings" => out.vector = true,
                other => {
                    return Err(ApiError::invalid(format!(
                        "cannot include '{other}'; use text, metadata, vector"
                    )));
                }
            }
        }
        Ok(out)
    }
}

fn check_batch(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::new(ErrorCode::EmptyBatch, "the batch is empty"));
    }
    if n > MAX_BATCH {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!("{n} items; at most {MAX_BATCH} per request"),
        ));
    }
    Ok(())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(collections::health))
        .route("/collections", get(collections::list_collections).post(collections::create_collection))
        // The 0.1.x load route shares its path with a collection named "load": GET and DELETE
        // mean that collection.
        .route(
            "/collections/load",
            post(files::load_collection)
                .get(collections::load_named_info)
                .delete(collections::load_named_delete),
        )
        .route(
            "/collections/{name}",
            get(collections::collection_info).delete(collections::delete_collection),
        )
        .route("/collections/{name}/vectors", post(records::write_vectors))
        .route("/collections/{name}/vector", post(records::legacy_vector))
        .route(
            "/collections/{name}/vectors/{id}",
            get(records::get_record)
                .patch(records::patch_record)
                .put(records::update_record)
                .delete(records::delete_record),
        )
        .route("/collections/{name}/text", post(records::write_texts))
        .route("/collections/{name}/scroll", post(records::scroll))
        .route("/collections/{name}/count", post(records::count))
        .route("/collections/{name}/delete", post(records::delete_records))
        .route("/collections/{name}/get", post(records::get_records))
        .route("/collections/{name}/search", post(search::search))
        .route("/collections/{name}/search/batch", post(search::search_batch))
        .route("/collections/{name}/search/text", post(search::search))
        .route("/collections/{name}/search/vector", post(search::search))
        .route("/collections/{name}/save", post(files::save_collection))
        .route("/save", post(files::save_database))
        .route("/load", post(files::load_database))
}
