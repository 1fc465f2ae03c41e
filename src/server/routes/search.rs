//! Search by vector or text, with metadata filters, a minimum score and recency decay; one
//! query or a batch.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::super::AppState;
use super::super::api::{ErrorBody, Hit, Search, SearchBatch, SearchBatchResponse, SearchResponse};
use super::super::error::{ApiError, ErrorCode};
use super::super::extract::ApiJson;
use super::{Include, collection, parse_filter};
use crate::SearchResult;
use crate::collection::{Collection, Decay, SearchOptions};

/// The most queries one batch may carry.
pub const MAX_QUERIES: usize = 1_000;

enum Query {
    Vector(Vec<f32>),
    Text(String),
}

/// A query checked and parsed: what to search with, how, and which fields to return.
struct Parsed {
    query: Query,
    options: SearchOptions,
    include: Include,
}

/// Parses a search body (on the blocking pool: its filter can be megabytes).
fn parse(req: Search) -> Result<Parsed, ApiError> {
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
    let include = Include::parse(req.include.as_deref(), Include::TEXT_AND_METADATA)?;
    let decay =
        req.decay.map(|d| Decay { field: d.field, half_life_seconds: d.half_life_seconds, weight: d.weight });
    let options = SearchOptions {
        k: req.k.unwrap_or(10),
        filter: parse_filter(req.filter)?,
        ef: req.ef,
        include_vectors: include.vector,
        min_score: req.min_score,
        decay,
    };
    Ok(Parsed { query, options, include })
}

fn hits(results: Vec<SearchResult>, include: Include) -> Vec<Hit> {
    results
        .into_iter()
        .map(|r| Hit {
            id: r.id,
            score: r.score,
            similarity: r.similarity,
            text: r.text.filter(|_| include.text),
            metadata: r.metadata.filter(|_| include.metadata),
            vector: r.vector,
        })
        .collect()
}

/// Runs parsed queries: text queries are embedded in one batched call, then every query runs
/// under one read lock, spread over the cores.
fn run(c: &Collection, parsed: &[Parsed]) -> Result<Vec<Vec<SearchResult>>, ApiError> {
    let texts: Vec<&str> = parsed
        .iter()
        .filter_map(|p| match &p.query {
            Query::Text(t) => Some(t.as_str()),
            Query::Vector(_) => None,
        })
        .collect();
    let mut embedded = if texts.is_empty() { Vec::new() } else { c.embed_queries(&texts)? }.into_iter();
    let vectors: Vec<Vec<f32>> = parsed
        .iter()
        .map(|p| match &p.query {
            Query::Vector(v) => v.clone(),
            Query::Text(_) => embedded.next().unwrap_or_default(),
        })
        .collect();
    let queries: Vec<(&[f32], &SearchOptions)> =
        vectors.iter().map(|v| &v[..]).zip(parsed.iter().map(|p| &p.options)).collect();
    Ok(c.search_each(&queries)?)
}

/// The k records most similar to a vector or a text, optionally filtered by metadata, above a
/// minimum score, with recency blended in; best first. Also answers the 0.1.x routes
/// `/search/text` and `/search/vector` (`{"query", "k"}`).
#[utoipa::path(post, path = "/collections/{name}/search", tag = "search", params(("name" = String, Path)),
    request_body = Search,
    responses(
        (status = 200, body = SearchResponse),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Wrong dimension, bad k, filter, min_score or decay", body = ErrorBody),
        (status = 503, description = "A text query and no embedding model", body = ErrorBody),
    ))]
pub(crate) async fn search(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<Search>,
) -> Result<Json<SearchResponse>, ApiError> {
    let c = collection(&state, &name)?;
    let (results, include) = state
        .blocking(move || {
            let parsed = parse(req)?;
            let results = match &parsed.query {
                Query::Vector(v) => c.search(v, &parsed.options)?,
                Query::Text(t) => c.search_text(t, &parsed.options)?,
            };
            Ok((results, parsed.include))
        })
        .await?;
    Ok(Json(SearchResponse { message: "ok", results: hits(results, include) }))
}

/// Many queries (vectors or texts, each with its own k, filter and options) in one request,
/// answered in order; text queries are embedded together and the searches run across cores.
#[utoipa::path(post, path = "/collections/{name}/search/batch", tag = "search", params(("name" = String, Path)),
    request_body = SearchBatch,
    responses(
        (status = 200, body = SearchBatchResponse),
        (status = 404, body = ErrorBody),
        (status = 413, description = "More than 1,000 queries", body = ErrorBody),
        (status = 422, description = "A query is invalid (the message names which)", body = ErrorBody),
        (status = 503, description = "A text query and no embedding model", body = ErrorBody),
    ))]
pub(crate) async fn search_batch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SearchBatch>,
) -> Result<Json<SearchBatchResponse>, ApiError> {
    let c = collection(&state, &name)?;
    let n = req.queries.len();
    if n == 0 {
        return Err(ApiError::new(ErrorCode::EmptyBatch, "the batch has no queries"));
    }
    if n > MAX_QUERIES {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!("{n} queries; at most {MAX_QUERIES} per request"),
        ));
    }
    let results = state
        .blocking(move || {
            let parsed = req
                .queries
                .into_iter()
                .enumerate()
                .map(|(i, q)| {
                    parse(q).map_err(|e| {
                        let message = format!("query {i}: {}", e.message);
                        e.with_message(message)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let results = run(&c, &parsed)?;
            Ok(results.into_iter().zip(&parsed).map(|(r, p)| hits(r, p.include)).collect())
        })
        .await?;
    Ok(Json(SearchBatchResponse { results }))
}
