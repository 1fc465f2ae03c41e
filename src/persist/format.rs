//! The `.vlc` collection file, version 2: the only module that knows bytes. Everything is
//! little-endian and fixed-width; see docs/FORMAT.md for the picture.
//!
//! ```text
//! offset  size  field
//!      0     8  MAGIC  = 89 'V' 'L' 'C' 0D 0A 1A 0A   (PNG-style: catches text-mode mangling)
//!      8     4  format version (u32) = 4 (2 and 3 are still read)
//!     12     4  flags (u32) = 0, reserved
//!     16     4  header length H (u32)
//!     20     4  crc32c of the header bytes (u32)
//!     24     H  header: UTF-8 JSON (FileHeader), readable without touching the body
//! 24 + H        sections, each a 32-byte section header followed by its stored bytes:
//!                 0  4  tag (u32): 1 ids, 2 vectors, 3 live, 4 texts, 5 metadata, 6 hnsw,
//!                       7 times (format 3), 8 vectors-f16, 9 vectors-int8 (format 4),
//!                       0 end
//!                 4  1  codec (u8): 0 none, 1 zstd, 2 gzip
//!                 5  3  zero
//!                 8  8  raw length (u64): bytes after decompression
//!                16  8  stored length (u64): bytes that follow in the file
//!                24  4  crc32c of the stored bytes (u32)
//!                28  4  zero
//!               The last section is `end` with both lengths 0: a file without it is truncated.
//! ```
//!
//! Section payloads (raw, before compression), one entry per slot in slot order:
//! ids `u64`; vectors `dimension` x `f32` (absent when the collection keeps only codes);
//! vectors-f16 `dimension` x `u16` (IEEE half bits); vectors-int8 `dimension` x `f32` lows,
//! `dimension` x `f32` steps, then `dimension` x `u8` codes per slot; live `u8` (1 live, 0 deleted); texts and metadata
//! `u32` length (`u32::MAX` = none) then UTF-8 bytes (metadata as JSON); times `u64` written
//! and `u64` expiry (Unix ms, `u64::MAX` = never); hnsw, see [`write_graph`].

use std::io::{self, Read, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError, LeReader, NONE_LEN, write_chunked};
use crate::config::{IndexType, MAX_ENTRY_BYTES, SimilarityMetric};
use crate::index::hnsw::graph::{GraphParts, GraphView, MAX_LEVEL};

pub(crate) const MAGIC: [u8; 8] = [0x89, b'V', b'L', b'C', 0x0D, 0x0A, 0x1A, 0x0A];
pub(crate) const FORMAT_VERSION: u32 = 4;
/// The oldest binary version still read (version 1 is the JSON of vectorlite 0.1.x).
pub(crate) const OLDEST_BINARY_VERSION: u32 = 2;
/// Bytes before the header JSON.
pub(crate) const PREAMBLE_LEN: u64 = 24;
pub(crate) const SECTION_HEADER_LEN: u64 = 32;
/// A header larger than this is corrupt (real ones are a few hundred bytes).
pub(crate) const MAX_HEADER_LEN: u32 = 1 << 20;

/// The JSON header of a `.vlc` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FileHeader {
    pub format: String,
    pub format_version: u32,
    pub vectorlite_version: String,
    pub name: String,
    pub created_at: String,
    /// Live records.
    pub count: u64,
    /// Rows in the file, deleted ones included.
    pub slots: u64,
    pub dimension: usize,
    pub metric: SimilarityMetric,
    pub index: IndexType,
    pub next_id: u64,
    #[serde(default)]
    pub embedding_model: Option<String>,
    /// Format 3: the collection's default time to live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_ttl_seconds: Option<u64>,
    /// The collection's text analysis (absent: the default).
    #[serde(default, skip_serializing_if = "crate::fulltext::TextConfig::is_default")]
    pub text: crate::fulltext::TextConfig,
    /// Format 4: how vectors are kept (absent: f32, as in every older file).
    #[serde(default)]
    pub vector_storage: crate::config::VectorStorage,
    /// Format 4: int8 only, whether f32 rows are kept for rescoring.
    #[serde(default = "crate::config::yes")]
    pub rescore: bool,
    /// Whether the full-precision rows are kept on disk once loaded (absent: in RAM).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_disk: bool,
}

