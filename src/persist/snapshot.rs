//! Collection <-> `.vlc` file. Saving streams each section from the live store through the
//! compressor while the collection's read lock is held: searches go on, writers wait for the
//! save to finish, and no second copy of the data is made. Files are replaced atomically.
//! Loading validates everything before anything is built, and bounds what it decompresses by
//! what the header allows (and the memory the machine has), so a hostile file fails cleanly.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::format::{self, FileHeader, FormatError, Preamble, Sections, Tag};
use super::{LoadOptions, PersistenceError, Progress, ProgressFn, SaveOptions};
use crate::aligned::AlignedVec;
use crate::codes::{Codes, Int8Codes};
use crate::config::{CollectionConfig, IndexType, MAX_DIMENSION, MAX_ENTRY_BYTES, VectorStorage};
use crate::index::hnsw::graph::{Graph, GraphParts};
use crate::index::{VectorIndex, build_index};
use crate::rows::F32Rows;
use crate::store::{MAX_SLOTS, Times, VectorStore};

/// What a save needs from a collection, borrowed under its read lock.
pub(crate) struct SnapshotView<'a> {
    pub name: &'a str,
    pub config: CollectionConfig,
    pub created_at: &'a str,
    pub next_id: u64,
    pub embedding_model: Option<&'a str>,
    pub store: &'a VectorStore,
    pub graph: Option<&'a Graph>,
}

/// A collection read from a file, ready to be wrapped in a `Collection`.
pub(crate) struct LoadedCollection {
    pub name: String,
    pub config: CollectionConfig,
    pub created_at: String,
    pub next_id: u64,
    pub embedding_model: Option<String>,
    pub store: VectorStore,
    pub index: Box<dyn VectorIndex>,
}

/// Reports progress at most every 1% or 100 ms, and always at the end.
pub(crate) struct ProgressTracker {
    callback: Option<ProgressFn>,
    state: Progress,
    last_bytes: u64,
    last_time: Instant,
}

impl ProgressTracker {
    pub(crate) fn new(callback: Option<ProgressFn>, bytes_total: u64, records_total: u64) -> Self {
        let state = Progress { bytes_total, records_total, ..Progress::default() };
        Self { callback, state, last_bytes: 0, last_time: Instant::now() }
    }

    fn advance(&mut self, bytes: u64) {
        let Some(cb) = &self.callback else { return };
        let s = &mut self.state;
        s.bytes_done += bytes;
        // A save's total is an estimate (texts and metadata vary); never report past it.
        s.bytes_total = s.bytes_total.max(s.bytes_done);
        let step = s.bytes_total / 100;
        if s.bytes_done - self.last_bytes > step || self.last_time.elapsed() >= Duration::from_millis(100) {
            s.records_done = if s.bytes_total == 0 {
                0
            } else {
                (u128::from(s.records_total) * u128::from(s.bytes_done.min(s.bytes_total))
                    / u128::from(s.bytes_total)) as u64
            };
            (cb.0)(*s);
            self.last_bytes = s.bytes_done;
            self.last_time = Instant::now();
        }
    }

    fn finish(&mut self) {
        if let Some(cb) = &self.callback {
            self.state.bytes_done = self.state.bytes_total;
            self.state.records_done = self.state.records_total;
            (cb.0)(self.state);
        }
    }
}

/// Counts raw bytes passing through for progress reports.
struct ProgressWriter<'a, 'p> {
    inner: &'a mut dyn Write,
    tracker: &'p mut ProgressTracker,
}

