//! Durable databases on disk: the data directory's lock, the write-ahead log, checkpoints and
//! recovery. It works on plain data: a snapshot is written through [`SnapshotSource`]s the
//! client captures, and recovery hands each logged [`Op`] to the client's apply function, so
//! nothing here knows what a collection is.
//!
//! Every mutation is logged before it is applied and acknowledged only once its log record is
//! durable under the [`SyncPolicy`]. A checkpoint rotates the log, writes a snapshot recording
//! the last sequence number of the closed segments, and then deletes those segments; it runs
//! on a background thread when the log passes a size, record-count or age threshold (and after
//! a long recovery), on request, and on clean shutdown. Opening recovers: the newest snapshot,
//! then every log record after it. A torn final record (a crash mid-append) is cut off with a
//! warning; damage before the tail stops the open, and [`repair`] keeps everything before it.
//! Segments the snapshot already covers are ignored and removed. One process at a time: the
//! directory is locked with `flock`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::fs::{create_dir_durably, remove_stale_temps};
use super::layout::{LOCK_FILE, WAL_DIR};
use super::manifest::{self, DirConfig, DirectoryEntry, SnapshotSource};
use super::oplog::{self, Op, Ticket};
use super::wal::segment::{self, LogRecord, ScanEnd};
use super::wal::{CheckpointThresholds, Wal};
use super::{LoadOptions, PersistenceError, SaveOptions, SyncPolicy};
use crate::error::{Error, Result};

/// How a durable database syncs and checkpoints.
#[derive(Debug, Clone)]
pub struct DurabilityOptions {
    /// When a write is on disk before it is acknowledged. Default: group commit in 2 ms windows.
    pub sync: SyncPolicy,
    /// Checkpoint once the log has grown by this many bytes. Default 64 MiB.
    pub checkpoint_bytes: u64,
    /// Checkpoint once this many operations were logged since the last one (recovery replays
    /// them one by one). Default 100,000.
    pub checkpoint_records: u64,
    /// Checkpoint once the log has held records this long. Default 10 minutes.
    pub checkpoint_interval: Option<Duration>,
}

impl Default for DurabilityOptions {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::default(),
            checkpoint_bytes: 64 << 20,
            checkpoint_records: 100_000,
            checkpoint_interval: Some(Duration::from_secs(600)),
        }
    }
}

/// What a snapshot writes: every collection, and the directory's embedding config.
pub(crate) type Snapshot = (Vec<Box<dyn SnapshotSource>>, Option<DirConfig>);

/// Captures a [`Snapshot`] of the database; `None` once the database is gone (the checkpoint
/// thread then stops).
pub(crate) type Capture = dyn Fn() -> Option<Result<Snapshot>> + Send + Sync;

/// How many times [`lock_dir`] retries a held lock, 10 ms apart.
const LOCK_RETRIES: u32 = 50;

/// Locks `dir` for this process, or names the process that has it.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let io = |e: io::Error| Error::from(PersistenceError::io(&path, e));
    let mut file =
        OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io)?;
    // A lock just released can look held for a moment: a child process this process is
    // spawning (on any thread) shares the lock's file description until its `exec` closes it.
    // So a held lock is retried briefly before it is reported.
    let mut attempt = 0;
    let locked = loop {
        match file.try_lock() {
            Err(fs::TryLockError::WouldBlock) if attempt < LOCK_RETRIES => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other,
        }
    };
    match locked {
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

/// What one recovery replayed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Replayed {
    /// Operations applied.
    pub ops: u64,
    /// Their encoded bytes.
    pub bytes: u64,
}

/// A durable database half open: the directory locked and its snapshot read; the log not yet
/// replayed. [`replay`](Self::replay) it, then [`finish`](Self::finish).
pub(crate) struct Opening {
    dir: PathBuf,
    lock: File,
    /// The snapshot's collections, taken by the caller.
    pub snapshot: Vec<DirectoryEntry>,
    /// The last log record the snapshot holds.
    after: u64,
    next_seq: u64,
    replayed: Replayed,
}

impl Opening {
    /// Locks `dir` (creating it) and reads its snapshot.
    pub(crate) fn open(dir: &Path, load: &LoadOptions) -> Result<Opening> {
        create_dir_durably(dir).map_err(|e| PersistenceError::io(dir, e))?;
        let lock = lock_dir(dir)?;
        let (snapshot, after) = match manifest::read_manifest(dir)? {
            Some(m) => (manifest::load_directory(dir, load)?, m.checkpoint_seq.unwrap_or(0)),
            None => {
                remove_stale_temps(dir);
                (Vec::new(), 0)
            }
        };
        Ok(Opening { dir: dir.to_owned(), lock, snapshot, after, next_seq: 1, replayed: Replayed::default() })
    }