pub(crate) const FORMAT_NAME: &str = "vectorlite-collection";

/// Section tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    End = 0,
    Ids = 1,
    Vectors = 2,
    Live = 3,
    Texts = 4,
    Metadata = 5,
    Hnsw = 6,
    Times = 7,
    VectorsF16 = 8,
    VectorsInt8 = 9,
}

impl Tag {
    pub(crate) fn from_u32(v: u32) -> Option<Tag> {
        Some(match v {
            0 => Tag::End,
            1 => Tag::Ids,
            2 => Tag::Vectors,
            3 => Tag::Live,
            4 => Tag::Texts,
            5 => Tag::Metadata,
            6 => Tag::Hnsw,
            7 => Tag::Times,
            8 => Tag::VectorsF16,
            9 => Tag::VectorsInt8,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Tag::End => "end",
            Tag::Ids => "ids",
            Tag::Vectors => "vectors",
            Tag::Live => "live",
            Tag::Texts => "texts",
            Tag::Metadata => "metadata",
            Tag::Hnsw => "hnsw",
            Tag::Times => "times",
            Tag::VectorsF16 => "vectors-f16",
            Tag::VectorsInt8 => "vectors-int8",
        }
    }
}

/// How a section's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// zstd at the given level (1-22); the default, at level 3.
    Zstd(i32),
    /// gzip (deflate), for tools that only speak gzip.
    Gzip,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Zstd(3)
    }
}

impl Compression {
    pub(crate) fn codec(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Zstd(_) => 1,
            Compression::Gzip => 2,
        }
    }
}

/// A parsed section header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    pub tag: Tag,
    pub codec: u8,
    pub raw_len: u64,
    pub stored_len: u64,
    pub crc: u32,
}

/// What is wrong with bytes being read; the snapshot reader adds file, section and offset.
#[derive(Debug)]
pub(crate) enum FormatError {
    Io(io::Error),
    Truncated,
    Corrupt(String),
}

impl From<io::Error> for FormatError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof { FormatError::Truncated } else { FormatError::Io(e) }
    }
}

impl From<CodecError> for FormatError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Truncated => FormatError::Truncated,
            CodecError::Invalid(why) => FormatError::Corrupt(why),
        }
    }
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::Io(e) => write!(f, "{e}"),
            FormatError::Truncated => f.write_str("truncated"),
            FormatError::Corrupt(why) => f.write_str(why),
        }
    }
}

pub(crate) fn corrupt(reason: impl Into<String>) -> FormatError {
    FormatError::Corrupt(reason.into())
}

// ---- writing ----

/// Writes magic, version, flags and the JSON header.
pub(crate) fn write_preamble(w: &mut impl Write, header: &FileHeader) -> io::Result<()> {
    let json = serde_json::to_vec(header).map_err(io::Error::other)?;
    w.write_all(&MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&(json.len() as u32).to_le_bytes())?;
    w.write_all(&crc32c::crc32c(&json).to_le_bytes())?;
    w.write_all(&json)
}

/// Counts and checksums the bytes written through it.
struct Tally<W> {
    inner: W,
    bytes: u64,
    crc: u32,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one section: a placeholder header, the payload streamed through the compressor by
/// `body`, then the real header patched in. Nothing is buffered beyond the compressor's window
/// and the first [`PROBE`] bytes, on which the codec is chosen: a section that `compression`
/// would shrink by less than a tenth (float vectors, mostly) is stored raw, since every load
/// would pay a decompression to save almost nothing.
pub(crate) fn write_section<W: Write + Seek>(
    w: &mut W,
    tag: Tag,
    compression: Compression,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let start = w.stream_position()?;
    w.write_all(&[0u8; SECTION_HEADER_LEN as usize])?;
    let mut stored = Tally { inner: &mut *w, bytes: 0, crc: 0 };
    let mut section = Section {
        requested: compression,
        probe: Vec::new(),
        sink: None,
        stored: Some(&mut stored),
        raw_len: 0,
    };
    body(&mut section)?;
    let (codec, raw_len) = section.finish()?;
    let (stored_len, crc) = (stored.bytes, stored.crc);
    let end = w.stream_position()?;
    w.seek(SeekFrom::Start(start))?;
    let mut h = [0u8; SECTION_HEADER_LEN as usize];
    h[0..4].copy_from_slice(&(tag as u32).to_le_bytes());
    h[4] = codec.codec();
    h[8..16].copy_from_slice(&raw_len.to_le_bytes());
    h[16..24].copy_from_slice(&stored_len.to_le_bytes());
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    w.write_all(&h)?;
    w.seek(SeekFrom::Start(end))?;
    Ok(())
}

/// Bytes of a section tried with its compressor before the codec is chosen.
const PROBE: usize = 1 << 20;

/// A section's payload on its way to the file: probed, then streamed through the chosen codec.
struct Section<'a, W: Write> {
    requested: Compression,
    probe: Vec<u8>,
    /// Set once the codec is chosen.
    sink: Option<Sink<'a, W>>,
    /// The file, until the sink takes it.
    stored: Option<&'a mut Tally<W>>,
    raw_len: u64,
}

