//! The write-ahead log: numbered segment files of checksummed frames, appended with group
//! commit.
//!
//! A segment `wal/<first seq, 20 digits>.log` starts with [`SEGMENT_MAGIC`] and holds frames
//! `[payload length u32][crc32c of seq and payload u32][seq u64][payload]`, little-endian, with
//! consecutive sequence numbers across segments. Writers [`Wal::append`] under their
//! collection's lock (cheap: it only encodes into a buffer) and then [`Wal::wait`] outside it:
//! the first waiter becomes the leader, writes everything buffered with one `write` and one
//! `fdatasync` (after `max_delay` under [`SyncPolicy::Batch`]), and wakes the others.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::PersistenceError;
use super::snapshot::sync_dir;

/// First bytes of every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"VLWAL\x00\x01\n";
/// Frame bytes before the payload: length, checksum, sequence number.
const FRAME_HEADER: usize = 16;
/// Largest payload a frame may claim; anything bigger is damage, not data.
pub(crate) const MAX_PAYLOAD: u32 = 1 << 30;
/// Where segments live inside the data directory.
pub(crate) const WAL_DIR: &str = "wal";

/// When an acknowledged write is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before every acknowledgement (concurrent writers still share one fsync).
    Always,
    /// Group commit: the first writer to wait holds the door open, then one fsync covers
    /// every write that arrived meanwhile, and all of them are acknowledged. The door opens
    /// only when the last group had company (a lone writer gains nothing from waiting) and
    /// stays open as long as the last fsync took (longer costs more latency than it saves),
    /// never longer than `max_delay`. Writers that arrive during an fsync form the next group
    /// under every policy.
    Batch {
        /// Longest a group stays open.
        max_delay: Duration,
    },
    /// No fsync: writes reach the operating system before they are acknowledged, so a crash
    /// of the process loses nothing, but a power cut or kernel crash loses recent writes.
    Never,
}