    /// Replays every log record after the snapshot through `apply`, in order. A torn tail of
    /// the last segment is cut off (left in place when `read_only`); any other damage, or an
    /// operation `apply` refuses, is an error naming the record.
    pub(crate) fn replay(
        &mut self,
        read_only: bool,
        mut apply: impl FnMut(Op) -> Result<()>,
    ) -> Result<Replayed> {
        let wal_dir = self.dir.join(WAL_DIR);
        let segments = segment::segments(&wal_dir)?;
        let after = self.after;
        let mut next: Option<u64> = None;
        for (i, (first, path)) in segments.iter().enumerate() {
            // A segment whose successor starts at or below the snapshot's end holds nothing the
            // snapshot lacks: whatever it holds (damage, gaps) does not matter.
            if segments.get(i + 1).is_some_and(|(next_first, _)| *next_first <= after.saturating_add(1)) {
                continue;
            }
            if next.is_none() && *first > after.saturating_add(1) {
                let reason = format!(
                    "the log starts at record {first} but the snapshot ends at {after}: records are \
                     missing (was manifest.json or a log segment removed?)"
                );
                return Err(corrupt(path, 0, reason));
            }
            let mut expected = next.unwrap_or(*first);
            let replayed = &mut self.replayed;
            let end = segment::scan_segment_with(path, |record: LogRecord<'_>| -> Result<()> {
                let LogRecord { first_seq, seq, payload, offset } = record;
                if first_seq != expected {
                    let reason = format!("record {first_seq} where {expected} was expected");
                    return Err(corrupt(path, offset, reason));
                }
                expected = seq + 1;
                if seq <= after {
                    return Ok(());
                }
                let op =
                    Op::decode(&payload).map_err(|e| corrupt(path, offset, format!("record {seq}: {e}")))?;
                apply(op).map_err(|e| corrupt(path, offset, format!("record {seq} does not apply: {e}")))?;
                replayed.ops += 1;
                replayed.bytes += payload.len() as u64;
                Ok(())
            })?;
            next = Some(expected);
            if let ScanEnd::Damaged { offset, reason, data_after } = end {
                if i + 1 == segments.len() && !data_after {
                    if !read_only {
                        tracing::warn!(segment = %path.display(), offset, %reason, "cutting off a torn final log record");
                        segment::truncate_segment(path, offset)?;
                    }
                } else {
                    let hint = "run `vectorlite repair DIR` to keep every record before it";
                    return Err(corrupt(path, offset, format!("{reason}; {hint}")));
                }
            }
        }
        self.next_seq = next.unwrap_or(0).max(after.saturating_add(1)).max(1);
        Ok(self.replayed)
    }

    /// Starts the log after the replayed records and the checkpoint thread (which calls
    /// `capture`). Segments the snapshot covers are removed; after a long replay the thread
    /// checkpoints at once, so the next open does not replay it all again.
    pub(crate) fn finish(self, options: &DurabilityOptions, capture: Box<Capture>) -> Result<Durable> {
        let wal_dir = self.dir.join(WAL_DIR);
        let thresholds = CheckpointThresholds {
            bytes: options.checkpoint_bytes,
            records: options.checkpoint_records,
            age: options.checkpoint_interval,
        };
        let wal = Arc::new(Wal::create(&wal_dir, self.next_seq, options.sync, thresholds)?);
        wal.remove_through(self.after)?;
        let long_replay = self.replayed.ops >= options.checkpoint_records.min(10_000)
            || self.replayed.bytes >= options.checkpoint_bytes;
        let durable = Durable {
            checkpointer: Arc::new(Checkpointer { dir: self.dir, wal, running: Mutex::new(()), capture }),
            thread: Mutex::new(None),
            _lock: self.lock,
        };
        durable.start_checkpointer();
        if long_replay {
            durable.checkpointer.wal.request_checkpoint();
        }
        Ok(durable)
    }
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The damaged segment and the offset it was cut at, if any damage was found.
    pub cut: Option<(PathBuf, u64)>,
    /// Later segments set aside as `<name>.damaged` (their records follow the damage).
    pub set_aside: Vec<PathBuf>,
    /// Segments removed because the snapshot already holds every record in them.
    pub removed: Vec<PathBuf>,
}

