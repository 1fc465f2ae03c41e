//! vectorlite's end-to-end tests: one binary (it links once), modules by theme.

mod api;
mod cli;
mod common;
mod concurrency;
mod directory;
mod durable;
mod embed;
mod faults;
mod filtered;
mod hardening;
mod hybrid;
#[cfg(feature = "mcp")]
mod mcp;
mod memory;
mod model;
mod persist;
mod search;
#[cfg(feature = "server")]
mod server;
mod storage;