enum Sink<'a, W: Write> {
    Raw(&'a mut Tally<W>),
    Zstd(zstd::stream::write::Encoder<'static, &'a mut Tally<W>>),
    Gzip(flate2::write::GzEncoder<&'a mut Tally<W>>),
}

impl<W: Write> Section<'_, W> {
    /// Picks the codec on what the probe holds and sends the probe through it.
    fn choose(&mut self) -> io::Result<()> {
        let Some(stored) = self.stored.take() else { return Ok(()) };
        let worth = match self.requested {
            Compression::None => false,
            _ if self.probe.is_empty() => false,
            Compression::Zstd(level) => {
                zstd::bulk::compress(&self.probe, level)?.len() * 10 < self.probe.len() * 9
            }
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&self.probe)?;
                enc.finish()?.len() * 10 < self.probe.len() * 9
            }
        };
        let mut sink = match self.requested {
            Compression::Zstd(level) if worth => {
                Sink::Zstd(zstd::stream::write::Encoder::new(stored, level)?)
            }
            Compression::Gzip if worth => {
                Sink::Gzip(flate2::write::GzEncoder::new(stored, flate2::Compression::fast()))
            }
            _ => Sink::Raw(stored),
        };
        sink.write_all(&std::mem::take(&mut self.probe))?;
        self.sink = Some(sink);
        Ok(())
    }

    /// Flushes the codec; returns the codec used and the raw length.
    fn finish(mut self) -> io::Result<(Compression, u64)> {
        self.choose()?;
        let codec = match self.sink {
            Some(Sink::Zstd(enc)) => {
                enc.finish()?;
                self.requested
            }
            Some(Sink::Gzip(enc)) => {
                enc.finish()?;
                Compression::Gzip
            }
            Some(Sink::Raw(_)) | None => Compression::None,
        };
        Ok((codec, self.raw_len))
    }
}

