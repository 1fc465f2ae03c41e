//! The `vectorlite` command line: `serve` runs the HTTP server over a data directory.
//! `anyhow` lives only here; `run` turns every failure into one message and exit code 1.

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
    /// Serve the HTTP/JSON API over a data directory.
    #[cfg(feature = "server")]
    Serve(ServeArgs),
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
    /// Directory the database is loaded from and saved to.
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
        #[cfg(feature = "server")]
        Some(Command::Serve(args)) => serve(args),
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

#[cfg(feature = "server")]
fn serve(args: ServeArgs) -> Result<()> {
    use std::sync::Arc;
    use vectorlite::server::{ServerConfig, serve};

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let ip: std::net::IpAddr =
        args.host.parse().with_context(|| format!("--host '{}' is not an IP address", args.host))?;
    let embedder: Option<Arc<dyn vectorlite::EmbeddingFunction>> =
        if args.no_embeddings { None } else { load_model(args.model_dir.as_deref())? };
    let config = ServerConfig {
        addr: SocketAddr::new(ip, args.port),
        data_dir: args.data_dir,
        api_key: args.api_key.filter(|k| !k.is_empty()),
        body_limit: args.body_limit_mb << 20,
        request_timeout: std::time::Duration::from_secs(args.timeout_secs),
        cors_origins: args.cors_origin,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(config, embedder))?;
    Ok(())
}

#[cfg(all(feature = "server", feature = "embed"))]
fn load_model(
    dir: Option<&std::path::Path>,
) -> Result<Option<std::sync::Arc<dyn vectorlite::EmbeddingFunction>>> {
    let model = vectorlite::MiniLmEmbedder::discover(dir)
        .context("loading the embedding model (or pass --no-embeddings)")?;
    Ok(Some(std::sync::Arc::new(model)))
}

#[cfg(all(feature = "server", not(feature = "embed")))]
fn load_model(
    _dir: Option<&std::path::Path>,
) -> Result<Option<std::sync::Arc<dyn vectorlite::EmbeddingFunction>>> {
    anyhow::bail!(
        "this build has no embedding model; rebuild with the `embed` feature or pass --no-embeddings"
    )
}
