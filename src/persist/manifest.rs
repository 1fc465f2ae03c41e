//! A database directory:
//!
//! ```text
//! <dir>/manifest.json            the commit point: format version, vectorlite version, times,
//!                                and per collection its file, counts, config, checksum, generation
//! <dir>/config.json              embedding model id and dimension (null until embeddings exist)
//! <dir>/collections/<name>.vlc   one file per collection
//! ```
//!
//! A save writes each changed collection to `<name>.vlc.next`, then the manifest (atomically:
//! this is the commit), then renames each `.next` over its `.vlc`. A crash before the manifest
//! leaves the old manifest and old files; a crash after it leaves `.next` files whose checksums
//! the manifest names, and the next load rolls them forward. Stray files are cleaned up.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::fs::{file_checksum, now_rfc3339, remove_stale_temps, sync_dir, with_suffix, write_atomically};
use super::layout::{COLLECTIONS, CONFIG, MANIFEST, collection_file};
use super::snapshot::LoadedCollection;
use super::{LoadOptions, PersistenceError, SaveOptions};
use crate::config::{CollectionConfig, IndexType, SimilarityMetric};

const MANIFEST_VERSION: u32 = 2;

/// A collection as a directory save sees it. `Collection` implements it, so persistence never
/// names the type.
pub(crate) trait SnapshotSource: Send + Sync {
    /// The collection's name (and file name).
    fn name(&self) -> &str;
    /// Its random identity and change counter: an unchanged pair means an unchanged file.
    fn identity(&self) -> (u64, u64);
    /// Saves it to `path`; returns its record count and config as saved.
    fn save_snapshot(
        &self,
        path: &Path,
        options: &SaveOptions,
    ) -> Result<(u64, CollectionConfig), PersistenceError>;
}

/// A collection read back from a directory, with the identity the manifest recorded.
pub(crate) struct DirectoryEntry {
    pub collection: LoadedCollection,
    pub uid: u64,
    pub generation: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format_version: u32,
    pub vectorlite_version: String,
    pub created_at: String,
    pub updated_at: String,
    pub collections: Vec<ManifestEntry>,
    /// For a durable database: the last write-ahead log record this snapshot contains (it may
    /// contain later ones too; replaying those again changes nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_seq: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    pub name: String,
    /// Relative to the directory.
    pub file: String,
    pub count: u64,
    pub dimension: usize,
    pub metric: SimilarityMetric,
    pub index: IndexType,
    /// crc32c of the whole file.
    pub checksum: u32,
    /// The collection's change counter when saved; with `uid`, what makes a save incremental.
    pub generation: u64,
    pub uid: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DirConfig {
    pub embedding_model: Option<String>,
    pub dimension: Option<usize>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PersistenceError + '_ {
    move |e| PersistenceError::io(path, e)
}

fn checksum(path: &Path) -> Result<u32, PersistenceError> {
    file_checksum(path).map_err(io_err(path))
}

pub(crate) fn read_manifest(dir: &Path) -> Result<Option<Manifest>, PersistenceError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PersistenceError::io(path, e)),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| PersistenceError::Corrupt {
        path: path.clone(),
        section: "manifest",
        offset: 0,
        reason: e.to_string(),
    })?;
    if manifest.format_version > MANIFEST_VERSION {
        return Err(PersistenceError::NewerFormat { path, version: manifest.format_version });
    }
    for e in &manifest.collections {
        // File names come from collection names, which are checked; a manifest pointing
        // elsewhere is not ours.
        if crate::config::validate_collection_name(&e.name).is_err() || e.file != collection_file(&e.name) {
            return Err(PersistenceError::Corrupt {
                path,
                section: "manifest",
                offset: 0,
                reason: format!("entry '{}' names file '{}'", e.name, e.file),
            });
        }
    }
    Ok(Some(manifest))
}

