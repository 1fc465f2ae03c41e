//! Persistence: save, load and merge collections and whole databases.
//!
//! Collections are written as `.vlc` files (format v2, see `format` and docs/FORMAT.md):
//! binary, versioned, checksummed per section, compressed, streamed (no second copy of the
//! collection in memory) and written atomically (temp file, fsync, rename, fsync directory).
//! Loading is all-or-nothing: any damage is a [`PersistenceError`] naming the file, section and
//! offset, and nothing live is touched. The JSON `.vlc` files of vectorlite 0.1.x load as v1.

pub(crate) mod codec;
pub(crate) mod durable;
pub mod fault;
pub(crate) mod format;
pub(crate) mod fs;
mod inspect;
pub mod layout;
pub(crate) mod manifest;
mod merge;
mod migrate;
pub(crate) mod oplog;
pub(crate) mod snapshot;
pub(crate) mod wal;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use self::durable::{DurabilityOptions, RepairReport, repair};
pub use self::format::Compression;
pub use self::inspect::{FileReport, SectionReport, inspect_file};
pub use self::merge::{ConflictPolicy, LoadMode, MergeOptions, MergeReport, MergeStats};
pub use self::wal::SyncPolicy;

/// Where a long save or load is; see [`SaveOptions::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes written or read so far.
    pub bytes_done: u64,
    /// Bytes in all (for saves, an estimate before compression).
    pub bytes_total: u64,
    /// Records handled so far.
    pub records_done: u64,
    /// Records in all.
    pub records_total: u64,
}

/// A progress callback, called at least every 1% or 100 ms of a save or load.
#[derive(Clone)]
pub struct ProgressFn(pub Arc<dyn Fn(Progress) + Send + Sync>);

impl fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressFn")
    }
}

impl<F: Fn(Progress) + Send + Sync + 'static> From<F> for ProgressFn {
    fn from(f: F) -> Self {
        ProgressFn(Arc::new(f))
    }
}

/// How to save.
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// Section compression; default zstd level 3. Sections it would shrink by less than a
    /// tenth (float vectors, typically) are stored raw, so loads do not pay to decompress them.
    pub compression: Compression,
    /// Keep the file being replaced as `<file>.bak`.
    pub backup: bool,
    /// Called as the save advances.
    pub progress: Option<ProgressFn>,
}

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Called as the load advances.
    pub progress: Option<ProgressFn>,
    /// The most bytes one file may decompress to (default: the memory available). A file that
    /// declares more fails with a clear error instead of exhausting memory.
    pub max_memory: Option<u64>,
}

/// Why a file could not be saved or loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// The operating system refused a read, write, rename or sync.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start like a vectorlite collection file.
    #[error("{path}: not a vectorlite collection file")]
    NotACollectionFile {
        /// The file.
        path: PathBuf,
    },
    /// The file is from a newer vectorlite.
    #[error("{path}: written by a newer vectorlite, format v{version}; upgrade vectorlite to read it")]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its format version.
        version: u32,
    },
    /// The file ends before it should (an interrupted copy or a torn write).
    #[error("{path}: truncated in the {section} section at byte {offset}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The section being read.
        section: &'static str,
        /// Byte offset of that section's start.
        offset: u64,
    },
    /// The bytes are damaged or inconsistent.
    #[error("{path}: corrupt {section} section at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The section being read.
        section: &'static str,
        /// Byte offset of that section's start.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process has the database directory open.
    #[error("{path}: the database is open in another process{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The holder's process id, as it wrote it into the lock file.
        pid: Option<u32>,
    },
}

impl PersistenceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PersistenceError::Io { path: path.into(), source }
    }

    /// The file or directory the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            PersistenceError::Io { path, .. }
            | PersistenceError::NotACollectionFile { path }
            | PersistenceError::NewerFormat { path, .. }
            | PersistenceError::Truncated { path, .. }
            | PersistenceError::Corrupt { path, .. }
            | PersistenceError::Locked { path, .. } => path,
        }
    }
}
