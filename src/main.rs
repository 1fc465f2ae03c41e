//! The `vectorlite` command line. Subcommands arrive with the server and persistence work;
//! for now it reports its version.

use clap::Parser;

/// vectorlite: a fast, embeddable, in-memory vector database for AI agents.
#[derive(Parser)]
#[command(name = "vectorlite", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!("vectorlite {} (distance kernels: {})", env!("CARGO_PKG_VERSION"), vectorlite::simd_level());
}