impl<W: Write> Write for Section<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.sink.is_none() {
            let take = buf.len().min(PROBE - self.probe.len());
            self.probe.extend_from_slice(&buf[..take]);
            self.raw_len += take as u64;
            if self.probe.len() == PROBE {
                self.choose()?;
            }
            return Ok(take);
        }
        let n = self.sink.as_mut().map_or(Ok(0), |sink| sink.write(buf))?;
        self.raw_len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl<W: Write> Write for Sink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Raw(w) => w.write(buf),
            Sink::Zstd(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Raw(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

/// Writes the `end` section.
pub(crate) fn write_end(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&[0u8; SECTION_HEADER_LEN as usize])
}

/// Writes `values` as little-endian bytes through a small buffer.
pub(crate) fn write_u64s(w: &mut dyn Write, values: impl Iterator<Item = u64>) -> io::Result<()> {
    write_chunked(w, values, u64::to_le_bytes)
}

pub(crate) fn write_f32s(w: &mut dyn Write, values: &[f32]) -> io::Result<()> {
    if cfg!(target_endian = "little") {
        // The in-memory bytes already are the file's bytes.
        for chunk in values.chunks(1 << 20) {
            w.write_all(bytemuck::cast_slice(chunk))?;
        }
        Ok(())
    } else {
        write_chunked(w, values.iter().copied(), f32::to_le_bytes)
    }
}

pub(crate) fn write_u16s(w: &mut dyn Write, values: &[u16]) -> io::Result<()> {
    write_chunked(w, values.iter().copied(), u16::to_le_bytes)
}

pub(crate) fn write_u32s(w: &mut dyn Write, values: impl Iterator<Item = u32>) -> io::Result<()> {
    write_chunked(w, values, u32::to_le_bytes)
}

/// Writes an optional byte string: `u32` length (`u32::MAX` for none), then the bytes.
pub(crate) fn write_opt_bytes(w: &mut dyn Write, bytes: Option<&[u8]>) -> io::Result<()> {
    match bytes {
        None => w.write_all(&NONE_LEN.to_le_bytes()),
        Some(b) => {
            let len =
                codec::checked_len(b.len(), MAX_ENTRY_BYTES).map_err(|e| io::Error::other(e.to_string()))?;
            w.write_all(&len.to_le_bytes())?;
            w.write_all(b)
        }
    }
}

// ---- reading ----

/// What the preamble says: a header of a version this reader knows, a newer version, or not
/// our file at all.
pub(crate) enum Preamble {
    /// The header, and the offset of the first section (the preamble plus the header's bytes).
    Known(Box<FileHeader>, u64),
    Newer(u32),
    BadMagic,
}

/// Checks magic and version and returns the header.
pub(crate) fn read_preamble(r: &mut impl Read) -> Result<Preamble, FormatError> {
    let mut fixed = [0u8; PREAMBLE_LEN as usize];
    r.read_exact(&mut fixed)?;
    let mut f = LeReader::new(&fixed);
    if f.take(8)? != MAGIC {
        return Ok(Preamble::BadMagic);
    }
    let version = f.u32()?;
    if version > FORMAT_VERSION {
        return Ok(Preamble::Newer(version));
    }
    if version < OLDEST_BINARY_VERSION {
        return Err(corrupt(format!("unknown binary format version {version}")));
    }
    if f.u32()? != 0 {
        return Err(corrupt("unknown flags"));
    }
    let (len, crc) = (f.u32()?, f.u32()?);
    if len > MAX_HEADER_LEN {
        return Err(corrupt(format!("header length {len} exceeds {MAX_HEADER_LEN}")));
    }
    let mut json = vec![0u8; len as usize];
    r.read_exact(&mut json)?;
    if crc32c::crc32c(&json) != crc {
        return Err(corrupt("header checksum mismatch"));
    }
    let header: FileHeader =
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("header is not valid JSON: {e}")))?;
    if header.format != FORMAT_NAME || header.format_version != version {
        return Err(corrupt(format!("header names format '{}' v{}", header.format, header.format_version)));
    }
    Ok(Preamble::Known(Box::new(header), PREAMBLE_LEN + u64::from(len)))
}

fn parse_section_header(h: &[u8; SECTION_HEADER_LEN as usize]) -> Result<SectionHeader, FormatError> {
    let mut r = LeReader::new(h);
    let tag_word = r.u32()?;
    let tag = Tag::from_u32(tag_word).ok_or_else(|| corrupt(format!("unknown section tag {tag_word}")))?;
    let codec = r.u8()?;
    if codec > 2 {
        return Err(corrupt(format!("unknown codec {codec}")));
    }
    let reserved = r.take(3)?;
    let (raw_len, stored_len, crc) = (r.u64()?, r.u64()?, r.u32()?);
    if reserved != [0; 3] || r.u32()? != 0 {
        return Err(corrupt("reserved section header bytes are not zero"));
    }
    if codec == 0 && raw_len != stored_len {
        return Err(corrupt(format!(
            "uncompressed section declares {raw_len} raw but {stored_len} stored bytes"
        )));
    }
    Ok(SectionHeader { tag, codec, raw_len, stored_len, crc })
}

/// Counts the bytes read through it.
pub(crate) struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Walks the sections after a file's preamble, one at a time: the loader decodes each with
/// [`Sections::read`], `inspect` checks each with [`Sections::skip`]. Every section's stored
/// length is checked against the bytes the file has left before anything is read.
pub(crate) struct Sections<R> {
    r: Counted<R>,
    file_len: u64,
}

