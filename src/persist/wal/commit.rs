//! Group commit: writers [`Wal::append`] under the lock that orders their change (cheap: it
//! only encodes into a buffer) and then [`Wal::wait`] outside it. The first waiter becomes the
//! leader, writes everything buffered with one `write` and one `fdatasync` (after a short
//! window under [`SyncPolicy::Batch`]), and wakes the others. Appends after an I/O failure
//! fail, so nothing is acknowledged that may not be on disk.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::super::PersistenceError;
use super::super::fault::{self, Fault};
use super::super::fs::sync_dir;
use super::SyncPolicy;
use super::segment::{create_segment, encode_frames, frames_for, io_err, segment_path, segments};

struct State {
    next_seq: u64,
    /// Encoded frames not yet handed to the operating system.
    pending: Vec<u8>,
    /// Highest sequence number in `pending`.
    pending_last: u64,
    /// Highest sequence number written (and synced, as the policy asks).
    durable: u64,
    /// A leader is writing, or a rotation is under way.
    busy: bool,
    /// The first I/O failure; after it every append and wait fails.
    failed: Option<String>,
    segment_bytes: u64,
    /// Operations written to the open segment.
    segment_records: u64,
    segment_opened: Instant,
    /// How long the last fsync took: the group-commit window under `Batch`.
    last_sync: Duration,
    /// Records in `pending`, and in the last group written.
    pending_count: u64,
    last_group: u64,
}

/// When the open segment should be checkpointed away.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointThresholds {
    /// Log bytes since the last checkpoint.
    pub bytes: u64,
    /// Logged operations since the last checkpoint (replay costs per operation).
    pub records: u64,
    /// Age of the oldest unchecked record.
    pub age: Option<Duration>,
}

/// Wakes the checkpointer thread: `due` when a threshold passed, `forced` when a checkpoint
/// was asked for whatever the thresholds say, `stop` when the database closes.
#[derive(Default)]
struct Trigger {
    due: bool,
    forced: bool,
    stop: bool,
}

/// The log of one data directory.
pub(crate) struct Wal {
    dir: PathBuf,
    policy: SyncPolicy,
    state: Mutex<State>,
    done: Condvar,
    /// The open segment; only the leader or a rotation touches it.
    file: Mutex<File>,
    thresholds: CheckpointThresholds,
    trigger: Mutex<Trigger>,
    triggered: Condvar,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).field("policy", &self.policy).finish()
    }
}

impl Wal {
    /// Starts a new segment in `dir` whose first record will be `next_seq`.
    pub(crate) fn create(
        dir: &Path,
        next_seq: u64,
        policy: SyncPolicy,
        thresholds: CheckpointThresholds,
    ) -> Result<Wal, PersistenceError> {
        super::super::fs::create_dir_durably(dir).map_err(io_err(dir))?;
        let file = create_segment(dir, next_seq)?;
        Ok(Wal {
            dir: dir.to_owned(),
            policy,
            state: Mutex::new(State {
                next_seq,
                pending: Vec::new(),
                pending_last: next_seq.saturating_sub(1),
                durable: next_seq.saturating_sub(1),
                busy: false,
                failed: None,
                segment_bytes: 0,
                segment_records: 0,
                segment_opened: Instant::now(),
                last_sync: Duration::ZERO,
                pending_count: 0,
                last_group: 0,
            }),
            done: Condvar::new(),
            file: Mutex::new(file),
            thresholds,
            trigger: Mutex::default(),
            triggered: Condvar::new(),
        })
    }

    fn failure(&self, why: &str) -> PersistenceError {
        PersistenceError::io(
            &self.dir,
            io::Error::other(format!("the write-ahead log failed earlier: {why}")),
        )
    }

    /// Numbers and buffers one operation (in as many frames as its size needs); it is on disk
    /// once [`wait`](Self::wait) on the returned sequence number returns.
    pub(crate) fn append(&self, payload: &[u8]) -> Result<u64, PersistenceError> {
        let mut st = self.state.lock();
        if let Some(why) = &st.failed {
            return Err(self.failure(why));
        }
        let first = st.next_seq;
        let last = encode_frames(&mut st.pending, first, payload);
        debug_assert_eq!(last + 1 - first, frames_for(payload.len()));
        st.next_seq = last + 1;
        st.pending_last = last;
        st.pending_count += 1;
        Ok(last)
    }