/// Saves `collections` into `dir`, rewriting only those changed since they were last saved
/// there. Returns the names that were written.
pub(crate) fn save_directory(
    dir: &Path,
    collections: &[&dyn SnapshotSource],
    config: Option<&DirConfig>,
    options: &SaveOptions,
    checkpoint_seq: Option<u64>,
) -> Result<Vec<String>, PersistenceError> {
    let coll_dir = dir.join(COLLECTIONS);
    super::fs::create_dir_durably(&coll_dir).map_err(io_err(&coll_dir))?;
    let previous = read_manifest(dir)?;
    let old: HashMap<&str, &ManifestEntry> =
        previous.iter().flat_map(|m| &m.collections).map(|e| (e.name.as_str(), e)).collect();
    let mut entries = Vec::with_capacity(collections.len());
    let mut written = Vec::new();
    for c in collections {
        let file = collection_file(c.name());
        let path = dir.join(&file);
        let (uid, generation) = c.identity();
        if let Some(e) = old.get(c.name())
            && e.uid == uid
            && e.generation == generation
            && path.exists()
            && !with_suffix(&path, ".next").exists()
        {
            entries.push((*e).clone());
            continue;
        }
        let next = with_suffix(&path, ".next");
        // The generation is read before the snapshot: a write racing the save makes the
        // collection look changed next time, never unchanged.
        let (count, saved) = c.save_snapshot(&next, options)?;
        entries.push(ManifestEntry {
            name: c.name().to_owned(),
            file,
            count,
            dimension: saved.dimension,
            metric: saved.metric,
            index: saved.index,
            checksum: checksum(&next)?,
            generation,
            uid,
        });
        written.push(c.name().to_owned());
    }
    let now = now_rfc3339();
    let manifest = Manifest {
        format_version: MANIFEST_VERSION,
        vectorlite_version: env!("CARGO_PKG_VERSION").into(),
        created_at: previous.as_ref().map_or_else(|| now.clone(), |m| m.created_at.clone()),
        updated_at: now,
        collections: entries,
        checkpoint_seq,
    };
    let config_path = dir.join(CONFIG);
    match config {
        Some(c) => write_json(&config_path, c)?,
        None if !config_path.exists() => write_json(&config_path, &DirConfig::default())?,
        None => {}
    }
    write_json(&dir.join(MANIFEST), &manifest)?;
    // Committed. Move the new files into place and drop what the manifest no longer names.
    roll_forward(dir, &manifest)?;
    clean_up(dir, &manifest);
    Ok(written)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), PersistenceError> {
    write_atomically(path, false, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(io_err(path))
}

/// Renames each `<name>.vlc.next` whose checksum the manifest names over `<name>.vlc`.
fn roll_forward(dir: &Path, manifest: &Manifest) -> Result<(), PersistenceError> {
    let mut moved = false;
    for e in &manifest.collections {
        let path = dir.join(&e.file);
        let next = with_suffix(&path, ".next");
        if next.exists() && checksum(&next)? == e.checksum {
            fs::rename(&next, &path).map_err(io_err(&path))?;
            moved = true;
        }
    }
    if moved {
        let coll_dir = dir.join(COLLECTIONS);
        sync_dir(&coll_dir).map_err(io_err(&coll_dir))?;
    }
    Ok(())
}

/// Best-effort removal of files a crashed or superseded save left behind: collection files the
/// manifest no longer names, and temporary files of interrupted atomic writes (the manifest's
/// own included). The caller holds the directory's lock.
fn clean_up(dir: &Path, manifest: &Manifest) {
    remove_stale_temps(dir);
    let coll_dir = dir.join(COLLECTIONS);
    remove_stale_temps(&coll_dir);
    let keep: Vec<PathBuf> = manifest.collections.iter().map(|e| dir.join(&e.file)).collect();
    let Ok(entries) = fs::read_dir(&coll_dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".vlc") || name.ends_with(".vlc.next");
        if ours && !keep.contains(&path) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Loads every collection the manifest names, concurrently; all or nothing. The caller holds
/// the directory's lock (roll-forward and clean-up change files).
pub(crate) fn load_directory(
    dir: &Path,
    options: &LoadOptions,
) -> Result<Vec<DirectoryEntry>, PersistenceError> {
    let manifest = read_manifest(dir)?.ok_or_else(|| {
        PersistenceError::io(
            dir.join(MANIFEST),
            io::Error::new(io::ErrorKind::NotFound, "no manifest.json: not a vectorlite directory"),
        )
    })?;
    roll_forward(dir, &manifest)?;
    let loaded: Vec<Result<DirectoryEntry, PersistenceError>> = manifest
        .collections
        .par_iter()
        .map(|e| {
            let path = dir.join(&e.file);
            let checksum = checksum(&path)?;
            if checksum != e.checksum {
                return Err(PersistenceError::Corrupt {
                    path,
                    section: "file",
                    offset: 0,
                    reason: format!("checksum {checksum:08x} differs from the manifest's {:08x}", e.checksum),
                });
            }
            let collection = super::snapshot::load(&path, options)?;
            if collection.name != e.name {
                return Err(PersistenceError::Corrupt {
                    path,
                    section: "header",
                    offset: 0,
                    reason: format!(
                        "the file holds collection '{}', the manifest says '{}'",
                        collection.name, e.name
                    ),
                });
            }
            Ok(DirectoryEntry { collection, uid: e.uid, generation: e.generation })
        })
        .collect();
    let collections = loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
    clean_up(dir, &manifest);
    Ok(collections)
}