impl<R: Read> Sections<R> {
    /// A walk over `r`, which has consumed `start` bytes of a file of `file_len` bytes.
    pub(crate) fn new(r: R, start: u64, file_len: u64) -> Self {
        Self { r: Counted { inner: r, pos: start }, file_len }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> u64 {
        self.r.pos
    }

    /// The next section's header and its offset, or `None` at the end section. An error comes
    /// with the offset it was found at.
    pub(crate) fn next(&mut self) -> Result<Option<(u64, SectionHeader)>, (u64, FormatError)> {
        let offset = self.r.pos;
        let mut raw = [0u8; SECTION_HEADER_LEN as usize];
        self.r.read_exact(&mut raw).map_err(|e| (offset, e.into()))?;
        let h = parse_section_header(&raw).map_err(|e| (offset, e))?;
        if h.tag == Tag::End {
            return Ok(None);
        }
        if h.stored_len > self.file_len.saturating_sub(self.r.pos) {
            return Err((offset, FormatError::Truncated));
        }
        Ok(Some((offset, h)))
    }

    /// Decodes the section `h` announced (see [`read_section`]).
    pub(crate) fn read<T>(
        &mut self,
        h: &SectionHeader,
        decode: impl FnOnce(&mut dyn Read) -> Result<T, FormatError>,
    ) -> Result<T, FormatError> {
        read_section(&mut self.r, h, decode)
    }

    /// Reads past the section `h` announced; true when its stored bytes match their checksum.
    pub(crate) fn skip(&mut self, h: &SectionHeader) -> Result<bool, FormatError> {
        let mut stored = CrcReader { inner: (&mut self.r).take(h.stored_len), crc: 0 };
        let copied = io::copy(&mut stored, &mut io::sink())?;
        if copied != h.stored_len {
            return Err(FormatError::Truncated);
        }
        Ok(stored.crc == h.crc)
    }
}

/// Checksums the bytes read through it.
struct CrcReader<R> {
    inner: R,
    crc: u32,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
}

/// Reads one section's payload: `decode` gets the decompressed bytes, exactly `raw_len` of
/// them, and the stored bytes' checksum is verified at the end. Reads at most `stored_len`
/// bytes from `r`, and decompresses at most `raw_len`, so a bad length cannot run into the
/// next section, and a compressed bomb cannot expand past what its header declared.
pub(crate) fn read_section<R: Read, T>(
    r: &mut R,
    h: &SectionHeader,
    decode: impl FnOnce(&mut dyn Read) -> Result<T, FormatError>,
) -> Result<T, FormatError> {
    let mut stored = CrcReader { inner: r.take(h.stored_len), crc: 0 };
    let value = {
        let mut raw: Box<dyn Read + '_> = match h.codec {
            0 => Box::new((&mut stored).take(h.raw_len)),
            1 => Box::new(zstd::stream::read::Decoder::new(&mut stored)?.take(h.raw_len)),
            _ => Box::new(flate2::read::GzDecoder::new(&mut stored).take(h.raw_len)),
        };
        let value = decode(&mut raw)?;
        // Exactly raw_len bytes: nothing may be left over.
        let mut extra = [0u8; 1];
        if raw.read(&mut extra).map_err(|e| corrupt(format!("decompression failed: {e}")))? != 0 {
            return Err(corrupt("payload is longer than its declared length"));
        }
        value
    };
    // Drain what the decoder did not need (a trailing frame) so the checksum covers it all.
    io::copy(&mut stored, &mut io::sink())?;
    if stored.inner.limit() != 0 {
        return Err(FormatError::Truncated);
    }
    if stored.crc != h.crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(value)
}

fn stream_err(e: io::Error) -> FormatError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => FormatError::Truncated,
        _ => corrupt(format!("decompression failed: {e}")),
    }
}

/// Reads `count` little-endian `u64`s, growing the vector as bytes arrive so a false count
/// cannot allocate more than the data actually holds.
pub(crate) fn read_u64s(r: &mut dyn Read, count: u64) -> Result<Vec<u64>, FormatError> {
    read_chunked(r, count, u64::from_le_bytes)
}

pub(crate) fn read_u32s(r: &mut dyn Read, count: u64) -> Result<Vec<u32>, FormatError> {
    read_chunked(r, count, u32::from_le_bytes)
}

/// A growable buffer that [`read_f32s`] reads into.
pub(crate) trait F32Sink {
    /// Appends `count` values (zeros, or anything) and returns them to be overwritten.
    fn grow(&mut self, count: usize) -> &mut [f32];
}

impl F32Sink for Vec<f32> {
    fn grow(&mut self, count: usize) -> &mut [f32] {
        crate::hugepage::reserve(self, count);
        let start = self.len();
        self.resize(start + count, 0.0);
        &mut self[start..]
    }
}

