//! Search by vector or text, with metadata filters.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::super::AppState;
use super::super::api::{ErrorBody, Hit, Search, SearchResponse};
use super::super::error::{ApiError, ErrorCode};
use super::super::extract::ApiJson;
use super::collection;
use crate::SearchResult;
use crate::collection::SearchOptions;
use crate::filter::Filter;

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
pub(crate) async fn search(
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
        _ => return Err(ApiError::new(ErrorCode::InvalidQuery, "give exactly one of vector or text")),
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
                    return Err(ApiError::invalid(format!(
                        "cannot include '{other}'; use text, metadata, vector"
                    )));
                }
            }
        }
    }
    let (k, ef, filter) = (req.k.unwrap_or(10), req.ef, req.filter);
    let results: Vec<SearchResult> = state
        .blocking(move || {
            // Parsed here, off the async threads: a filter can be megabytes.
            let filter = filter.map(|f| Filter::parse(&f)).transpose().map_err(crate::Error::from)?;
            let options = SearchOptions { k, filter, ef, include_vectors: vector };
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
