//! # vectorlite
//!
//! A fast, embeddable, in-memory vector database for AI agents. A [`VectorLiteClient`] holds
//! named [`Collection`]s; each has a dimension, a [`SimilarityMetric`] and an [`IndexType`]
//! (exact Flat or approximate HNSW). Records have a `u64` id, a vector, optional text and
//! optional JSON metadata, and can be searched by vector with an optional [`Filter`].
//!
//! ```
//! use serde_json::json;
//! use vectorlite::{CollectionConfig, Filter, SearchOptions, VectorLiteClient};
//!
//! let client = VectorLiteClient::new();
//! let docs = client.create_collection("docs", CollectionConfig::new(3))?;
//! docs.add(&[1.0, 0.0, 0.0], Some("rust".into()), Some(json!({"lang": "en"})))?;
//! docs.add(&[0.0, 1.0, 0.0], Some("rost".into()), Some(json!({"lang": "de"})))?;
//!
//! let options = SearchOptions::new(1).with_filter(Filter::parse(&json!({"lang": "de"}))?);
//! let hits = docs.search(&[1.0, 0.2, 0.0], &options)?;
//! assert_eq!(hits[0].text.as_deref(), Some("rost"));
//! # Ok::<(), vectorlite::Error>(())
//! ```

mod aligned;
mod bitmap;
mod client;
mod clock;
mod codes;
mod collection;
mod config;
mod cpu;
mod embed;
mod error;
mod filter;
mod fulltext;
#[cfg(test)]
mod fuzz;
mod hugepage;
mod index;
#[cfg(feature = "mcp")]
pub mod mcp;
mod parallel;
mod persist;
mod rows;
#[cfg(feature = "server")]
pub mod server;
mod store;
mod vector;

#[doc(hidden)]
pub mod dataset;

pub use client::VectorLiteClient;
pub use clock::{Clock, ManualClock, SystemClock, format_rfc3339_ms, parse_rfc3339_ms};
pub use collection::{
    Collection, CollectionInfo, Columns, Decay, Dedup, Expiry, Fusion, HybridOptions, ListOptions, ListPage,
    MAX_PAGE, MAX_RESULT_VALUES, Mmr, NewRecord, Record, RecordUpdate, SearchOptions, SearchResult, Sources,
    Written,
};
pub use config::{
    CollectionConfig, HnswParams, IndexType, MAX_DIMENSION, MAX_ENTRY_BYTES, MAX_K, MAX_METADATA_DEPTH,
    SimilarityMetric, VectorStorage, validate_collection_name,
};
#[cfg(feature = "embed")]
pub use embed::{DEFAULT_MODEL_DIR, MODEL_DIR_ENV, MiniLmEmbedder};
pub use embed::{EmbeddingFunction, HashEmbedder};
pub use error::{Error, ErrorCode, FilterError, Result};
pub use filter::{DocumentFilter, Filter};
pub use fulltext::TextConfig;
pub use index::distance::simd_level;
pub use parallel::set_max_threads;
/// Fault injection for tests of the log and snapshots (not part of the stable API).
#[doc(hidden)]
pub use persist::fault;
pub use persist::layout;
pub use persist::layout::LOCK_FILE;
pub use persist::{
    Compression, ConflictPolicy, FileReport, LoadMode, LoadOptions, MergeOptions, MergeReport, MergeStats,
    PersistenceError, Progress, ProgressFn, SaveOptions, SectionReport, SyncPolicy, inspect_file,
};
pub use persist::{DurabilityOptions, RepairReport, repair};
pub use vector::MAX_NORM;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