impl F32Sink for crate::rows::F32Rows {
    fn grow(&mut self, count: usize) -> &mut [f32] {
        crate::rows::F32Rows::grow(self, count)
    }
}

/// Reads `count` little-endian `f32`s into `out`, which the caller has reserved (fallibly)
/// for them.
pub(crate) fn read_f32s(r: &mut dyn Read, count: u64, out: &mut impl F32Sink) -> Result<(), FormatError> {
    // Read straight into the buffer's memory, a chunk at a time.
    const CHUNK: u64 = 1 << 18;
    let mut left = count;
    while left > 0 {
        let take = left.min(CHUNK) as usize;
        let chunk = out.grow(take);
        r.read_exact(bytemuck::cast_slice_mut(chunk)).map_err(stream_err)?;
        if cfg!(target_endian = "big") {
            chunk.iter_mut().for_each(|x| *x = f32::from_bits(u32::from_le(x.to_bits())));
        }
        left -= take as u64;
    }
    Ok(())
}

pub(crate) fn read_u16s(r: &mut dyn Read, count: u64) -> Result<Vec<u16>, FormatError> {
    read_chunked(r, count, u16::from_le_bytes)
}

pub(crate) fn read_u8s(r: &mut dyn Read, count: u64) -> Result<Vec<u8>, FormatError> {
    read_chunked(r, count, |b: [u8; 1]| b[0])
}

fn read_chunked<T, const N: usize>(
    r: &mut dyn Read,
    count: u64,
    from: fn([u8; N]) -> T,
) -> Result<Vec<T>, FormatError> {
    let mut out = Vec::new();
    read_chunked_into(r, count, from, &mut out)?;
    Ok(out)
}

fn read_chunked_into<T, const N: usize>(
    r: &mut dyn Read,
    count: u64,
    from: fn([u8; N]) -> T,
    out: &mut Vec<T>,
) -> Result<(), FormatError> {
    const CHUNK: usize = 64 << 10;
    let mut buf = vec![0u8; CHUNK / N * N];
    let mut left = count;
    while left > 0 {
        let take = (left.min((buf.len() / N) as u64) as usize) * N;
        r.read_exact(&mut buf[..take]).map_err(stream_err)?;
        out.extend(buf[..take].chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        }));
        left -= (take / N) as u64;
    }
    Ok(())
}

/// Reads `count` optional entries (see [`write_opt_bytes`]), decoding each present one.
pub(crate) fn read_opt_entries<T>(
    r: &mut dyn Read,
    count: u64,
    decode: impl Fn(Vec<u8>) -> Result<T, FormatError>,
) -> Result<Vec<Option<T>>, FormatError> {
    let mut out = Vec::new();
    for _ in 0..count {
        let Some(len) = codec::read_array::<4>(r).map_err(stream_err)? else {
            return Err(FormatError::Truncated);
        };
        match u32::from_le_bytes(len) {
            NONE_LEN => out.push(None),
            n if n as usize > MAX_ENTRY_BYTES => {
                return Err(corrupt(format!("entry length {n} exceeds {MAX_ENTRY_BYTES}")));
            }
            n => {
                let mut bytes = Vec::new();
                (&mut *r).take(u64::from(n)).read_to_end(&mut bytes).map_err(stream_err)?;
                if bytes.len() != n as usize {
                    return Err(FormatError::Truncated);
                }
                out.push(Some(decode(bytes)?));
            }
        }
    }
    Ok(out)
}

/// Writes the HNSW graph section payload:
/// `u32 m, u32 entry slot (u32::MAX = none), u32 entry level, u64 nodes, u64 upper words`,
/// then levels (`u8` per node), layer 0 (`2m + 1` words per node: count, links), upper block
/// starts (`u32` per node, `u32::MAX` for none) and the upper blocks (`m + 1` words each).
pub(crate) fn write_graph(w: &mut dyn Write, g: &GraphView<'_>) -> io::Result<()> {
    let (entry_slot, entry_level) = g.entry.map_or((u32::MAX, 0), |(s, l)| (s, u32::from(l)));
    write_u32s(w, [g.m, entry_slot, entry_level].into_iter())?;
    write_u64s(w, [g.levels.len() as u64, g.upper_words as u64].into_iter())?;
    w.write_all(g.levels)?;
    write_u32s(w, (g.layer0)())?;
    write_u32s(w, g.upper_start.iter().copied())?;
    write_u32s(w, (g.upper)())
}

