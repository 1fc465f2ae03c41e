//! Search by vector or text, by keywords (BM25) or both fused, with metadata and document
//! filters, a minimum score, recency decay and MMR; one query or a batch.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::super::AppState;
use super::super::api::{ErrorBody, Hit, Search, SearchBatch, SearchBatchResponse, SearchResponse};
use super::super::error::{ApiError, ErrorCode};
use super::super::extract::ApiJson;
use super::{Include, collection, parse_filter};
use crate::SearchResult;
use crate::collection::{Collection, Decay, HybridOptions, SearchOptions};
use crate::filter::DocumentFilter;

/// The most queries one batch may carry.
pub const MAX_QUERIES: usize = 1_000;

enum Query {
    Vector(Vec<f32>),
    Text(String),
    Keyword(String),
    Hybrid { text: String, vector: Option<Vec<f32>>, options: HybridOptions },
}

impl Query {
    fn mode(&self) -> &'static str {
        match self {
            Query::Vector(_) | Query::Text(_) => "vector",
            Query::Keyword(_) => "keyword",
            Query::Hybrid { .. } => "hybrid",
        }
    }
}

/// A query checked and parsed: what to search with, how, and which fields to return.
struct Parsed {
    query: Query,
    options: SearchOptions,
    include: Include,
}

/// Parses a search body (on the blocking pool: its filter can be megabytes).
fn parse(req: Search) -> Result<Parsed, ApiError> {
    let mode = req.mode.as_deref().unwrap_or("vector");
    if req.hybrid.is_some() && mode != "hybrid" {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "`hybrid` options need \"mode\": \"hybrid\""));
    }
    let query = match (mode, req.vector, req.text, req.query) {
        ("vector", Some(v), None, None) => Query::Vector(v),
        ("vector", None, Some(t), None) | ("vector", None, None, Some(Value::String(t))) => Query::Text(t),
        ("vector", None, None, Some(Value::Array(items))) => Query::Vector(
            items
                .iter()
                .map(|x| x.as_f64().map(|f| f as f32))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::bad_request("query must be a string or an array of numbers"))?,
        ),
        ("vector", ..) => {
            return Err(ApiError::new(ErrorCode::InvalidQuery, "give exactly one of vector or text"));
        }
        ("keyword", None, Some(t), None) => Query::Keyword(t),
        ("keyword", ..) => {
            return Err(ApiError::new(ErrorCode::InvalidQuery, "keyword mode takes `text` alone"));
        }
        ("hybrid", vector, Some(text), None) => {
            Query::Hybrid { text, vector, options: req.hybrid.unwrap_or_default() }
        }
        ("hybrid", ..) => {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "hybrid mode takes `text`, and optionally `vector`",
            ));
        }
        (other, ..) => {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("unknown mode '{other}'; use vector, keyword or hybrid"),
            ));
        }
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
        document: req
            .where_document
            .as_ref()
            .map(DocumentFilter::parse)
            .transpose()
            .map_err(crate::Error::from)?,
        mmr: req.mmr,
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
            sources: r.sources,
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
            _ => None,
        })
        .collect();
    let mut embedded = if texts.is_empty() { Vec::new() } else { c.embed_queries(&texts)? }.into_iter();
    let vectors: Vec<Option<Vec<f32>>> = parsed
        .iter()
        .map(|p| match &p.query {
            Query::Vector(v) => Some(v.clone()),
            Query::Text(_) => Some(embedded.next().unwrap_or_default()),
            _ => None,
        })
        .collect();
    let queries: Vec<(&[f32], &SearchOptions)> =
        vectors.iter().zip(parsed).filter_map(|(v, p)| v.as_deref().map(|v| (v, &p.options))).collect();
    let mut by_vector = c.search_each(&queries)?.into_iter();
    // Keyword and hybrid queries run one by one, in their places.
    parsed
        .iter()
        .map(|p| match &p.query {
            Query::Vector(_) | Query::Text(_) => Ok(by_vector.next().unwrap_or_default()),
            other => one(c, other, &p.options),
        })
        .collect()
}

/// One query of any mode.
fn one(c: &Collection, query: &Query, options: &SearchOptions) -> Result<Vec<SearchResult>, ApiError> {
    Ok(match query {
        Query::Vector(v) => c.search(v, options)?,
        Query::Text(t) => c.search_text(t, options)?,
        Query::Keyword(t) => c.search_keyword(t, options)?,
        Query::Hybrid { text, vector, options: hybrid } => {
            c.search_hybrid(text, vector.as_deref(), options, hybrid)?
        }
    })
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
    let (results, include, mode) = state
        .blocking(move || {
            let parsed = parse(req)?;
            let results = one(&c, &parsed.query, &parsed.options)?;
            Ok((results, parsed.include, parsed.query.mode()))
        })
        .await?;
    Ok(Json(SearchResponse { message: "ok", mode, results: hits(results, include) }))
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
