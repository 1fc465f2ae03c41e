//! The log's bytes: segment files of checksummed frames, and the scan that reads them back.
//!
//! A segment `wal/<first seq, 20 digits>.log` starts with [`SEGMENT_MAGIC`] and holds frames
//! `[payload length u32][crc32c u32][seq u64][payload]`, little-endian, with consecutive
//! sequence numbers across segments. An operation larger than [`MAX_FRAME`] spans several
//! frames: every frame but its last has the top bit of its length set ("continued", covered by
//! the checksum). The frames of one operation are written together, so a scan that finds an
//! operation's frames cut off at the end of a segment has found a torn final append.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::super::PersistenceError;
use super::super::codec::LeReader;
use super::super::fault::{self, Fault};
use super::super::fs::sync_dir;

/// First bytes of every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"VLWAL\x00\x01\n";
/// Frame bytes before the payload: length, checksum, sequence number.
pub(crate) const FRAME_HEADER: usize = 16;
/// Largest payload one frame carries; larger operations continue in the next frame.
pub(crate) const MAX_FRAME: usize = 16 << 20;
/// Largest payload a frame may claim when read (older logs wrote up to this in one frame);
/// anything bigger is damage, not data.
const MAX_PAYLOAD: u32 = 1 << 30;
/// The length's top bit: the operation continues in the next frame.
const CONTINUED: u32 = 1 << 31;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PersistenceError + '_ {
    move |e| PersistenceError::io(path, e)
}

/// The file of the segment whose first record is `first_seq`.
pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.log"))
}

/// Segment files in `dir`, with the first sequence number each holds, in order.
pub(crate) fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, PersistenceError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
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

fn frame_crc(seq: u64, continued: bool, payload: &[u8]) -> u32 {
    let head = crc32c::crc32c(&seq.to_le_bytes());
    // Final frames checksum exactly as logs did before continued frames existed.
    let head = if continued { crc32c::crc32c_append(head, b"+") } else { head };
    crc32c::crc32c_append(head, payload)
}

/// Appends the frames of one operation to `buf`, numbered from `first_seq`; returns the
/// sequence number of its last frame.
pub(crate) fn encode_frames(buf: &mut Vec<u8>, first_seq: u64, payload: &[u8]) -> u64 {
    let mut seq = first_seq;
    let mut chunks = payload.chunks(MAX_FRAME).peekable();
    if chunks.peek().is_none() {
        encode_frame(buf, seq, false, &[]);
        return seq;
    }
    while let Some(chunk) = chunks.next() {
        let continued = chunks.peek().is_some();
        encode_frame(buf, seq, continued, chunk);
        if continued {
            seq += 1;
        }
    }
    seq
}

fn encode_frame(buf: &mut Vec<u8>, seq: u64, continued: bool, payload: &[u8]) {
    // A chunk is at most MAX_FRAME bytes, far below the flag bit.
    let len = payload.len() as u32 | if continued { CONTINUED } else { 0 };
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&frame_crc(seq, continued, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// The number of frames [`encode_frames`] writes for a payload of `len` bytes.
pub(crate) fn frames_for(len: usize) -> u64 {
    len.div_ceil(MAX_FRAME).max(1) as u64
}

/// Creates a segment holding only its magic, durably (file and directory synced).
pub(crate) fn create_segment(dir: &Path, first_seq: u64) -> Result<File, PersistenceError> {
    let path = segment_path(dir, first_seq);
    fault::check(&path, Fault::Write).map_err(io_err(&path))?;
    let mut file =
        OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(io_err(&path))?;
    file.write_all(&SEGMENT_MAGIC).map_err(io_err(&path))?;
    fault::check(&path, Fault::Sync).map_err(io_err(&path))?;
    file.sync_all().map_err(io_err(&path))?;
    sync_dir(dir).map_err(io_err(dir))?;
    Ok(file)
}

/// One whole logged operation read back (all its frames joined).
#[derive(Debug)]
pub(crate) struct LogRecord<'a> {
    /// Sequence number of its first frame.
    pub first_seq: u64,
    /// Sequence number of its last frame: the operation's own number.
    pub seq: u64,
    /// Borrowed from the scan's buffer for a one-frame operation, joined for a longer one.
    pub payload: Cow<'a, [u8]>,
    /// Where its first frame starts in the segment.
    pub offset: u64,
}

impl LogRecord<'_> {
    fn into_owned(self) -> LogRecord<'static> {
        LogRecord { payload: Cow::Owned(self.payload.into_owned()), ..self }
    }
}