/// The most raw bytes a graph of `nodes` nodes with links per layer `m` can take.
pub(crate) fn max_graph_bytes(nodes: u64, m: u64) -> u64 {
    let per_node = 1 + (2 * m + 1) * 4 + 4 + u64::from(MAX_LEVEL) * (m + 1) * 4;
    28u64.saturating_add(nodes.saturating_mul(per_node))
}

/// Reads a graph payload written by [`write_graph`]; the index validates the parts before use.
pub(crate) fn read_graph(r: &mut dyn Read, expected_nodes: u64) -> Result<GraphParts, FormatError> {
    let head = read_u32s(r, 3)?;
    let counts = read_u64s(r, 2)?;
    let (m, nodes, upper_words) = (head[0], counts[0], counts[1]);
    if nodes != expected_nodes || !(2..=128).contains(&m) {
        return Err(corrupt(format!(
            "graph of {nodes} nodes with m = {m} does not fit {expected_nodes} rows"
        )));
    }
    if upper_words > nodes.saturating_mul(u64::from(MAX_LEVEL) * (u64::from(m) + 1)) {
        return Err(corrupt(format!("{upper_words} upper link words for {nodes} nodes")));
    }
    let entry = (head[1] != u32::MAX).then(|| (head[1], head[2].min(255) as u8));
    let levels = read_u8s(r, nodes)?;
    let layer0 = read_u32s(r, nodes.saturating_mul(2 * u64::from(m) + 1))?;
    let upper_start = read_u32s(r, nodes)?;
    let upper = read_u32s(r, upper_words)?;
    Ok(GraphParts { m, entry, levels, layer0, upper_start, upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a section of `payload` with `compression`; returns its header and what reading
    /// it back gives.
    fn round_trip(payload: &[u8], compression: Compression) -> (SectionHeader, Vec<u8>) {
        let mut file = io::Cursor::new(Vec::new());
        // Odd-sized writes, as the column writers make, across the probe's end.
        write_section(&mut file, Tag::Metadata, compression, |w| {
            payload.chunks(70_001).try_for_each(|chunk| w.write_all(chunk))
        })
        .unwrap();
        let bytes = file.into_inner();
        let header: &[u8; SECTION_HEADER_LEN as usize] =
            bytes[..SECTION_HEADER_LEN as usize].try_into().unwrap();
        let h = parse_section_header(header).unwrap();
        assert_eq!(h.stored_len as usize, bytes.len() - SECTION_HEADER_LEN as usize);
        let mut rest = &bytes[SECTION_HEADER_LEN as usize..];
        let read = read_section(&mut rest, &h, |r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out)?;
            Ok(out)
        })
        .unwrap();
        (h, read)
    }

    #[test]
    fn sections_that_barely_compress_are_stored_raw_and_others_compressed() {
        // Floats like embedding values (random 24-bit mantissas): zstd saves a few percent.
        let mut s = 7u64;
        let floats: Vec<u8> = (0..(3 << 20) / 4)
            .flat_map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2).to_le_bytes()
            })
            .collect();
        let json: Vec<u8> =
            (0..60_000).flat_map(|i| format!("{{\"bucket\":{}}}", i % 100).into_bytes()).collect();
        for compression in [Compression::Zstd(3), Compression::Gzip] {
            let (h, read) = round_trip(&floats, compression);
            assert_eq!((h.codec, h.raw_len, read.len()), (0, floats.len() as u64, floats.len()));
            assert!(read == floats);
            let (h, read) = round_trip(&json, compression);
            assert_eq!(h.codec, compression.codec(), "{compression:?}");
            assert!(h.stored_len * 4 < h.raw_len, "{compression:?} compresses JSON");
            assert!(read == json);
        }
        // Short and empty sections decide on what they hold; `None` is never compressed.
        for payload in [&b""[..], b"tiny", &json[..1000]] {
            for compression in [Compression::None, Compression::Zstd(3), Compression::Gzip] {
                let (h, read) = round_trip(payload, compression);
                assert_eq!(read, payload);
                assert!(compression != Compression::None || h.codec == 0);
            }
        }
    }
}
