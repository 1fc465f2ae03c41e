//! The `vectorlite` command line: `serve` runs the HTTP server over a data directory, `mcp` the
//! MCP server over stdio; `inspect`,
//! `verify`, `import` and `export` work with saved data; `bench` measures. `anyhow` lives only
//! here; `run` turns every failure into one message and exit code 1.

mod bench;
mod bench_durability;
mod bench_retrieval;
mod jsonl;

#[cfg(feature = "server")]
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// vectorlite: a fast, embeddable, in-memory vector database for AI agents.
#[derive(Parser)]
#[command(name = "vectorlite", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a collection file's header and sections with their checksums, or a database
    /// directory's manifest and the same for each of its files. Exits 1 if anything is damaged.
    Inspect {
        /// A `.vlc` file or a database directory.
        path: PathBuf,
    },
    /// Load a database directory completely (every checksum, length and record, and the
    /// write-ahead log after the snapshot, as the server would) and report. Exits 1 if it does
    /// not load.
    Verify {
        /// The database directory.
        dir: PathBuf,
    },
    /// Cut a damaged write-ahead log at its first bad record, keeping every record before it,
    /// so the database opens again. Later log segments are kept aside as `*.damaged`.
    Repair {
        /// The database directory (not open in a server).
        dir: PathBuf,
    },
    /// Import a JSON-lines file (`{"id", "vector", "text", "metadata"}` per line; text-only
    /// lines are embedded) into a collection of a database directory.
    Import(jsonl::ImportArgs),
    /// Export a collection of a database directory as JSON lines.
    Export(jsonl::ExportArgs),
    /// Measure recall, queries per second, build and persistence speed, or the embedding model.
    Bench(bench::Args),
    /// Serve the HTTP/JSON API (and MCP at /mcp) over a data directory.
    #[cfg(feature = "server")]
    Serve(ServeArgs),
    /// Serve long-term memory to an MCP client over stdin/stdout (the client starts this
    /// process); logs go to stderr.
    #[cfg(feature = "mcp")]
    Mcp(McpArgs),
}

/// How a served data directory's log syncs and checkpoints (`serve` and `mcp`).
#[cfg(feature = "server")]
#[derive(clap::Args)]
struct DurabilityArgs {
    /// When a write is on disk before it is acknowledged: `batch` (group commit, default),
    /// `always` (fsync per write) or `never` (survives a process crash, not a power cut).
    #[arg(long, env = "VECTORLITE_SYNC", default_value = "batch")]
    sync: vectorlite::SyncPolicy,
    /// Group-commit window for `--sync batch`, in milliseconds.
    #[arg(long, env = "VECTORLITE_SYNC_DELAY_MS", default_value_t = 2)]
    sync_delay_ms: u64,
    /// Checkpoint (snapshot the database, drop its log) once the log passes this many MiB.
    #[arg(long, env = "VECTORLITE_CHECKPOINT_MB", default_value_t = 64)]
    checkpoint_mb: u64,
}

#[cfg(feature = "server")]
impl DurabilityArgs {
    fn options(&self) -> vectorlite::DurabilityOptions {
        vectorlite::DurabilityOptions {
            sync: match self.sync {
                vectorlite::SyncPolicy::Batch { .. } => vectorlite::SyncPolicy::Batch {
                    max_delay: std::time::Duration::from_millis(self.sync_delay_ms),
                },
                other => other,
            },
            checkpoint_bytes: self.checkpoint_mb << 20,
            ..vectorlite::DurabilityOptions::default()
        }
    }
}

#[cfg(feature = "mcp")]
#[derive(clap::Args)]
struct McpArgs {
    /// Directory of the durable database (the same as `serve --data-dir`; not while a server
    /// has it open); created if missing.
    #[arg(long, env = "VECTORLITE_DATA_DIR", default_value = "./vectorlite-data")]
    data_dir: PathBuf,
    /// The collection tool calls use when they name none; created by the first `remember`.
    #[arg(long, env = "VECTORLITE_MCP_COLLECTION", default_value = vectorlite::server::DEFAULT_MCP_COLLECTION)]
    collection: String,
    /// all-MiniLM-L6-v2 model directory (default: $VECTORLITE_MODEL_DIR, then ./models/all-MiniLM-L6-v2).
    #[arg(long, env = "VECTORLITE_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    #[command(flatten)]
    durability: DurabilityArgs,
}

