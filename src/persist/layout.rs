//! The names inside a database directory, in one place: the snapshot's manifest and config,
//! the collection files, the write-ahead log and the lock. The server, the CLI and the opener
//! all ask this module which names are the database's own.
//!
//! ```text
//! <dir>/manifest.json            the snapshot's commit point
//! <dir>/config.json              embedding model id and dimension
//! <dir>/collections/<name>.vlc   one file per collection
//! <dir>/wal/<seq>.log            write-ahead log segments
//! <dir>/LOCK                     held by the process that has the database open
//! ```

/// The manifest: the commit point of a snapshot.
pub const MANIFEST: &str = "manifest.json";
/// The directory's embedding configuration.
pub const CONFIG: &str = "config.json";
/// The folder of collection files.
pub const COLLECTIONS: &str = "collections";
/// The folder of write-ahead log segments.
pub const WAL_DIR: &str = "wal";
/// The lock file; it holds the owner's pid.
pub const LOCK_FILE: &str = "LOCK";

/// True when `name`, the first component of a path inside the data directory, is one of the
/// database's own entries. Compared without case, since on case-insensitive filesystems
/// `WAL/x` and `Manifest.json` are the same files as `wal/x` and `manifest.json`.
pub fn is_reserved(name: &str) -> bool {
    [MANIFEST, CONFIG, COLLECTIONS, WAL_DIR, LOCK_FILE].iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// The path of a collection's file, relative to the directory. Collection names are
/// `[A-Za-z0-9_-]{1,64}`, so they are safe file names as they are.
pub(crate) fn collection_file(name: &str) -> String {
    format!("{COLLECTIONS}/{name}.vlc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_match_in_any_case() {
        for name in ["wal", "WAL", "Manifest.json", "lock", "Collections", "CONFIG.JSON"] {
            assert!(is_reserved(name), "{name}");
        }
        for name in ["notes.vlc", "wal2", "manifest.json.bak", "backups"] {
            assert!(!is_reserved(name), "{name}");
        }
    }
}
