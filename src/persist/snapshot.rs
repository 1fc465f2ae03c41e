//! Collection <-> `.vlc` file. Saving streams each section from the live store through the
//! compressor while the collection's read lock is held: searches go on, writers wait for the
//! save to finish, and no second copy of the data is made. Files are replaced atomically.
//! Loading validates everything before building the collection.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::format::{self, FileHeader, FormatError, Preamble, SectionHeader, Tag};
use super::{LoadOptions, PersistenceError, Progress, ProgressFn, SaveOptions};
use crate::config::{CollectionConfig, IndexType, MAX_DIMENSION};
use crate::index::distance::Distance;
use crate::index::hnsw::HnswIndex;
use crate::index::hnsw::graph::Graph;
use crate::index::{VectorIndex, new_index};
use crate::store::{MAX_SLOTS, VectorStore};

/// What a save needs from a collection, borrowed under its read lock.
pub(crate) struct SnapshotView<'a> {
    pub name: &'a str,
    pub config: CollectionConfig,
    pub created_at: &'a str,
    pub next_id: u64,
    pub embedding_model: Option<String>,
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

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
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
        embedding_model: view.embedding_model.clone(),
    };
    let rows = store.slots() as u64;
    let raw_estimate = rows * (8 + 1 + 4 * view.config.dimension as u64 + 8);
    let mut tracker = ProgressTracker::new(options.progress.clone(), raw_estimate, store.len() as u64);
    let c = options.compression;
    write_atomically(path, options.backup, |w| {
        format::write_preamble(w, &header)?;
        let mut section =
            |w: &mut BufWriter<File>, tag: Tag, body: &dyn Fn(&mut dyn Write) -> io::Result<()>| {
                format::write_section(w, tag, c, |raw| {
                    body(&mut ProgressWriter { inner: raw, tracker: &mut tracker })
                })
            };
        section(w, Tag::Ids, &|raw| format::write_u64s(raw, store.ids().iter().copied()))?;
        section(w, Tag::Vectors, &|raw| format::write_f32s(raw, store.vectors()))?;
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
        if let Some(graph) = view.graph {
            section(w, Tag::Hnsw, &|raw| graph.with_view(|g| format::write_graph(raw, g)))?;
        }
        format::write_end(w)
    })
    .map_err(|e| PersistenceError::io(path, e))?;
    tracker.finish();
    Ok(())
}

