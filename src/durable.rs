//! Durable databases: [`VectorLiteClient::open`] on a data directory holding a snapshot (the
//! persistence format: `manifest.json`, `collections/`) and a write-ahead log (`wal/`).
//!
//! Every mutation is logged before it is applied and acknowledged only once its log record is
//! durable under the [`SyncPolicy`]. A checkpoint rotates the log, writes a snapshot recording
//! the last sequence number of the closed segments, and then deletes those segments; it runs
//! on a background thread when the open segment passes a size or age threshold, on
//! [`VectorLiteClient::checkpoint`], and should run on clean shutdown. Opening recovers: the
//! newest snapshot, then every log record after it. A torn final record (a crash mid-append)
//! is cut off with a warning; damage before the tail stops the open, and [`repair`] keeps
//! everything before it. One process at a time: the directory is locked with `flock`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::persist::manifest::{self, DirConfig};
use crate::persist::oplog::{self, Op, Ticket};
use crate::persist::wal::{self, CheckpointThresholds, ScanEnd, WAL_DIR, Wal};
use crate::persist::{LoadOptions, PersistenceError, SaveOptions, SyncPolicy};

/// The lock file in a durable data directory; it holds the owner's pid.
pub const LOCK_FILE: &str = "LOCK";

/// How a durable database syncs and checkpoints.
#[derive(Debug, Clone)]
pub struct DurabilityOptions {
    /// When a write is on disk before it is acknowledged. Default: group commit in 2 ms windows.
    pub sync: SyncPolicy,
    /// Checkpoint once the log has grown by this many bytes. Default 64 MiB.
    pub checkpoint_bytes: u64,
    /// Checkpoint once the log has held records this long. Default 10 minutes.
    pub checkpoint_interval: Option<Duration>,
}

impl Default for DurabilityOptions {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::default(),
            checkpoint_bytes: 64 << 20,
            checkpoint_interval: Some(Duration::from_secs(600)),
        }
    }
}

type Collections = RwLock<BTreeMap<String, Collection>>;
type Embedder = RwLock<Option<Arc<dyn crate::EmbeddingFunction>>>;

/// What a checkpoint needs: shared by the client and the checkpoint thread, which must never
/// hold the [`Durable`] itself (its drop releases the directory lock, deterministically).
struct Checkpointer {
    dir: PathBuf,
    wal: Arc<Wal>,
    /// One checkpoint at a time.
    running: Mutex<()>,
}

impl Checkpointer {
    /// Rotates the log, snapshots every collection, then drops the segments the snapshot covers.
    fn checkpoint(&self, collections: &Collections, embedder: &Embedder) -> Result<()> {
        let _one = self.running.lock();
        let seq = self.wal.rotate()?;
        let (list, config) = capture(collections, embedder)?;
        manifest::save_directory(&self.dir, &list, config.as_ref(), &SaveOptions::default(), Some(seq))?;
        self.wal.remove_through(seq)?;
        Ok(())
    }
}