/// How a segment's scan ended.
#[derive(Debug)]
pub(crate) enum ScanEnd {
    /// Every byte belonged to a whole, valid operation.
    Clean,
    /// Damage at `offset`; `data_after` tells whether any valid frame follows it (so the
    /// damage is not merely a torn final append).
    Damaged { offset: u64, reason: String, data_after: bool },
}

/// Reads every whole operation of a segment file, stopping at the first damage.
pub(crate) fn scan_segment(path: &Path) -> Result<(Vec<LogRecord<'static>>, ScanEnd), PersistenceError> {
    let mut records = Vec::new();
    let end = scan_segment_with(path, |r| {
        records.push(r.into_owned());
        Ok::<_, PersistenceError>(())
    })?;
    Ok((records, end))
}

/// Calls `visit` with every whole operation of a segment file, in order, reading the file a
/// piece at a time: memory stays near one piece plus one operation, however long the log
/// (a recovery replays gigabytes). Stops at the first damage, which it returns as the scan's
/// end, or at the first error of `visit`, which it returns.
pub(crate) fn scan_segment_with<E: From<PersistenceError>>(
    path: &Path,
    visit: impl FnMut(LogRecord<'_>) -> Result<(), E>,
) -> Result<ScanEnd, E> {
    let file = File::open(path).map_err(|e| E::from(PersistenceError::io(path, e)))?;
    scan(file, visit).map_err(|e| match e {
        ScanError::Io(e) => E::from(PersistenceError::io(path, e)),
        ScanError::Visit(e) => e,
    })
}

/// [`scan_segment`] over bytes in memory.
#[cfg(test)]
pub(crate) fn scan_bytes(bytes: &[u8]) -> (Vec<LogRecord<'static>>, ScanEnd) {
    let mut records = Vec::new();
    let end = scan(bytes, |r| {
        records.push(r.into_owned());
        Ok::<_, std::convert::Infallible>(())
    });
    match end {
        Ok(end) => (records, end),
        Err(ScanError::Io(e)) => unreachable!("reading a slice cannot fail: {e}"),
    }
}

/// Bytes read from the segment at a time.
const PIECE: usize = 8 << 20;

enum ScanError<E> {
    Io(io::Error),
    Visit(E),
}

/// A window onto a segment being read: `buf[pos..]` is unread, `base` is `buf[0]`'s offset.
struct Window<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    base: u64,
    eof: bool,
}

