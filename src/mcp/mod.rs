//! Long-term memory over the Model Context Protocol: a thin layer over [`VectorLiteClient`],
//! like the HTTP server. [`MemoryTools`] holds the tools (remember, recall, forget,
//! list_memories, list_collections, collection_info) and runs them on the library;
//! [`MemoryServer`] answers the protocol through the official SDK (`rmcp`), over stdio
//! ([`serve_stdio`], for `vectorlite mcp`) or streamable HTTP ([`http_service`], mounted at
//! `/mcp` by the server).
//!
//! Tool calls embed, search and write, so they run on tokio's blocking pool: the async threads
//! only move protocol messages.

mod tools;

pub use self::tools::{MAX_MEMORIES, MemoryTools};

use std::sync::{Arc, OnceLock};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use tokio_util::sync::CancellationToken;

use crate::VectorLiteClient;

/// What the server tells a client it is for (shown to the model by many clients).
const INSTRUCTIONS: &str = "Long-term memory. Use `remember` to store facts, preferences and results worth keeping \
(with metadata such as a user or topic to filter by later), `recall` to find the memories relevant to a question \
before answering it, `list_memories` to see what is stored, and `forget` to delete memories by id or by filter.";

/// The MCP server: the memory tools behind the protocol.
#[derive(Debug, Clone)]
pub struct MemoryServer {
    tools: Arc<MemoryTools>,
}

impl MemoryServer {
    /// A server answering with `tools`.
    pub fn new(tools: MemoryTools) -> Self {
        Self { tools: Arc::new(tools) }
    }
}

impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("vectorlite", env!("CARGO_PKG_VERSION")).with_title("vectorlite memory"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(MemoryTools::list()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        MemoryTools::list().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tools = Arc::clone(&self.tools);
        let name = request.name.clone();
        let called = tokio::task::spawn_blocking(move || tools.call(&request.name, request.arguments))
            .await
            .map_err(|e| ErrorData::internal_error(format!("the tool call failed: {e}"), None))?;
        // An unknown tool is the protocol's error (the client asked for something that was
        // never listed); everything else is the tool's.
        called
            .map(CallToolResponse::from)
            .ok_or_else(|| ErrorData::invalid_params(format!("no tool named '{name}'"), None))
    }
}

/// Why the stdio server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum McpServeError {
    /// The client never completed the handshake.
    #[error("MCP handshake failed: {0}")]
    Handshake(String),
    /// The session ended abnormally.
    #[error("MCP session failed: {0}")]
    Session(String),
}

/// Serves `tools` over stdin/stdout until the client closes stdin (or the session ends); a
/// client that closes stdin before the handshake ends it cleanly too.
/// Nothing else may write to stdout meanwhile.
pub async fn serve_stdio(tools: MemoryTools) -> Result<(), McpServeError> {
    let running = match MemoryServer::new(tools).serve(rmcp::transport::stdio_pipes()).await {
        Ok(running) => running,
        // The client went away before it said anything: nothing to serve.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(e) => return Err(McpServeError::Handshake(e.to_string())),
    };
    running.waiting().await.map_err(|e| McpServeError::Session(e.to_string()))?;
    Ok(())
}

/// Where and how the streamable HTTP endpoint answers.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The collection calls use when they name none.
    pub default_collection: String,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Accept any `Host` header (the server listens beyond loopback); otherwise only
    /// loopback names, which stops DNS-rebinding attacks on a local server.
    pub any_host: bool,
    /// Cancelled when the server shuts down: ends open sessions and streams.
    pub shutdown: CancellationToken,
}

/// The MCP endpoint as a tower service (streamable HTTP, with sessions for clients of the
/// older protocol versions), over a database that may still be opening.
pub fn http_service(
    client: Arc<OnceLock<Arc<VectorLiteClient>>>,
    options: &HttpOptions,
) -> crate::Result<StreamableHttpService<MemoryServer, LocalSessionManager>> {
    let tools = MemoryServer::new(MemoryTools::opening(client, &options.default_collection)?);
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(options.shutdown.child_token())
        .with_max_request_body_bytes(options.body_limit);
    if options.any_host {
        config = config.disable_allowed_hosts();
    }
    Ok(StreamableHttpService::new(move || Ok(tools.clone()), Arc::default(), config))
}