/// The durable side of a client: its directory, log, lock and checkpoint thread.
pub(crate) struct Durable {
    checkpointer: Arc<Checkpointer>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Held (with an `flock`) for as long as the database is open; dropped after the thread
    /// has finished.
    _lock: File,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable").field("dir", &self.checkpointer.dir).finish()
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        // Let a running checkpoint finish before the lock goes.
        self.checkpointer.wal.stop_checkpointer();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

/// Locks `dir` for this process, or names the process that has it.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let io = |e: io::Error| Error::from(PersistenceError::io(&path, e));
    let mut file =
        OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.write_all(std::process::id().to_string().as_bytes()).map_err(io)?;
            Ok(file)
        }
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(PersistenceError::Locked { path, pid: holder.trim().parse().ok() }.into())
        }
        Err(fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

fn corrupt(path: &Path, offset: u64, reason: String) -> Error {
    PersistenceError::Corrupt { path: path.to_owned(), section: "write-ahead log", offset, reason }.into()
}

/// Applies one logged operation during recovery. Operations a snapshot already holds are
/// harmless to apply again (see `oplog`).
fn replay(map: &mut BTreeMap<String, Collection>, op: Op) -> Result<()> {
    let find = |map: &BTreeMap<String, Collection>, uid: u64| map.values().find(|c| c.uid() == uid).cloned();
    match op {
        Op::Create { uid, name, config, created_at } => {
            if find(map, uid).is_none() {
                map.insert(name.clone(), Collection::restore(&name, config, created_at, uid)?);
            }
        }
        Op::Drop { uid } => map.retain(|_, c| c.uid() != uid),
        Op::Put { uid, records } => {
            if let Some(c) = find(map, uid) {
                c.replay_put(records)?;
            }
        }
        Op::Delete { uid, id } => {
            if let Some(c) = find(map, uid) {
                match c.delete(id) {
                    Ok(()) | Err(Error::IdNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Op::Metadata { uid, id, metadata } => {
            if let Some(c) = find(map, uid) {
                match c.update_metadata(id, metadata) {
                    Ok(()) | Err(Error::IdNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Op::Model { uid, model } => {
            if let Some(c) = find(map, uid) {
                c.restore_model(model);
            }
        }
    }
    Ok(())
}

/// Replays every log record after `after` into `map`; returns the next sequence number. A torn
/// tail of the last segment is cut off; any other damage is an error.
fn recover(wal_dir: &Path, after: u64, map: &mut BTreeMap<String, Collection>) -> Result<u64> {
    let segments = wal::segments(wal_dir)?;
    let mut next: Option<u64> = None;
    for (i, (first, path)) in segments.iter().enumerate() {
        let (frames, end) = wal::scan_segment(path)?;
        if next.is_none() && *first > after.saturating_add(1) {
            let reason = format!(
                "the log starts at record {first} but the snapshot ends at {after}: records are missing \
                 (was manifest.json or a log segment removed?)"
            );
            return Err(corrupt(path, 0, reason));
        }
        let mut expected = next.unwrap_or(*first);
        for frame in frames {
            if frame.seq != expected {
                let reason = format!("record {} where {expected} was expected", frame.seq);
                return Err(corrupt(path, 0, reason));
            }
            expected += 1;
            if frame.seq > after {
                let op = Op::decode(&frame.payload)
                    .map_err(|e| corrupt(path, 0, format!("record {}: {e}", frame.seq)))?;
                replay(map, op)
                    .map_err(|e| corrupt(path, 0, format!("record {} does not apply: {e}", frame.seq)))?;
            }
        }
        next = Some(expected);
        if let ScanEnd::Damaged { offset, reason, data_after } = end {
            if i + 1 == segments.len() && !data_after {
                tracing::warn!(segment = %path.display(), offset, %reason, "cutting off a torn final log record");
                wal::truncate_segment(path, offset)?;
            } else {
                let hint = "run `vectorlite repair DIR` to keep every record before it";
                return Err(corrupt(path, offset, format!("{reason}; {hint}")));
            }
        }
    }
    Ok(next.unwrap_or(0).max(after.saturating_add(1)).max(1))
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The damaged segment and the offset it was cut at, if any damage was found.
    pub cut: Option<(PathBuf, u64)>,
    /// Later segments set aside as `<name>.damaged` (their records follow the damage).
    pub set_aside: Vec<PathBuf>,
}

/// Cuts the log of the durable database in `dir` at its first damaged record, keeping every
/// record before it; later segments are renamed `*.damaged`. The directory must not be open.
pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport> {
    let dir = dir.as_ref();
    let _lock = lock(dir)?;
    let wal_dir = dir.join(WAL_DIR);
    let mut report = RepairReport::default();
    let mut expected: Option<u64> = None;
    for (first, path) in wal::segments(&wal_dir)? {
        if report.cut.is_some() {
            let aside = path.with_extension("log.damaged");
            fs::rename(&path, &aside).map_err(|e| PersistenceError::io(&path, e))?;
            report.set_aside.push(aside);
            continue;
        }
        let (frames, end) = wal::scan_segment(&path)?;
        // A gap in the numbering is damage too: cut where it starts.
        let mut good = frames.len();
        let mut next = expected.unwrap_or(first);
        for (i, f) in frames.iter().enumerate() {
            if f.seq != next || Op::decode(&f.payload).is_err() {
                good = i;
                break;
            }
            next += 1;
        }
        expected = Some(next);
        let offset = match end {
            _ if good < frames.len() => Some(frames[good].offset),
            ScanEnd::Damaged { offset, .. } => Some(offset),
            ScanEnd::Clean => None,
        };
        if let Some(offset) = offset {
            wal::truncate_segment(&path, offset)?;
            report.cut = Some((path, offset));
        }
    }
    Ok(report)
}

impl Durable {
    /// Opens (recovering) or creates the durable database in `dir`.
    pub(crate) fn open(
        dir: &Path,
        options: &DurabilityOptions,
    ) -> Result<(Durable, BTreeMap<String, Collection>)> {
        fs::create_dir_all(dir).map_err(|e| PersistenceError::io(dir, e))?;
        let lock = lock(dir)?;
        let (mut map, after) = match manifest::read_manifest(dir)? {
            Some(m) => {
                let collections = manifest::load_directory(dir, &LoadOptions::default())?;
                (
                    collections.into_iter().map(|c| (c.name().to_owned(), c)).collect(),
                    m.checkpoint_seq.unwrap_or(0),
                )
            }
            None => (BTreeMap::new(), 0),
        };
        let wal_dir = dir.join(WAL_DIR);
        let next_seq = recover(&wal_dir, after, &mut map)?;
        let thresholds =
            CheckpointThresholds { bytes: options.checkpoint_bytes, age: options.checkpoint_interval };
        let wal = Arc::new(Wal::create(&wal_dir, next_seq, options.sync, thresholds)?);
        // Segments the recovery read are all older than the new one; a snapshot covers them
        // only after the next checkpoint, so they stay until then.
        for c in map.values() {
            c.attach_log(Some(Arc::clone(&wal)));
        }
        let durable = Durable {
            checkpointer: Arc::new(Checkpointer { dir: dir.to_owned(), wal, running: Mutex::new(()) }),
            thread: Mutex::new(None),
            _lock: lock,
        };
        Ok((durable, map))
    }

    /// Starts the thread that checkpoints when the log passes a threshold. It holds the
    /// client's collections only weakly, and `Durable`'s drop stops it.
    pub(crate) fn start_checkpointer(&self, collections: &Arc<Collections>, embedder: &Arc<Embedder>) {
        let (collections, embedder) = (Arc::downgrade(collections), Arc::downgrade(embedder));
        let checkpointer = Arc::clone(&self.checkpointer);
        let thread = std::thread::Builder::new().name("vectorlite-checkpoint".into()).spawn(move || {
            let wal = &checkpointer.wal;
            while wal.await_trigger(Duration::from_secs(1)) {
                if !wal.wants_checkpoint() {
                    continue;
                }
                let (Some(collections), Some(embedder)) = (collections.upgrade(), embedder.upgrade()) else {
                    return;
                };
                if let Err(e) = checkpointer.checkpoint(&collections, &embedder) {
                    tracing::error!(error = %e, "checkpoint failed; the log keeps every write");
                }
            }
        });
        match thread {
            Ok(handle) => *self.thread.lock() = Some(handle),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the checkpoint thread; checkpoints run on request only")
            }
        }
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.checkpointer.dir
    }

    /// Logs `op` (call under the lock that orders it).
    pub(crate) fn log(&self, op: &Op) -> Result<Ticket> {
        Ok(oplog::log(&self.checkpointer.wal, op)?)
    }

    /// Makes `c` log its writes here.
    pub(crate) fn attach(&self, c: &Collection) {
        c.attach_log(Some(Arc::clone(&self.checkpointer.wal)));
    }

    /// See [`crate::VectorLiteClient::checkpoint`].
    pub(crate) fn checkpoint(&self, collections: &Collections, embedder: &Embedder) -> Result<()> {
        self.checkpointer.checkpoint(collections, embedder)
    }
}

/// The collections and directory config a snapshot writes.
pub(crate) fn capture(
    collections: &Collections,
    embedder: &Embedder,
) -> Result<(Vec<Collection>, Option<DirConfig>)> {
    let list: Vec<Collection> = collections.read().values().cloned().collect();
    let config = match embedder.read().as_ref() {
        Some(e) => Some(DirConfig { embedding_model: Some(e.model_id()?), dimension: Some(e.dimension()?) }),
        None => None,
    };
    Ok((list, config))
}
