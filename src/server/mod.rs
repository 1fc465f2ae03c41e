//! The HTTP/JSON server: a thin layer over [`VectorLiteClient`]. `router` builds the axum app
//! (routes, limits, API key, JSON errors everywhere); `serve` starts listening at once (so
//! `/health` answers "recovering" while a long log replays), opens the data directory as a
//! durable database (every acknowledged write is in its log), serves until SIGINT/SIGTERM,
//! finishes in-flight requests and checkpoints.
//!
//! Nothing slow runs on the async threads: bodies larger than a few KiB are parsed, and every
//! library call runs, on tokio's blocking pool, behind a semaphore that bounds how many run at
//! once, so `/health` stays responsive however the API is used.

mod api;
pub mod error;
mod extract;
mod metrics;
mod openapi;
mod routes;

pub use self::openapi::openapi_document;

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use self::error::{ApiError, ErrorCode};
use crate::embed::EmbeddingFunction;
use crate::{DurabilityOptions, VectorLiteClient};

/// The collection MCP calls use when they name none, unless configured.
pub const DEFAULT_MCP_COLLECTION: &str = "memories";

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
    /// The collection MCP tool calls at `/mcp` use when they name none.
    pub mcp_collection: String,
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
            mcp_collection: DEFAULT_MCP_COLLECTION.to_owned(),
        }
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database, once it has opened (recovery may take a while after a crash).
    client: Arc<OnceLock<Arc<VectorLiteClient>>>,
    /// The data directory, canonical.
    pub data_dir: PathBuf,
    api_key: Option<Arc<str>>,
    metrics: Arc<metrics::Metrics>,
    /// Bounds the library calls (and large body parses) running at once on the blocking pool.
    workers: Arc<Semaphore>,
    /// Cancelled at shutdown: ends the open MCP sessions, whose streams would otherwise keep
    /// the graceful shutdown waiting.
    #[cfg(feature = "mcp")]
    mcp_shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    /// State over `client`, with files under `data_dir` (created if missing).
    pub fn new(
        client: Arc<VectorLiteClient>,
        data_dir: &Path,
        api_key: Option<String>,
    ) -> std::io::Result<Self> {
        let state = Self::starting(data_dir, api_key)?;
        state.set_client(client);
        Ok(state)
    }

    /// State for a server whose database is still opening: every route but `/health` answers
    /// 503 `recovering` until [`set_client`](Self::set_client).
    pub fn starting(data_dir: &Path, api_key: Option<String>) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            client: Arc::default(),
            data_dir: data_dir.canonicalize()?,
            api_key: api_key.map(Arc::from),
            metrics: Arc::default(),
            workers: Arc::new(Semaphore::new(4 * cores.max(2))),
            #[cfg(feature = "mcp")]
            mcp_shutdown: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// The database is open: start answering.
    pub fn set_client(&self, client: Arc<VectorLiteClient>) {
        let _ = self.client.set(client);
    }

    /// The database, or 503 `recovering` while it opens.
    pub fn client(&self) -> Result<&Arc<VectorLiteClient>, ApiError> {
        self.client.get().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Recovering,
                "the database is recovering its log after a restart; retry shortly",
            )
        })
    }

    /// Runs library work on the blocking pool, at most a bounded number at once (later calls
    /// queue), so that the async threads only ever route requests.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit =
            self.workers.acquire().await.map_err(|_| ApiError::new(ErrorCode::Internal, "shutting down"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("worker task failed: {e}")))?
    }

    /// Resolves a file name from a request inside the data directory. Absolute paths, `..`,
    /// and symlinks anywhere on the way are refused, so nothing outside it is read or written.
    pub fn data_path(&self, rel: &str) -> Result<PathBuf, ApiError> {
        let refuse = |why: &str| {
            ApiError::new(
                ErrorCode::InvalidPath,
                format!("file '{rel}' {why}; give a path inside the data directory"),
            )
        };
        let path = Path::new(rel);
        if rel.is_empty() || path.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(refuse("is absolute or leaves the data directory"));
        }
        // The database's own files: writing over them would corrupt it.
        let first = path.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        if first.is_some_and(|f| crate::persist::layout::is_reserved(&f)) {
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

/// The app: routes (and MCP at `/mcp`), JSON errors for every failure, API key, body limit,
/// timeout and CORS. Fails only on an invalid `mcp_collection` name.
pub fn router(state: AppState, config: &ServerConfig) -> crate::Result<Router> {
    let app = routes::routes();
    #[cfg(feature = "mcp")]
    let app = {
        let options = crate::mcp::HttpOptions {
            default_collection: config.mcp_collection.clone(),
            body_limit: config.body_limit,
            any_host: !config.addr.ip().is_loopback(),
            shutdown: state.mcp_shutdown.clone(),
        };
        app.nest_service("/mcp", crate::mcp::http_service(Arc::clone(&state.client), &options)?)
    };
    let mut app = app
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/openapi.json", axum::routing::get(openapi::openapi_json))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn_with_state(state.clone(), require_api_key))
        .layer(middleware::map_response(json_errors))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(DefaultBodyLimit::max(config.body_limit));
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config.cors_origins.iter().filter_map(|o| o.parse().ok()).collect();
        // Named, not `*`: a wildcard does not cover `Authorization` (Fetch spec), so browser
        // calls with a Bearer key would fail their preflight.
        let headers = [header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-api-key")];
        let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods(methods)
                .allow_headers(headers),
        );
    }
    Ok(app.with_state(state))
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
        ApiError::new(ErrorCode::Unauthorized, "missing or wrong API key (Authorization: Bearer <key>)")
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
        return ApiError::from_status(status).into_response();
    }
    response
}

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be opened (damaged, or open in another process).
    #[error("cannot open the data directory: {0}")]
    Open(#[source] crate::Error),
    /// The configuration is invalid (say, the MCP default collection's name).
    #[error("invalid configuration: {0}")]
    Config(#[source] crate::Error),
    /// The address could not be bound, or the data directory created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The final checkpoint failed (the log still holds every write).
    #[error("cannot checkpoint the database on shutdown: {0}")]
    Checkpoint(#[source] crate::Error),
}

/// Serves `config.data_dir` as a durable database until SIGINT or SIGTERM, lets in-flight
/// requests finish, then checkpoints. Listens before the database has opened, so `/health`
/// answers (`"status": "recovering"`) while a long log replays; other routes answer 503
/// meanwhile. Prints `listening on http://ADDR`.
pub async fn serve(
    config: ServerConfig,
    embedder: Option<Arc<dyn EmbeddingFunction>>,
) -> Result<(), ServeError> {
    let dir = config.data_dir.clone();
    let state = AppState::starting(&dir, config.api_key.clone())?;
    let app = router(state.clone(), &config).map_err(ServeError::Config)?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    let durability = config.durability.clone();
    let opening = tokio::task::spawn_blocking(move || {
        let client = VectorLiteClient::open(&dir, durability)?;
        client.set_embedder(embedder);
        Ok::<_, crate::Error>(Arc::new(client))
    });
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<Result<(), ServeError>>();
    let opener_state = state.clone();
    let data_dir = config.data_dir.clone();
    tokio::spawn(async move {
        let outcome = match opening.await {
            Ok(Ok(client)) => {
                tracing::info!(%addr, data_dir = %data_dir.display(), collections = client.list_collections().len(), "vectorlite serving");
                opener_state.set_client(client);
                Ok(())
            }
            Ok(Err(e)) => Err(ServeError::Open(e)),
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        };
        let _ = opened_tx.send(outcome);
    });
    // Stop on a signal, or at once if the database cannot be opened.
    let failure = Arc::new(parking_lot::Mutex::new(None));
    let failed = Arc::clone(&failure);
    let stopping = state.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown_signal() => {}
            Ok(Err(e)) = opened_rx => *failed.lock() = Some(e),
        }
        #[cfg(feature = "mcp")]
        stopping.mcp_shutdown.cancel();
        #[cfg(not(feature = "mcp"))]
        drop(stopping);
    };
    axum::serve(listener, app).with_graceful_shutdown(stop).await?;
    if let Some(e) = failure.lock().take() {
        return Err(e);
    }
    let Some(client) = state.client.get().cloned() else { return Ok(()) };
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
