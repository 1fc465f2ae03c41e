//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request and response types, so it cannot describe an API the server does not have. Served at
//! `GET /openapi.json` and checked in as `docs/openapi.json` (a test fails when they drift).

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{metrics, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vectorlite",
        description = "An in-memory vector database for AI agents. Every error answers \
            `{\"error\": {\"code\", \"message\"}}`; when the server has an API key, every route \
            but /health needs `Authorization: Bearer <key>`."
    ),
    paths(
        routes::collections::health,
        metrics::render,
        openapi_json,
        routes::collections::list_collections,
        routes::collections::create_collection,
        routes::collections::collection_info,
        routes::collections::delete_collection,
        routes::records::write_vectors,
        routes::records::legacy_vector,
        routes::records::get_record,
        routes::records::patch_record,
        routes::records::update_record,
        routes::records::delete_record,
        routes::records::write_texts,
        routes::records::scroll,
        routes::records::count,
        routes::records::delete_records,
        routes::records::get_records,
        routes::search::search,
        routes::search::search_batch,
        routes::files::save_collection,
        routes::files::load_collection,
        routes::files::save_database,
        routes::files::load_database,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "service", description = "Health, metrics and this document"),
        (name = "collections", description = "Create, list, inspect and delete collections"),
        (name = "records", description = "Write (with expiry and deduplication), read, list, count, update and delete records"),
        (name = "search", description = "Nearest neighbours by vector or text, with metadata filters, a minimum score and recency; one query or a batch"),
        (name = "persistence", description = "Save and load files in the data directory"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document as checked in at `docs/openapi.json`: pretty JSON with a final newline.
pub fn openapi_document() -> String {
    let mut doc = serde_json::to_string_pretty(&ApiDoc::openapi()).unwrap_or_default();
    doc.push('\n');
    doc
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(super) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