#[cfg(feature = "server")]
#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VECTORLITE_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "VECTORLITE_PORT", default_value_t = 3001)]
    port: u16,
    /// Directory of the durable database (snapshot, write-ahead log); created if missing.
    #[arg(long, env = "VECTORLITE_DATA_DIR", default_value = "./vectorlite-data")]
    data_dir: PathBuf,
    /// all-MiniLM-L6-v2 model directory (default: $VECTORLITE_MODEL_DIR, then ./models/all-MiniLM-L6-v2).
    #[arg(long, env = "VECTORLITE_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Require `Authorization: Bearer KEY` on every route but /health.
    #[arg(long, env = "VECTORLITE_API_KEY")]
    api_key: Option<String>,
    /// Run without an embedding model: text routes answer 503.
    #[arg(long, env = "VECTORLITE_NO_EMBEDDINGS")]
    no_embeddings: bool,
    /// Largest request body in MiB.
    #[arg(long, env = "VECTORLITE_BODY_LIMIT_MB", default_value_t = 32)]
    body_limit_mb: usize,
    /// Request timeout in seconds.
    #[arg(long, env = "VECTORLITE_TIMEOUT_SECS", default_value_t = 30)]
    timeout_secs: u64,
    /// Allow browser calls from these origins (comma-separated); CORS is off by default.
    #[arg(long, env = "VECTORLITE_CORS_ORIGINS", value_delimiter = ',')]
    cors_origin: Vec<String>,
    /// The collection MCP calls at /mcp use when they name none.
    #[arg(long, env = "VECTORLITE_MCP_COLLECTION", default_value = vectorlite::server::DEFAULT_MCP_COLLECTION)]
    mcp_collection: String,
    #[command(flatten)]
    durability: DurabilityArgs,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vectorlite: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Inspect { path }) => inspect(&path),
        Some(Command::Verify { dir }) => verify(&dir),
        Some(Command::Repair { dir }) => repair(&dir),
        Some(Command::Import(args)) => jsonl::import(args),
        Some(Command::Export(args)) => jsonl::export(args),
        Some(Command::Bench(args)) => bench::run(args),
        #[cfg(feature = "server")]
        Some(Command::Serve(args)) => serve(args),
        #[cfg(feature = "mcp")]
        Some(Command::Mcp(args)) => mcp(args),
        None => {
            println!(
                "vectorlite {} (distance kernels: {}); try `vectorlite --help`",
                env!("CARGO_PKG_VERSION"),
                vectorlite::simd_level()
            );
            Ok(())
        }
    }
}

fn inspect(path: &std::path::Path) -> Result<()> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let manifest =
            std::fs::read_to_string(path.join(vectorlite::layout::MANIFEST)).with_context(|| {
                format!("{} has no manifest.json: not a vectorlite directory", path.display())
            })?;
        println!("{}: manifest\n{manifest}", path.display());
        let v: serde_json::Value = serde_json::from_str(&manifest).context("manifest.json is not JSON")?;
        v["collections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["file"].as_str())
            .map(|f| path.join(f))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let mut damaged = 0;
    for file in &files {
        let report = vectorlite::inspect_file(file)?;
        println!("{}: format v{}", file.display(), report.format_version);
        println!("  header: {}", report.header);
        for s in &report.sections {
            let check = if s.checksum_ok { "ok" } else { "MISMATCH" };
            println!(
                "  {:<9} at {:>10}  {:<4} {:>12} raw {:>12} stored  checksum {check}",
                s.name, s.offset, s.codec, s.raw_len, s.stored_len
            );
        }
        if let Some(problem) = &report.problem {
            println!("  problem: {problem}");
        }
        damaged += usize::from(!report.is_ok());
    }
    anyhow::ensure!(damaged == 0, "{damaged} damaged file(s)");
    Ok(())
}