    /// Returns once record `seq` is durable under the sync policy.
    pub(crate) fn wait(&self, seq: u64) -> Result<(), PersistenceError> {
        let mut st = self.state.lock();
        loop {
            if st.durable >= seq {
                return Ok(());
            }
            if let Some(why) = &st.failed {
                return Err(self.failure(why));
            }
            if st.busy {
                self.done.wait(&mut st);
                continue;
            }
            st.busy = true;
            if let SyncPolicy::Batch { max_delay } = self.policy {
                let window = max_delay.min(st.last_sync);
                if st.last_group > 1 && !window.is_zero() {
                    MutexGuard::unlocked(&mut st, || std::thread::sleep(window));
                }
            }
            self.flush(&mut st, false);
            st.busy = false;
            self.done.notify_all();
        }
    }

    /// Writes (and syncs, as the policy asks) everything pending; the caller holds `busy`.
    /// With `force_sync` the segment is synced whatever the policy.
    fn flush(&self, st: &mut MutexGuard<'_, State>, force_sync: bool) {
        let buf = std::mem::take(&mut st.pending);
        let last = st.pending_last;
        st.last_group = std::mem::take(&mut st.pending_count);
        let sync = force_sync || self.policy != SyncPolicy::Never;
        let result = MutexGuard::unlocked(st, || {
            let mut file = self.file.lock();
            if !buf.is_empty() {
                fault::check(&self.dir, Fault::Write)?;
                file.write_all(&buf)?;
            }
            let start = Instant::now();
            if sync {
                fault::check(&self.dir, Fault::Sync)?;
                file.sync_data()?;
            }
            Ok::<_, io::Error>(start.elapsed())
        });
        match result {
            Ok(took) => {
                st.durable = st.durable.max(last);
                st.segment_bytes += buf.len() as u64;
                st.segment_records += st.last_group;
                if sync {
                    st.last_sync = took;
                }
            }
            Err(e) => st.failed = Some(e.to_string()),
        }
    }