impl Default for SyncPolicy {
    /// `Batch` with a 2 ms window.
    fn default() -> Self {
        SyncPolicy::Batch { max_delay: Duration::from_millis(2) }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PersistenceError + '_ {
    move |e| PersistenceError::io(path, e)
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.log")
}

/// Segment files in `dir`, with the first sequence number each holds, in order.
pub(crate) fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, PersistenceError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(PersistenceError::io(dir, e)),
    };
    for entry in entries {
        let path = entry.map_err(io_err(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(seq) = name.strip_suffix(".log").and_then(|s| s.parse::<u64>().ok()) {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

fn frame_crc(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// Appends one frame to `buf`.
fn encode_frame(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&frame_crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Creates a segment holding only its magic, durably (file and directory synced).
fn create_segment(dir: &Path, first_seq: u64) -> Result<File, PersistenceError> {
    let path = dir.join(segment_name(first_seq));
    let mut file =
        OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(io_err(&path))?;
    file.write_all(&SEGMENT_MAGIC).and_then(|()| file.sync_all()).map_err(io_err(&path))?;
    sync_dir(dir).map_err(io_err(dir))?;
    Ok(file)
}

/// One frame read back.
pub(crate) struct Frame {
    pub seq: u64,
    pub payload: Vec<u8>,
    /// Where the frame starts in its segment.
    pub offset: u64,
}

/// How a segment's scan ended.
pub(crate) enum ScanEnd {
    /// Every byte belonged to a whole, valid frame.
    Clean,
    /// Damage at `offset`; `data_after` tells whether any valid frame follows it (so the
    /// damage is not merely a torn final append).
    Damaged { offset: u64, reason: String, data_after: bool },
}

/// Reads every valid frame of a segment, stopping at the first damage.
pub(crate) fn scan_segment(path: &Path) -> Result<(Vec<Frame>, ScanEnd), PersistenceError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io_err(path))?;
    let mut frames = Vec::new();
    if bytes.len() < SEGMENT_MAGIC.len() || bytes[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        let data_after = bytes.len() > SEGMENT_MAGIC.len();
        let reason = "not a vectorlite log segment (bad magic)".to_owned();
        return Ok((frames, ScanEnd::Damaged { offset: 0, reason, data_after }));
    }
    let mut at = SEGMENT_MAGIC.len();
    while at < bytes.len() {
        match parse_frame(&bytes[at..]) {
            Ok((frame, len)) => {
                frames.push(Frame { offset: at as u64, ..frame });
                at += len;
            }
            Err(reason) => {
                let data_after = (at + 1..bytes.len()).any(|i| parse_frame(&bytes[i..]).is_ok());
                return Ok((frames, ScanEnd::Damaged { offset: at as u64, reason, data_after }));
            }
        }
    }
    Ok((frames, ScanEnd::Clean))
}

/// One frame from the start of `bytes` and its length in bytes.
fn parse_frame(bytes: &[u8]) -> Result<(Frame, usize), String> {
    if bytes.len() < FRAME_HEADER {
        return Err(format!("{} bytes left, less than a frame header", bytes.len()));
    }
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (len, crc) = (word(0), word(4));
    let seq = u64::from(word(8)) | (u64::from(word(12)) << 32);
    if len > MAX_PAYLOAD {
        return Err(format!("frame claims {len} bytes"));
    }
    let end = FRAME_HEADER + len as usize;
    if bytes.len() < end {
        return Err(format!("frame of {len} bytes cut off after {}", bytes.len() - FRAME_HEADER));
    }
    let payload = &bytes[FRAME_HEADER..end];
    if frame_crc(seq, payload) != crc {
        return Err("frame checksum mismatch".to_owned());
    }
    Ok((Frame { seq, payload: payload.to_vec(), offset: 0 }, end))
}

/// Cuts a segment at `offset` (dropping a torn or damaged tail) and syncs it.
pub(crate) fn truncate_segment(path: &Path, offset: u64) -> Result<(), PersistenceError> {
    let file = OpenOptions::new().write(true).open(path).map_err(io_err(path))?;
    file.set_len(offset.max(SEGMENT_MAGIC.len() as u64)).and_then(|()| file.sync_all()).map_err(io_err(path))
}

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
    pub bytes: u64,
    pub age: Option<Duration>,
}

/// Wakes the checkpointer thread: `due` when a threshold passed, `stop` when the database closes.
#[derive(Default)]
struct Trigger {
    due: bool,
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
        fs::create_dir_all(dir).map_err(io_err(dir))?;
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

    /// Numbers and buffers one record; it is on disk once [`wait`](Self::wait) returns.
    pub(crate) fn append(&self, payload: &[u8]) -> Result<u64, PersistenceError> {
        let mut st = self.state.lock();
        if let Some(why) = &st.failed {
            return Err(self.failure(why));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        encode_frame(&mut st.pending, seq, payload);
        st.pending_last = seq;
        st.pending_count += 1;
        Ok(seq)
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
            file.write_all(&buf)?;
            let start = Instant::now();
            if sync {
                file.sync_data()?;
            }
            Ok::<_, io::Error>(start.elapsed())
        });
        match result {
            Ok(took) => {
                st.durable = st.durable.max(last);
                st.segment_bytes += buf.len() as u64;
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
        let CheckpointThresholds { bytes, age } = self.thresholds;
        st.segment_bytes >= bytes
            || age.is_some_and(|a| st.segment_bytes > 0 && st.segment_opened.elapsed() >= a)
    }

    /// Wakes the checkpointer if a threshold has passed.
    pub(crate) fn poke(&self) {
        if self.wants_checkpoint() {
            self.trigger.lock().due = true;
            self.triggered.notify_all();
        }
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
        let result = match &st.failed {
            Some(why) => Err(self.failure(why)),
            None => MutexGuard::unlocked(&mut st, || {
                let fresh = create_segment(&self.dir, last + 1)?;
                *self.file.lock() = fresh;
                Ok(last)
            }),
        };
        if let Err(e) = &result {
            st.failed = Some(e.to_string());
        } else {
            st.segment_bytes = 0;
            st.segment_opened = Instant::now();
        }
        st.busy = false;
        self.done.notify_all();
        result
    }

    /// Deletes segments whose records all have sequence numbers up to `seq` (they are in a
    /// durable snapshot). The open segment is never deleted.
    pub(crate) fn remove_through(&self, seq: u64) -> Result<(), PersistenceError> {
        let all = segments(&self.dir)?;
        for pair in all.windows(2) {
            let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
            if *next_first <= seq.saturating_add(1) {
                fs::remove_file(path).map_err(io_err(path))?;
            }
        }
        sync_dir(&self.dir).map_err(io_err(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEVER: CheckpointThresholds = CheckpointThresholds { bytes: u64::MAX, age: None };

    #[test]
    fn frames_round_trip_and_damage_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::create(dir.path(), 1, SyncPolicy::Always, NEVER).unwrap();
        for i in 0..5u8 {
            let seq = wal.append(&vec![i; 10 + i as usize]).unwrap();
            wal.wait(seq).unwrap();
        }
        let (_, path) = &segments(dir.path()).unwrap()[0];
        let (frames, end) = scan_segment(path).unwrap();
        assert!(matches!(end, ScanEnd::Clean));
        assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(frames[4].payload, vec![4; 14]);

        // A torn final frame: nothing valid after it.
        let len = fs::metadata(path).unwrap().len();
        OpenOptions::new().write(true).open(path).unwrap().set_len(len - 3).unwrap();
        let (frames, end) = scan_segment(path).unwrap();
        assert_eq!(frames.len(), 4);
        assert!(matches!(end, ScanEnd::Damaged { data_after: false, .. }));

        // A flipped byte in the second frame: valid frames follow, so it is not a torn tail.
        let mut bytes = fs::read(path).unwrap();
        bytes[SEGMENT_MAGIC.len() + FRAME_HEADER + 10 + FRAME_HEADER + 2] ^= 0x40;
        fs::write(path, &bytes).unwrap();
        let (frames, end) = scan_segment(path).unwrap();
        assert_eq!(frames.len(), 1);
        let ScanEnd::Damaged { offset, data_after, .. } = end else { panic!("damage not seen") };
        assert!(data_after);
        assert_eq!(offset, (SEGMENT_MAGIC.len() + FRAME_HEADER + 10) as u64);
    }

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
        assert_eq!((frames[0].seq, frames[0].payload.as_slice()), (2, &b"b"[..]));
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
        let mut payloads: Vec<Vec<u8>> = frames.into_iter().map(|f| f.payload).collect();
        payloads.sort();
        payloads.dedup();
        assert_eq!(payloads.len(), 200);
    }
}