impl<R: Read> Window<R> {
    /// Makes `n` unread bytes available, or all that remain.
    fn want(&mut self, n: usize) -> io::Result<()> {
        if self.buf.len() - self.pos >= n || self.eof {
            return Ok(());
        }
        self.buf.drain(..self.pos);
        self.base += self.pos as u64;
        self.pos = 0;
        let target = n.max(PIECE);
        while self.buf.len() < target {
            let len = self.buf.len();
            // Grow in pieces: a frame's claimed length is not trusted with one allocation.
            self.buf.resize(len + PIECE.min(target - len), 0);
            let read = loop {
                match self.reader.read(&mut self.buf[len..]) {
                    Ok(read) => break read,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(len);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(len + read);
            if read == 0 {
                self.eof = true;
                break;
            }
        }
        Ok(())
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }
}

fn scan<R: Read, E>(
    reader: R,
    mut visit: impl FnMut(LogRecord<'_>) -> Result<(), E>,
) -> Result<ScanEnd, ScanError<E>> {
    let mut w = Window { reader, buf: Vec::new(), pos: 0, base: 0, eof: false };
    w.want(SEGMENT_MAGIC.len()).map_err(ScanError::Io)?;
    if w.unread().len() < SEGMENT_MAGIC.len() || w.unread()[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        w.want(SEGMENT_MAGIC.len() + 1).map_err(ScanError::Io)?;
        let data_after = w.unread().len() > SEGMENT_MAGIC.len();
        let reason = "not a vectorlite log segment (bad magic)".to_owned();
        return Ok(ScanEnd::Damaged { offset: 0, reason, data_after });
    }
    w.pos = SEGMENT_MAGIC.len();
    // The operation being assembled from continued frames: (first seq, offset, payload).
    let mut open: Option<(u64, u64, Vec<u8>)> = None;
    loop {
        w.want(FRAME_HEADER).map_err(ScanError::Io)?;
        if w.unread().is_empty() {
            break;
        }
        if let Some(extent) = frame_extent(w.unread()) {
            w.want(extent).map_err(ScanError::Io)?;
        }
        let at = w.offset();
        let (frame, len) = match parse_frame(w.unread()) {
            Ok(parsed) => parsed,
            Err(reason) => {
                let offset = open.as_ref().map_or(at, |(_, start, _)| *start);
                // Damage: is anything valid after it? Read the rest of the segment to see.
                w.want(usize::MAX).map_err(ScanError::Io)?;
                let rest = w.unread();
                let data_after = (1..rest.len()).any(|i| parse_frame(&rest[i..]).is_ok());
                return Ok(ScanEnd::Damaged { offset, reason, data_after });
            }
        };
        let record = match open.take() {
            Some((first, start, mut payload)) => {
                if frame.seq != first + frames_so_far(&payload) {
                    let reason = format!("frame {} inside the operation that starts at {first}", frame.seq);
                    return Ok(ScanEnd::Damaged { offset: start, reason, data_after: true });
                }
                payload.extend_from_slice(frame.payload);
                if frame.continued {
                    open = Some((first, start, payload));
                    None
                } else {
                    Some(LogRecord {
                        first_seq: first,
                        seq: frame.seq,
                        payload: Cow::Owned(payload),
                        offset: start,
                    })
                }
            }
            None if frame.continued => {
                open = Some((frame.seq, at, frame.payload.to_vec()));
                None
            }
            None => Some(LogRecord {
                first_seq: frame.seq,
                seq: frame.seq,
                payload: Cow::Borrowed(frame.payload),
                offset: at,
            }),
        };
        if let Some(record) = record {
            visit(record).map_err(ScanError::Visit)?;
        }
        w.pos += len;
    }
    match open {
        None => Ok(ScanEnd::Clean),
        Some((first, start, _)) => {
            let reason = format!("the operation starting at record {first} is cut off");
            Ok(ScanEnd::Damaged { offset: start, reason, data_after: false })
        }
    }
}

/// The whole length of the frame starting `bytes`, when its header is whole and plausible.
fn frame_extent(bytes: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) & !CONTINUED;
    (bytes.len() >= FRAME_HEADER && len <= MAX_PAYLOAD).then_some(FRAME_HEADER + len as usize)
}

/// How many frames an assembled payload took so far (every continued frame is full).
fn frames_so_far(payload: &[u8]) -> u64 {
    (payload.len() / MAX_FRAME) as u64
}

struct Frame<'a> {
    seq: u64,
    continued: bool,
    payload: &'a [u8],
}

/// One frame from the start of `bytes` and its length in bytes.
fn parse_frame(bytes: &[u8]) -> Result<(Frame<'_>, usize), String> {
    let mut r = LeReader::new(bytes);
    let (Ok(len), Ok(crc), Ok(seq)) = (r.u32(), r.u32(), r.u64()) else {
        return Err(format!("{} bytes left, less than a frame header", bytes.len()));
    };
    let continued = len & CONTINUED != 0;
    let len = len & !CONTINUED;
    if len > MAX_PAYLOAD || (continued && len as usize != MAX_FRAME) {
        return Err(format!("frame claims {len} bytes"));
    }
    let payload = r
        .take(len as usize)
        .map_err(|_| format!("frame of {len} bytes cut off after {}", bytes.len() - FRAME_HEADER))?;
    if frame_crc(seq, continued, payload) != crc {
        return Err("frame checksum mismatch".to_owned());
    }
    Ok((Frame { seq, continued, payload }, FRAME_HEADER + len as usize))
}

/// Cuts a segment at `offset` (dropping a torn or damaged tail) and syncs it.
pub(crate) fn truncate_segment(path: &Path, offset: u64) -> Result<(), PersistenceError> {
    let file = OpenOptions::new().write(true).open(path).map_err(io_err(path))?;
    file.set_len(offset.max(SEGMENT_MAGIC.len() as u64)).and_then(|()| file.sync_all()).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(ops: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut b = SEGMENT_MAGIC.to_vec();
        for (seq, payload) in ops {
            encode_frames(&mut b, *seq, payload);
        }
        b
    }

    #[test]
    fn large_operations_span_frames_and_come_back_whole() {
        let big: Vec<u8> = (0..MAX_FRAME * 2 + 5).map(|i| (i % 251) as u8).collect();
        let exact = vec![7u8; MAX_FRAME];
        let bytes = segment(&[(1, b"a".to_vec()), (2, big.clone()), (5, exact.clone()), (6, Vec::new())]);
        let (records, end) = scan_bytes(&bytes);
        assert!(matches!(end, ScanEnd::Clean), "{end:?}");
        let seqs: Vec<(u64, u64)> = records.iter().map(|r| (r.first_seq, r.seq)).collect();
        assert_eq!(seqs, [(1, 1), (2, 4), (5, 5), (6, 6)]);
        assert_eq!(records[1].payload, big);
        assert_eq!(records[2].payload, exact);
        assert_eq!(frames_for(big.len()), 3);
        assert_eq!(frames_for(0), 1);

        // Cut inside the big operation: it is a torn tail at the operation's start.
        let cut = SEGMENT_MAGIC.len() + FRAME_HEADER + 1 + FRAME_HEADER + MAX_FRAME + 10;
        let (records, end) = scan_bytes(&bytes[..cut]);
        assert_eq!(records.len(), 1);
        let ScanEnd::Damaged { offset, data_after, .. } = end else { panic!("not seen") };
        assert_eq!((offset, data_after), (records[0].offset + FRAME_HEADER as u64 + 1, false));
        // Cut exactly between two of its frames: still cut off.
        let between = SEGMENT_MAGIC.len() + 2 * FRAME_HEADER + 1 + MAX_FRAME;
        let (records, end) = scan_bytes(&bytes[..between]);
        assert_eq!(records.len(), 1);
        assert!(matches!(end, ScanEnd::Damaged { data_after: false, .. }));
    }

    #[test]
    fn a_flipped_continuation_bit_is_damage() {
        let mut bytes = segment(&[(1, vec![1; 10]), (2, vec![2; 10])]);
        bytes[SEGMENT_MAGIC.len() + 3] ^= 0x80; // the first frame now claims to continue
        let (records, end) = scan_bytes(&bytes);
        assert!(records.is_empty());
        assert!(matches!(end, ScanEnd::Damaged { offset: 8, data_after: true, .. }), "{end:?}");
    }

    #[test]
    fn frames_round_trip_and_damage_is_located() {
        let ops: Vec<(u64, Vec<u8>)> =
            (0..5u8).map(|i| (u64::from(i) + 1, vec![i; 10 + i as usize])).collect();
        let bytes = segment(&ops);
        let (records, end) = scan_bytes(&bytes);
        assert!(matches!(end, ScanEnd::Clean));
        assert_eq!(records.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(records[4].payload, vec![4; 14]);

        // A torn final frame: nothing valid after it.
        let (records, end) = scan_bytes(&bytes[..bytes.len() - 3]);
        assert_eq!(records.len(), 4);
        assert!(matches!(end, ScanEnd::Damaged { data_after: false, .. }));

        // A flipped byte in the second frame: valid frames follow, so it is not a torn tail.
        let mut bad = bytes.clone();
        bad[SEGMENT_MAGIC.len() + FRAME_HEADER + 10 + FRAME_HEADER + 2] ^= 0x40;
        let (records, end) = scan_bytes(&bad);
        assert_eq!(records.len(), 1);
        let ScanEnd::Damaged { offset, data_after, .. } = end else { panic!("damage not seen") };
        assert!(data_after);
        assert_eq!(offset, (SEGMENT_MAGIC.len() + FRAME_HEADER + 10) as u64);
    }
}