impl Write for ProgressWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.tracker.advance(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Saves a collection to `path` atomically.
pub(crate) fn save(
    view: &SnapshotView<'_>,
    path: &Path,
    options: &SaveOptions,
) -> Result<(), PersistenceError> {
    let store = view.store;
    let header = FileHeader {
        format: format::FORMAT_NAME.into(),
        format_version: format::FORMAT_VERSION,
        vectorlite_version: env!("CARGO_PKG_VERSION").into(),
        name: view.name.into(),
        created_at: view.created_at.into(),
        count: store.len() as u64,
        slots: store.slots() as u64,
        dimension: view.config.dimension,
        metric: view.config.metric,
        index: view.config.index,
        next_id: view.next_id,
        embedding_model: view.embedding_model.map(str::to_owned),
        default_ttl_seconds: view.config.default_ttl_seconds,
        text: view.config.text,
        vector_storage: view.config.vector_storage,
        rescore: view.config.rescore,
        on_disk: view.config.on_disk,
    };
    let rows = store.slots() as u64;
    let raw_estimate = rows * (8 + 1 + 4 * view.config.dimension as u64 + 8 + 16);
    let mut tracker = ProgressTracker::new(options.progress.clone(), raw_estimate, store.len() as u64);
    let c = options.compression;
    super::fs::write_atomically(path, options.backup, |w| {
        format::write_preamble(w, &header)?;
        let mut section =
            |w: &mut BufWriter<File>, tag: Tag, body: &dyn Fn(&mut dyn Write) -> io::Result<()>| {
                format::write_section(w, tag, c, |raw| {
                    body(&mut ProgressWriter { inner: raw, tracker: &mut tracker })
                })
            };
        section(w, Tag::Ids, &|raw| format::write_u64s(raw, store.ids().iter().copied()))?;
        if let Some(rows) = store.f32_rows() {
            section(w, Tag::Vectors, &|raw| format::write_f32s(raw, rows))?;
        }
        match store.codes() {
            Codes::None => {}
            Codes::F16(bits) => section(w, Tag::VectorsF16, &|raw| format::write_u16s(raw, bits))?,
            Codes::Int8(c) => section(w, Tag::VectorsInt8, &|raw| {
                format::write_f32s(raw, c.lo())?;
                format::write_f32s(raw, c.step())?;
                raw.write_all(c.codes())
            })?,
        }
        section(w, Tag::Live, &|raw| {
            raw.write_all(&store.live().iter().map(|&l| u8::from(l)).collect::<Vec<_>>())
        })?;
        section(w, Tag::Texts, &|raw| {
            store
                .texts()
                .iter()
                .try_for_each(|t| format::write_opt_bytes(raw, t.as_deref().map(str::as_bytes)))
        })?;
        section(w, Tag::Metadata, &|raw| {
            let mut buf = Vec::new();
            store.metadata_column().iter().try_for_each(|m| match m {
                None => format::write_opt_bytes(raw, None),
                Some(v) => {
                    buf.clear();
                    serde_json::to_writer(&mut buf, v).map_err(io::Error::other)?;
                    format::write_opt_bytes(raw, Some(&buf))
                }
            })
        })?;
        section(w, Tag::Times, &|raw| {
            let times = store.times_column().iter().flat_map(|t| [t.updated, t.expires]);
            format::write_u64s(raw, times)
        })?;
        if let Some(graph) = view.graph {
            section(w, Tag::Hnsw, &|raw| graph.with_view(|g| format::write_graph(raw, g)))?;
        }
        format::write_end(w)
    })
    .map_err(|e| PersistenceError::io(path, e))?;
    tracker.finish();
    Ok(())
}

/// Counts bytes read, for progress.
struct ProgressReader<R> {
    inner: R,
    tracker: ProgressTracker,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tracker.advance(n as u64);
        Ok(n)
    }
}

/// Loads a collection file (format v2, or v1 JSON from vectorlite 0.1.x).
pub(crate) fn load(path: &Path, options: &LoadOptions) -> Result<LoadedCollection, PersistenceError> {
    let file = File::open(path).map_err(|e| PersistenceError::io(path, e))?;
    let len = file.metadata().map_err(|e| PersistenceError::io(path, e))?.len();
    let budget = options.max_memory.or_else(available_memory).unwrap_or(u64::MAX);
    let mut r = ProgressReader {
        inner: BufReader::with_capacity(1 << 20, file),
        tracker: ProgressTracker::new(options.progress.clone(), len, 0),
    };
    let records = std::cell::Cell::new(0);
    let loaded = load_from(path, &mut r, len, budget, &|count| records.set(count))?;
    r.tracker.state.records_total = records.get();
    r.tracker.finish();
    Ok(loaded)
}