/// Writes a file through `write` into a temporary file beside `path`, syncs it, optionally
/// keeps the old file as `<path>.bak`, renames the new one over `path`, and syncs the
/// directory. A crash leaves either the old file or the new one, never a torn one.
pub(crate) fn write_atomically(
    path: &Path,
    backup: bool,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = parent_dir(path);
    let file_name = path.file_name().ok_or_else(|| io::Error::other("the path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, File::create_new(&tmp)?);
        write(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        if backup && path.exists() {
            let bak = backup_path(path);
            let _ = fs::remove_file(&bak);
            // A hard link keeps the old file reachable under `path` until the rename below.
            fs::hard_link(path, &bak).or_else(|_| fs::copy(path, &bak).map(drop))?;
        }
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename durable: the directory entry itself must reach the disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Counts bytes read, for error offsets and progress.
struct CountingReader<R> {
    inner: R,
    pos: u64,
    tracker: ProgressTracker,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        self.tracker.advance(n as u64);
        Ok(n)
    }
}

/// Loads a collection file (format v2, or v1 JSON from vectorlite 0.1.x).
pub(crate) fn load(path: &Path, options: &LoadOptions) -> Result<LoadedCollection, PersistenceError> {
    let file = File::open(path).map_err(|e| PersistenceError::io(path, e))?;
    let len = file.metadata().map_err(|e| PersistenceError::io(path, e))?.len();
    let mut r = CountingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        pos: 0,
        tracker: ProgressTracker::new(options.progress.clone(), len, 0),
    };
    let mut first = [0u8; 1];
    let sniffed = r.read(&mut first).map_err(|e| PersistenceError::io(path, e))?;
    if sniffed == 1 && (first[0] == b'{' || first[0].is_ascii_whitespace()) {
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).map_err(|e| PersistenceError::io(path, e))?;
        let mut json = Vec::with_capacity(rest.len() + 1);
        json.push(first[0]);
        json.extend_from_slice(&rest);
        let loaded = super::migrate::load_v1(path, &json)?;
        r.tracker.finish();
        return Ok(loaded);
    }
    let err = |section: &'static str, offset: u64, e: FormatError| match e {
        FormatError::Io(source) => PersistenceError::Io { path: path.into(), source },
        FormatError::Truncated => PersistenceError::Truncated { path: path.into(), section, offset },
        FormatError::Corrupt(reason) => {
            PersistenceError::Corrupt { path: path.into(), section, offset, reason }
        }
    };
    let mut rest = (&first[..sniffed]).chain(&mut r);
    let header = match format::read_preamble(&mut rest).map_err(|e| err("header", 0, e))? {
        Preamble::V2(h) => h,
        Preamble::Newer(version) => return Err(PersistenceError::NewerFormat { path: path.into(), version }),
        Preamble::BadMagic => return Err(PersistenceError::NotACollectionFile { path: path.into() }),
    };
    let config = CollectionConfig { dimension: header.dimension, metric: header.metric, index: header.index };
    let bad_header = |reason: String| err("header", 0, format::corrupt(reason));
    if config.validate().is_err() || header.dimension > MAX_DIMENSION {
        return Err(bad_header(format!("invalid configuration {config:?}")));
    }
    crate::config::validate_name(&header.name)
        .map_err(|_| bad_header(format!("invalid name '{}'", header.name)))?;
    if header.slots > MAX_SLOTS as u64 || header.count > header.slots {
        return Err(bad_header(format!("{} records in {} slots", header.count, header.slots)));
    }
    r.tracker.state.records_total = header.count;
    let n = header.slots;
    let dim = header.dimension as u64;

    let mut columns = Columns::default();
    loop {
        let offset = r.pos;
        let h: SectionHeader =
            format::read_section_header(&mut r).map_err(|e| err("section header", offset, e))?;
        let name = h.tag.name();
        if h.stored_len > len.saturating_sub(r.pos) {
            return Err(PersistenceError::Truncated { path: path.into(), section: name, offset });
        }
        // Fixed-size sections must declare exactly their size before anything is allocated.
        let expect_raw = |expected: Option<u64>| match expected {
            Some(e) if e == h.raw_len => Ok(()),
            _ => Err(err(
                name,
                offset,
                format::corrupt(format!("{} bytes for {n} rows of this section", h.raw_len)),
            )),
        };
        match h.tag {
            Tag::End => break,
            Tag::Ids => {
                expect_raw(n.checked_mul(8))?;
                columns.ids = Some(
                    format::read_section(&mut r, &h, |raw| format::read_u64s(raw, n))
                        .map_err(|e| err(name, offset, e))?,
                );
            }
            Tag::Vectors => {
                expect_raw(n.checked_mul(dim * 4))?;
                let mut v = Vec::new();
                crate::hugepage::reserve(&mut v, 0);
                format::read_section(&mut r, &h, |raw| format::read_f32s(raw, n * dim, &mut v))
                    .map_err(|e| err(name, offset, e))?;
                columns.vectors = Some(v);
            }
            Tag::Live => {
                expect_raw(Some(n))?;
                let live = format::read_section(&mut r, &h, |raw| format::read_u8s(raw, n))
                    .map_err(|e| err(name, offset, e))?;
                if live.iter().any(|&b| b > 1) {
                    return Err(err(name, offset, format::corrupt("live flags must be 0 or 1")));
                }
                columns.live = Some(live.into_iter().map(|b| b == 1).collect());
            }
            Tag::Texts => {
                let decode =
                    |b: Vec<u8>| String::from_utf8(b).map_err(|_| format::corrupt("text is not UTF-8"));
                let texts = format::read_section(&mut r, &h, |raw| format::read_opt_entries(raw, n, decode));
                columns.texts = Some(texts.map_err(|e| err(name, offset, e))?);
            }
            Tag::Metadata => {
                let decode = |b: Vec<u8>| match serde_json::from_slice::<Value>(&b) {
                    Ok(v @ Value::Object(_)) => Ok(v),
                    Ok(_) => Err(format::corrupt("metadata is not a JSON object")),
                    Err(e) => Err(format::corrupt(format!("metadata is not JSON: {e}"))),
                };
                let metadata =
                    format::read_section(&mut r, &h, |raw| format::read_opt_entries(raw, n, decode));
                columns.metadata = Some(metadata.map_err(|e| err(name, offset, e))?);
            }
            Tag::Hnsw => {
                // The graph is a cache: if it cannot be read, it is rebuilt below.
                match format::read_section(&mut r, &h, |raw| format::read_graph(raw, n)) {
                    Ok(parts) => columns.graph = Some(parts),
                    Err(FormatError::Io(source)) => {
                        return Err(PersistenceError::Io { path: path.into(), source });
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), offset, "unreadable HNSW graph cache ({e:?}); rebuilding");
                    }
                }
            }
        }
    }
    let end = r.pos;
    let (Some(ids), Some(vectors), Some(live), Some(texts), Some(metadata)) =
        (columns.ids, columns.vectors, columns.live, columns.texts, columns.metadata)
    else {
        return Err(PersistenceError::Corrupt {
            path: path.into(),
            section: "end",
            offset: end,
            reason: "a required section (ids, vectors, live, texts, metadata) is missing".into(),
        });
    };
    let mut store =
        VectorStore::from_columns(header.dimension, vectors, ids, live, texts, metadata).map_err(
            |reason| PersistenceError::Corrupt { path: path.into(), section: "records", offset: end, reason },
        )?;
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
    let index = build_index(path, &config, &store, columns.graph);
    r.tracker.finish();
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
    vectors: Option<Vec<f32>>,
    live: Option<Vec<bool>>,
    texts: Option<Vec<Option<String>>>,
    metadata: Option<Vec<Option<Value>>>,
    graph: Option<format::GraphParts>,
}

/// The index for a loaded store: the saved graph when it is valid, else a fresh build.
pub(crate) fn build_index(
    path: &Path,
    config: &CollectionConfig,
    store: &VectorStore,
    graph: Option<format::GraphParts>,
) -> Box<dyn VectorIndex> {
    if let (IndexType::HNSW(params), Some(parts)) = (config.index, graph) {
        match Graph::from_parts(parts, params.m) {
            Ok(graph) => return Box::new(HnswIndex::with_graph(params, Distance::new(config.metric), graph)),
            Err(reason) => {
                tracing::warn!(path = %path.display(), "invalid HNSW graph cache ({reason}); rebuilding")
            }
        }
    } else if matches!(config.index, IndexType::HNSW(_)) && store.slots() > 0 {
        tracing::warn!(path = %path.display(), "no HNSW graph cache; rebuilding");
    }
    let mut index = new_index(config);
    index.insert(store, 0..store.slots() as u32);
    index
}