/// Cuts the log of the durable database in `dir` at its first damaged record after the
/// snapshot, keeping every record before it; later segments are renamed `*.damaged`, and
/// segments the snapshot covers are removed. The directory must not be open.
pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport> {
    let dir = dir.as_ref();
    let _lock = lock_dir(dir)?;
    let after = manifest::read_manifest(dir)?.and_then(|m| m.checkpoint_seq).unwrap_or(0);
    let wal_dir = dir.join(WAL_DIR);
    let mut report = RepairReport::default();
    let mut expected: Option<u64> = None;
    let segments = segment::segments(&wal_dir)?;
    for (i, (first, path)) in segments.iter().enumerate() {
        if segments.get(i + 1).is_some_and(|(next_first, _)| *next_first <= after.saturating_add(1)) {
            fs::remove_file(path).map_err(|e| PersistenceError::io(path, e))?;
            report.removed.push(path.clone());
            continue;
        }
        if report.cut.is_some() {
            let aside = path.with_extension("log.damaged");
            fs::rename(path, &aside).map_err(|e| PersistenceError::io(path, e))?;
            report.set_aside.push(aside);
            continue;
        }
        let (records, end) = segment::scan_segment(path)?;
        // A gap in the numbering, or a record that does not decode, is damage too.
        let mut good = records.len();
        let mut next = expected.unwrap_or(*first);
        for (i, r) in records.iter().enumerate() {
            if r.first_seq != next || (r.seq > after && Op::decode(&r.payload).is_err()) {
                good = i;
                break;
            }
            next = r.seq + 1;
        }
        expected = Some(next);
        let offset = match end {
            _ if good < records.len() => Some(records[good].offset),
            ScanEnd::Damaged { offset, .. } => Some(offset),
            ScanEnd::Clean => None,
        };
        if let Some(offset) = offset {
            segment::truncate_segment(path, offset)?;
            report.cut = Some((path.clone(), offset));
        }
    }
    Ok(report)
}

/// What a checkpoint needs: shared by the client and the checkpoint thread, which must never
/// hold the [`Durable`] itself (its drop releases the directory lock, deterministically).
struct Checkpointer {
    dir: PathBuf,
    wal: Arc<Wal>,
    /// One checkpoint at a time.
    running: Mutex<()>,
    capture: Box<Capture>,
}

impl Checkpointer {
    /// Rotates the log, snapshots every collection, then drops the segments the snapshot covers.
    /// `Ok(false)` when the database is gone.
    fn checkpoint(&self) -> Result<bool> {
        let _one = self.running.lock();
        let seq = self.wal.rotate()?;
        let Some(captured) = (self.capture)() else { return Ok(false) };
        let (list, config) = captured?;
        let sources: Vec<&dyn SnapshotSource> = list.iter().map(|s| &**s).collect();
        manifest::save_directory(&self.dir, &sources, config.as_ref(), &SaveOptions::default(), Some(seq))?;
        self.wal.remove_through(seq)?;
        Ok(true)
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

impl Durable {
    /// Starts the thread that checkpoints when the log passes a threshold.
    fn start_checkpointer(&self) {
        let checkpointer = Arc::clone(&self.checkpointer);
        let thread = std::thread::Builder::new().name("vectorlite-checkpoint".into()).spawn(move || {
            let wal = &checkpointer.wal;
            while wal.await_trigger(Duration::from_secs(1)) {
                if !(wal.take_request() || wal.wants_checkpoint()) {
                    continue;
                }
                let started = Instant::now();
                match checkpointer.checkpoint() {
                    Ok(true) => tracing::debug!(took = ?started.elapsed(), "checkpoint"),
                    Ok(false) => return,
                    Err(e) => tracing::error!(error = %e, "checkpoint failed; the log keeps every write"),
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

    /// The log, for collections to write to.
    pub(crate) fn wal(&self) -> &Arc<Wal> {
        &self.checkpointer.wal
    }

    /// Logs an encoded op (call under the lock that orders it).
    pub(crate) fn log(&self, encoded: &[u8]) -> Result<Ticket> {
        Ok(oplog::log(&self.checkpointer.wal, encoded)?)
    }

    /// Snapshots the database now and drops the log it covers.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        self.checkpointer.checkpoint().map(drop)
    }
}