    /// True when the open segment has passed a checkpoint threshold.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        let st = self.state.lock();
        let CheckpointThresholds { bytes, records, age } = self.thresholds;
        st.segment_bytes >= bytes
            || st.segment_records >= records
            || age.is_some_and(|a| st.segment_bytes > 0 && st.segment_opened.elapsed() >= a)
    }

    /// Wakes the checkpointer if a threshold has passed.
    pub(crate) fn poke(&self) {
        if self.wants_checkpoint() {
            self.trigger.lock().due = true;
            self.triggered.notify_all();
        }
    }

    /// Wakes the checkpointer now, whatever the thresholds say (after a long recovery).
    pub(crate) fn request_checkpoint(&self) {
        let mut t = self.trigger.lock();
        t.due = true;
        t.forced = true;
        self.triggered.notify_all();
    }

    /// For the checkpointer: whether a checkpoint was asked for (and forgets the request).
    pub(crate) fn take_request(&self) -> bool {
        std::mem::take(&mut self.trigger.lock().forced)
    }

    /// For the checkpointer: sleeps until poked or `timeout`; false once the database closes.
    pub(crate) fn await_trigger(&self, timeout: Duration) -> bool {
        let mut t = self.trigger.lock();
        if !t.due && !t.stop {
            self.triggered.wait_for(&mut t, timeout);
        }
        t.due = false;
        !t.stop
    }

    /// Tells the checkpointer to finish.
    pub(crate) fn stop_checkpointer(&self) {
        self.trigger.lock().stop = true;
        self.triggered.notify_all();
    }

    /// Closes the open segment (synced) and starts the next. Returns the last sequence number
    /// of the closed one: every record up to it is durable in older segments. Appends go on
    /// meanwhile; waits pause for one fsync.
    pub(crate) fn rotate(&self) -> Result<u64, PersistenceError> {
        let mut st = self.state.lock();
        while st.busy {
            self.done.wait(&mut st);
        }
        if let Some(why) = &st.failed {
            return Err(self.failure(why));
        }
        st.busy = true;
        self.flush(&mut st, true);
        // Records appended while the flush ran are still pending: they open the next segment.
        let last = st.durable;
        // An error, and whether the log can no longer be trusted after it.
        let result: Result<u64, (PersistenceError, bool)> = match &st.failed {
            Some(why) => Err((self.failure(why), true)),
            None => MutexGuard::unlocked(&mut st, || match create_segment(&self.dir, last + 1) {
                Ok(fresh) => {
                    *self.file.lock() = fresh;
                    Ok(last)
                }
                // Writes go on in the open segment; a half-made new one must not stay behind,
                // since recovery reads segment names as where the numbering continues.
                Err(e) => match std::fs::remove_file(segment_path(&self.dir, last + 1)) {
                    Ok(()) => Err((e, false)),
                    Err(gone) if gone.kind() == io::ErrorKind::NotFound => Err((e, false)),
                    Err(_) => Err((e, true)),
                },
            }),
        };
        if let Err((e, poisoned)) = &result {
            if *poisoned {
                st.failed = Some(e.to_string());
            }
        } else {
            st.segment_bytes = 0;
            st.segment_records = 0;
            st.segment_opened = Instant::now();
        }
        st.busy = false;
        self.done.notify_all();
        result.map_err(|(e, _)| e)
    }

    /// Deletes segments whose records all have sequence numbers up to `seq` (they are in a
    /// durable snapshot). The open segment is never deleted.
    pub(crate) fn remove_through(&self, seq: u64) -> Result<(), PersistenceError> {
        let all = segments(&self.dir)?;
        for pair in all.windows(2) {
            let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
            if *next_first <= seq.saturating_add(1) {
                std::fs::remove_file(path).map_err(io_err(path))?;
            }
        }
        sync_dir(&self.dir).map_err(io_err(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::wal::segment::{ScanEnd, scan_segment};

    const NEVER: CheckpointThresholds =
        CheckpointThresholds { bytes: u64::MAX, records: u64::MAX, age: None };

    #[test]
    fn rotation_starts_a_numbered_segment_and_old_ones_can_go() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::create(dir.path(), 1, SyncPolicy::Never, NEVER).unwrap();
        let a = wal.append(b"a").unwrap();
        wal.wait(a).unwrap();
        assert_eq!(wal.rotate().unwrap(), 1);
        let b = wal.append(b"b").unwrap();
        wal.wait(b).unwrap();
        let names: Vec<u64> = segments(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, [1, 2]);
        wal.remove_through(1).unwrap();
        let left = segments(dir.path()).unwrap();
        assert_eq!(left.len(), 1);
        let (frames, _) = scan_segment(&left[0].1).unwrap();
        assert_eq!((frames[0].seq, &*frames[0].payload), (2, &b"b"[..]));
    }

    #[test]
    fn concurrent_writers_share_syncs_and_every_record_lands_once() {
        let dir = tempfile::tempdir().unwrap();
        let wal =
            Wal::create(dir.path(), 1, SyncPolicy::Batch { max_delay: Duration::from_millis(1) }, NEVER)
                .unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let wal = &wal;
                s.spawn(move || {
                    for i in 0..50u8 {
                        let seq = wal.append(&[t, i]).unwrap();
                        wal.wait(seq).unwrap();
                    }
                });
            }
        });
        let (_, path) = &segments(dir.path()).unwrap()[0];
        let (frames, end) = scan_segment(path).unwrap();
        assert!(matches!(end, ScanEnd::Clean));
        assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), (1..=200).collect::<Vec<u64>>());
        let mut payloads: Vec<Vec<u8>> = frames.into_iter().map(|f| f.payload.into_owned()).collect();
        payloads.sort();
        payloads.dedup();
        assert_eq!(payloads.len(), 200);
    }
}
