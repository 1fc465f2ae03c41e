//! The HTTP/JSON server: a thin layer over [`VectorLiteClient`]. `router` builds the axum app
//! (routes, limits, API key, JSON errors everywhere); `serve` opens the data directory as a
//! durable database (every acknowledged write is in its log), serves until SIGINT/SIGTERM,
//! finishes in-flight requests and checkpoints.

mod api;
pub mod error;
mod metrics;
mod openapi;
mod routes;

pub use self::openapi::openapi_document;

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use self::error::ApiError;
use crate::embed::EmbeddingFunction;
use crate::{DurabilityOptions, VectorLiteClient};

/// Names in the data directory that requests may not read or write: the durable database's
/// snapshot, log and lock.
const RESERVED: [&str; 5] = ["manifest.json", "config.json", "collections", "wal", crate::LOCK_FILE];

/// Everything `serve` and `router` need to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind.
    pub addr: SocketAddr,
    /// The durable database (snapshot and write-ahead log); file names in requests are relative to it.
    pub data_dir: PathBuf,
    /// Bearer token required on every route but `/health`, if set.
    pub api_key: Option<String>,
    /// Largest request body in bytes (default 32 MiB).
    pub body_limit: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Origins allowed by CORS; empty means CORS off.
    pub cors_origins: Vec<String>,
    /// How the data directory's write-ahead log syncs and checkpoints.
    pub durability: DurabilityOptions,
}

impl ServerConfig {
    /// Defaults: 127.0.0.1:3001, ./vectorlite-data, no key, 32 MiB, 30 s, CORS off.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3001)),
            data_dir: data_dir.into(),
            api_key: None,
            body_limit: 32 << 20,
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            durability: DurabilityOptions::default(),
        }
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub client: Arc<VectorLiteClient>,
    /// The data directory, canonical.
    pub data_dir: PathBuf,
    api_key: Option<Arc<str>>,
    metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// State over `client`, with files under `data_dir` (created if missing).
    pub fn new(
        client: Arc<VectorLiteClient>,
        data_dir: &Path,
        api_key: Option<String>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        Ok(Self {
            client,
            data_dir: data_dir.canonicalize()?,
            api_key: api_key.map(Arc::from),
            metrics: Arc::default(),
        })
    }

    /// Resolves a file name from a request inside the data directory. Absolute paths, `..`,
    /// and symlinks anywhere on the way are refused, so nothing outside it is read or written.
    pub fn data_path(&self, rel: &str) -> Result<PathBuf, ApiError> {
        let refuse = |why: &str| {
            ApiError::invalid(
                "invalid_path",
                format!("file '{rel}' {why}; give a path inside the data directory"),
            )
        };
        let path = Path::new(rel);
        if rel.is_empty() || path.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(refuse("is absolute or leaves the data directory"));
        }
        // The database's own files: writing over them would corrupt it.
        let first = path.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        if first.is_some_and(|f| RESERVED.contains(&f.as_str())) {
            return Err(refuse("belongs to the database itself"));
        }
        let mut at = self.data_dir.clone();
        for part in path.components() {
            at.push(part);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(refuse("goes through a symbolic link"));
            }
        }
        Ok(at)
    }
}

/// The app: routes, JSON errors for every failure, API key, body limit, timeout and CORS.
pub fn router(state: AppState, config: &ServerConfig) -> Router {
    let mut app = routes::routes()
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/openapi.json", axum::routing::get(openapi::openapi_json))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn_with_state(state.clone(), require_api_key))
        .layer(middleware::map_response(json_errors))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(DefaultBodyLimit::max(config.body_limit));
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config.cors_origins.iter().filter_map(|o| o.parse().ok()).collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods(tower_http::cors::Any)
                .allow_headers(tower_http::cors::Any),
        );
    }
    app.with_state(state)
}

/// Every route but `/health` needs `Authorization: Bearer <key>` (or `x-api-key`) when a key is set.
async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = &state.api_key else { return next.run(req).await };
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let headers = req.headers();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    // Compare every byte so the time taken does not reveal how much of the key matched.
    let matches = given.is_some_and(|g| {
        g.len() == key.len() && g.bytes().zip(key.bytes()).fold(0, |d, (a, b)| d | (a ^ b)) == 0
    });
    if matches {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API key (Authorization: Bearer <key>)",
        )
        .into_response()
    }
}

/// Gives errors produced outside our handlers (405, 408, 413 from layers) the JSON error body.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::REQUEST_TIMEOUT => "timeout",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "error",
        };
        let reason = status.canonical_reason().unwrap_or("error");
        return ApiError::new(status, code, reason).into_response();
    }
    response
}

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be opened (damaged, or open in another process).
    #[error("cannot open the data directory: {0}")]
    Open(#[source] crate::Error),
    /// The address could not be bound, or the data directory created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The final checkpoint failed (the log still holds every write).
    #[error("cannot checkpoint the database on shutdown: {0}")]
    Checkpoint(#[source] crate::Error),
}

/// Opens `config.data_dir` as a durable database (recovering it), serves until SIGINT or
/// SIGTERM, lets in-flight requests finish, then checkpoints. Prints `listening on http://ADDR`.
pub async fn serve(
    config: ServerConfig,
    embedder: Option<Arc<dyn EmbeddingFunction>>,
) -> Result<(), ServeError> {
    let (dir, durability) = (config.data_dir.clone(), config.durability.clone());
    let opened = tokio::task::spawn_blocking(move || VectorLiteClient::open(&dir, durability))
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
    let client = opened.map_err(ServeError::Open)?;
    client.set_embedder(embedder);
    let client = Arc::new(client);
    let dir = &config.data_dir;
    let state = AppState::new(Arc::clone(&client), dir, config.api_key.clone())?;
    let app = router(state, &config);
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %dir.display(), collections = client.list_collections().len(), "vectorlite serving");
    println!("listening on http://{addr}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shutting down: checkpointing the database");
    let done = tokio::task::spawn_blocking(move || client.checkpoint())
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
    done.map_err(ServeError::Checkpoint)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

/// Keeps `Body` in the public signature stable for tests building requests.
#[doc(hidden)]
pub type RequestBody = Body;
