//! `/metrics` in the Prometheus text format: requests and latency by route template and
//! status, and the record count of each collection (read at scrape time).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CollectionLabels {
    collection: String,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// The server's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: LatencyFamily,
    records: Family<CollectionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("vectorlite");
        let requests = Family::<RouteLabels, Counter>::default();
        // 50 µs to ~1.6 s in factors of 2.
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(5e-5, 2.0, 16)));
        let records = Family::<CollectionLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests by route template and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register("collection_records", "Live records per collection", records.clone());
        Self { registry, requests, latency, records }
    }
}

/// Counts and times every request under its route template (`/collections/{name}`), so
/// collection names and ids do not multiply the series.
pub(super) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(req).await;
    let m = &state.metrics;
    m.latency
        .get_or_create(&LatencyLabels { method: method.clone(), route: route.clone() })
        .observe(start.elapsed().as_secs_f64());
    m.requests.get_or_create(&RouteLabels { method, route, status: response.status().as_u16() }).inc();
    response
}

/// Prometheus text format: requests and latency by route and status, records by collection.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
        content_type = "text/plain; version=0.0.4")))]
pub(super) async fn render(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    // Counting takes each collection's lock, which a long write may hold: not on this thread.
    let counts = match state.client() {
        Ok(client) => {
            let client = client.clone();
            let counted = state.blocking(move || {
                Ok(client
                    .list_collections()
                    .into_iter()
                    .filter_map(|name| client.collection(&name).ok().map(|c| (name, c.len())))
                    .collect::<Vec<_>>())
            });
            counted.await.unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    m.records.clear();
    for (name, len) in counts {
        m.records.get_or_create(&CollectionLabels { collection: name }).set(len as i64);
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &m.registry).is_err() {
        return super::error::ApiError::new(super::error::ErrorCode::Internal, "metrics encoding failed")
            .into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}