/// Memory the machine can still give (Linux: `MemAvailable`), the default bound on what one
/// load may decompress.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Loads a collection from `r`, the `len` bytes of the file at `path` (named in errors);
/// decompresses at most `budget` bytes in all. `on_count` hears the record count once the
/// header is read.
pub(crate) fn load_from(
    path: &Path,
    r: &mut impl Read,
    len: u64,
    budget: u64,
    on_count: &dyn Fn(u64),
) -> Result<LoadedCollection, PersistenceError> {
    let mut first = [0u8; 1];
    let sniffed = r.read(&mut first).map_err(|e| PersistenceError::io(path, e))?;
    if sniffed == 1 && (first[0] == b'{' || first[0].is_ascii_whitespace()) {
        if len > budget {
            let reason = format!("a {len}-byte JSON file is more than the {budget} bytes this load may use");
            return Err(PersistenceError::Corrupt {
                path: path.into(),
                section: "v1 json",
                offset: 0,
                reason,
            });
        }
        let mut json = vec![first[0]];
        r.read_to_end(&mut json).map_err(|e| PersistenceError::io(path, e))?;
        return super::migrate::load_v1(path, &json);
    }
    let err = |section: &'static str, offset: u64, e: FormatError| match e {
        FormatError::Io(source) => PersistenceError::Io { path: path.into(), source },
        FormatError::Truncated => PersistenceError::Truncated { path: path.into(), section, offset },
        FormatError::Corrupt(reason) => {
            PersistenceError::Corrupt { path: path.into(), section, offset, reason }
        }
    };
    let mut counted = (&first[..sniffed]).chain(&mut *r);
    let (header, start) = match format::read_preamble(&mut counted).map_err(|e| err("header", 0, e))? {
        Preamble::Known(h, start) => (h, start),
        Preamble::Newer(version) => return Err(PersistenceError::NewerFormat { path: path.into(), version }),
        Preamble::BadMagic => return Err(PersistenceError::NotACollectionFile { path: path.into() }),
    };
    let config = CollectionConfig {
        dimension: header.dimension,
        metric: header.metric,
        index: header.index,
        default_ttl_seconds: header.default_ttl_seconds,
        text: header.text,
        vector_storage: header.vector_storage,
        rescore: header.rescore,
        on_disk: header.on_disk,
    };
    let bad_header = |reason: String| err("header", 0, format::corrupt(reason));
    if config.validate().is_err() || header.dimension > MAX_DIMENSION {
        return Err(bad_header(format!("invalid configuration {config:?}")));
    }
    crate::config::validate_collection_name(&header.name)
        .map_err(|_| bad_header(format!("invalid name '{}'", header.name)))?;
    if header.slots > MAX_SLOTS as u64 || header.count > header.slots {
        return Err(bad_header(format!("{} records in {} slots", header.count, header.slots)));
    }
    on_count(header.count);
    let n = header.slots;
    let dim = header.dimension as u64;
    let m = match config.index {
        IndexType::HNSW(p) => p.m as u64,
        IndexType::Flat => 0,
    };
    let mut sections = Sections::new(counted, start, len);
    let mut columns = Columns::default();
    let mut left = budget;
    while let Some((offset, h)) = sections.next().map_err(|(offset, e)| err("section header", offset, e))? {
        let name = h.tag.name();
        let fail = |e: FormatError| err(name, offset, e);
        // What the header allows this section to decompress to: exactly its size for the
        // fixed-size columns, a bound for the rest.
        let allowed = match h.tag {
            Tag::Ids => n.checked_mul(8),
            Tag::Vectors => n.checked_mul(dim * 4),
            Tag::VectorsF16 => n.checked_mul(dim * 2),
            Tag::VectorsInt8 => n.checked_mul(dim).and_then(|c| c.checked_add(8 * dim)),
            Tag::Live => Some(n),
            Tag::Times => n.checked_mul(16),
            Tag::Texts | Tag::Metadata => n.checked_mul(4 + MAX_ENTRY_BYTES as u64),
            Tag::Hnsw => Some(format::max_graph_bytes(n, m)),
            Tag::End => Some(0),
        };
        let fixed = !matches!(h.tag, Tag::Texts | Tag::Metadata | Tag::Hnsw | Tag::End);
        match allowed {
            Some(a) if h.raw_len == a || (!fixed && h.raw_len <= a) => {}
            _ => {
                let reason = format!("{} bytes for {n} rows of this section", h.raw_len);
                return Err(fail(format::corrupt(reason)));
            }
        }
        if h.raw_len > left {
            let reason = format!(
                "decompressing it would take {} bytes, more than the {left} left for this load \
                 (LoadOptions::max_memory, or the memory available)",
                h.raw_len
            );
            return Err(fail(format::corrupt(reason)));
        }
        left -= h.raw_len;
        match h.tag {
            // `Sections::next` answers `None` at the end section.
            Tag::End => {}
            Tag::Ids => columns.ids = Some(sections.read(&h, |raw| format::read_u64s(raw, n)).map_err(fail)?),
            Tag::Vectors => {
                let mut v = if config.on_disk {
                    // Straight into the file, so the rows never all sit in RAM.
                    let dir = crate::rows::default_dir();
                    let mut rows = F32Rows::new(Some(Arc::clone(&dir)));
                    rows.try_reserve((n * dim) as usize).map_err(|e| PersistenceError::io(&*dir, e))?;
                    rows
                } else {
                    let v = AlignedVec::try_with_capacity((n * dim) as usize)
                        .map_err(|_| fail(format::corrupt(format!("cannot allocate {} vectors", n))))?;
                    F32Rows::in_ram(v)
                };
                sections.read(&h, |raw| format::read_f32s(raw, n * dim, &mut v)).map_err(fail)?;
                columns.vectors = Some(v);
            }
            Tag::VectorsF16 => {
                let bits = sections.read(&h, |raw| format::read_u16s(raw, n * dim)).map_err(fail)?;
                columns.codes = Some(Codes::F16(bits.into()));
            }
            Tag::VectorsInt8 => {
                let codes = sections
                    .read(&h, |raw| {
                        let (mut lo, mut step) = (Vec::new(), Vec::new());
                        format::read_f32s(raw, dim, &mut lo)?;
                        format::read_f32s(raw, dim, &mut step)?;
                        let codes = format::read_u8s(raw, n * dim)?;
                        Int8Codes::from_parts(dim as usize, lo, step, codes).map_err(format::corrupt)
                    })
                    .map_err(fail)?;
                columns.codes = Some(Codes::Int8(codes));
            }
            Tag::Times => {
                let words = sections.read(&h, |raw| format::read_u64s(raw, n * 2)).map_err(fail)?;
                columns.times =
                    Some(words.chunks_exact(2).map(|w| Times { updated: w[0], expires: w[1] }).collect());
            }
            Tag::Live => {
                let live = sections.read(&h, |raw| format::read_u8s(raw, n)).map_err(fail)?;
                if live.iter().any(|&b| b > 1) {
                    return Err(fail(format::corrupt("live flags must be 0 or 1")));
                }
                columns.live = Some(live.into_iter().map(|b| b == 1).collect());
            }
            Tag::Texts => {
                let decode =
                    |b: Vec<u8>| String::from_utf8(b).map_err(|_| format::corrupt("text is not UTF-8"));
                let texts = sections.read(&h, |raw| format::read_opt_entries(raw, n, decode));
                columns.texts = Some(texts.map_err(fail)?);
            }
            Tag::Metadata => {
                let decode = |b: Vec<u8>| match serde_json::from_slice::<Value>(&b) {
                    Ok(v @ Value::Object(_)) => Ok(v),
                    Ok(_) => Err(format::corrupt("metadata is not a JSON object")),
                    Err(e) => Err(format::corrupt(format!("metadata is not JSON: {e}"))),
                };
                let metadata = sections.read(&h, |raw| format::read_opt_entries(raw, n, decode));
                columns.metadata = Some(metadata.map_err(fail)?);
            }
            Tag::Hnsw => {
                // The graph is a cache: if it cannot be read, it is rebuilt below.
                match sections.read(&h, |raw| format::read_graph(raw, n)) {
                    Ok(parts) => columns.graph = Some(parts),
                    Err(FormatError::Io(source)) => {
                        return Err(PersistenceError::Io { path: path.into(), source });
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), offset, "unreadable HNSW graph cache ({e}); rebuilding");
                    }
                }
            }
        }
    }
    let end = sections.position();
    // Format 2 kept no times: its records were written at an unknown time and never expire.
    let times = match (columns.times, header.format_version) {
        (None, 2) => Some(vec![Times::default(); n as usize]),
        (times, _) => times,
    };
    // The vector sections the configuration calls for, and no others.
    let vectors = match (config.keeps_f32(), columns.vectors, columns.codes, config.vector_storage) {
        (true, Some(v), None, VectorStorage::F32) => Some((Some(v), Codes::None)),
        (keeps, v, Some(c @ Codes::F16(_)), VectorStorage::F16) if !keeps && v.is_none() => Some((None, c)),
        (keeps, v, Some(c @ Codes::Int8(_)), VectorStorage::Int8) if keeps == v.is_some() => Some((v, c)),
        _ => None,
    };
    let (Some(ids), Some(vectors), Some(live), Some(texts), Some(metadata), Some(times)) =
        (columns.ids, vectors, columns.live, columns.texts, columns.metadata, times)
    else {
        return Err(PersistenceError::Corrupt {
            path: path.into(),
            section: "end",
            offset: end,
            reason: format!(
                "a required section (ids, the vectors of {} storage, live, texts, metadata, times) is \
                 missing, or a vector section it does not use is present",
                config.vector_storage
            ),
        });
    };
    let records =
        |reason| PersistenceError::Corrupt { path: path.into(), section: "records", offset: end, reason };
    let mut store = VectorStore::from_columns(header.dimension, vectors, ids, live, texts, metadata, times)
        .map_err(records)?;
    if config.index == IndexType::Flat {
        // Flat deletes by swapping rows out and never expects tombstones.
        store.compact();
    }
    if store.len() as u64 != header.count {
        return Err(PersistenceError::Corrupt {
            path: path.into(),
            section: "header",
            offset: 0,
            reason: format!("header counts {} records, the file holds {}", header.count, store.len()),
        });
    }
    let (index, rejected) = build_index(&config, &store, columns.graph);
    if let Some(why) = rejected {
        tracing::warn!(path = %path.display(), "{why}");
    }
    let next_id = header.next_id.max(store.max_id().map_or(0, |m| m.saturating_add(1)));
    Ok(LoadedCollection {
        name: header.name,
        config,
        created_at: header.created_at,
        next_id,
        embedding_model: header.embedding_model,
        store,
        index,
    })
}

#[derive(Default)]
struct Columns {
    ids: Option<Vec<u64>>,
    vectors: Option<F32Rows>,
    codes: Option<Codes>,
    live: Option<Vec<bool>>,
    texts: Option<Vec<Option<String>>>,
    metadata: Option<Vec<Option<Value>>>,
    times: Option<Vec<Times>>,
    graph: Option<GraphParts>,
}