fn verify(dir: &std::path::Path) -> Result<()> {
    anyhow::ensure!(
        dir.join(vectorlite::layout::MANIFEST).exists() || dir.join(vectorlite::layout::WAL_DIR).exists(),
        "{} holds no database",
        dir.display()
    );
    let client = vectorlite::VectorLiteClient::open(dir, vectorlite::DurabilityOptions::default())
        .with_context(|| format!("{} does not verify", dir.display()))?;
    for name in client.list_collections() {
        let info = client.collection_info(&name)?;
        println!("{name}: {} records, dimension {}, {:?}, ok", info.count, info.dimension, info.metric);
    }
    println!("{}: ok", dir.display());
    Ok(())
}

fn repair(dir: &std::path::Path) -> Result<()> {
    let report = vectorlite::repair(dir).with_context(|| format!("repairing {}", dir.display()))?;
    match &report.cut {
        Some((segment, offset)) => println!("cut {} at byte {offset}", segment.display()),
        None => println!("{}: the log is intact", dir.display()),
    }
    for aside in &report.set_aside {
        println!("set aside {} (records after the damage)", aside.display());
    }
    Ok(())
}

#[cfg(feature = "server")]
fn serve(args: ServeArgs) -> Result<()> {
    use std::sync::Arc;
    use vectorlite::server::{ServerConfig, serve};

    init_logs();
    let ip: std::net::IpAddr =
        args.host.parse().with_context(|| format!("--host '{}' is not an IP address", args.host))?;
    let embedder: Option<Arc<dyn vectorlite::EmbeddingFunction>> = if args.no_embeddings {
        None
    } else {
        Some(load_model(args.model_dir.as_deref()).context("pass --no-embeddings to serve without a model")?)
    };
    let config = ServerConfig {
        addr: SocketAddr::new(ip, args.port),
        data_dir: args.data_dir,
        api_key: args.api_key.filter(|k| !k.is_empty()),
        body_limit: args.body_limit_mb << 20,
        request_timeout: std::time::Duration::from_secs(args.timeout_secs),
        cors_origins: args.cors_origin,
        durability: args.durability.options(),
        mcp_collection: args.mcp_collection,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(config, embedder))?;
    Ok(())
}

/// Logs to stderr (stdout belongs to the MCP protocol under `vectorlite mcp`), at `info`
/// (the MCP SDK's per-session chatter at `warn`) unless `RUST_LOG` says otherwise.
#[cfg(feature = "server")]
fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rmcp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// `vectorlite mcp`: opens the data directory, serves MCP on stdio until the client closes
/// stdin, then checkpoints.
#[cfg(feature = "mcp")]
fn mcp(args: McpArgs) -> Result<()> {
    use std::sync::Arc;
    init_logs();
    let model = load_model(args.model_dir.as_deref())?;
    let client = vectorlite::VectorLiteClient::open(&args.data_dir, args.durability.options())
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    client.set_embedder(Some(model));
    let client = Arc::new(client);
    let tools = vectorlite::mcp::MemoryTools::new(Arc::clone(&client), &args.collection)
        .with_context(|| format!("--collection '{}'", args.collection))?;
    tracing::info!(data_dir = %args.data_dir.display(), collection = %args.collection, "vectorlite MCP on stdio");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let served = runtime.block_on(vectorlite::mcp::serve_stdio(tools));
    // A read of stdin may still be parked on the blocking pool: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    served?;
    client.checkpoint().context("checkpointing on exit (the log still holds every write)")?;
    Ok(())
}

/// The built-in all-MiniLM-L6-v2 model from `dir`, `$VECTORLITE_MODEL_DIR` or ./models.
#[cfg(feature = "embed")]
fn load_model(dir: Option<&std::path::Path>) -> Result<std::sync::Arc<dyn vectorlite::EmbeddingFunction>> {
    let model = vectorlite::MiniLmEmbedder::discover(dir).context("loading the embedding model")?;
    Ok(std::sync::Arc::new(model))
}

#[cfg(not(feature = "embed"))]
fn load_model(_dir: Option<&std::path::Path>) -> Result<std::sync::Arc<dyn vectorlite::EmbeddingFunction>> {
    anyhow::bail!("this build has no embedding model; rebuild with the `embed` feature")
}
