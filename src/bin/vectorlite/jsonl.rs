//! `vectorlite import` and `export`: a collection of a database directory as JSON lines, one
//! record per line: `{"id", "vector", "text", "metadata"}`. On import `id` is optional (given
//! ids are upserted, so a re-run is idempotent; missing ones are assigned) and a line with `text`
//! but no `vector` is embedded with the built-in model. Both open the directory as the server
//! does (durably, locked). Import reads the file twice: every line is checked before the first
//! is written, so a bad line changes nothing.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;
use vectorlite::{
    Collection, CollectionConfig, DurabilityOptions, IndexType, NewRecord, Record, SimilarityMetric,
    VectorLiteClient,
};

/// Records handed to the library at once: large enough for parallel inserts and batched
/// embedding, small enough to keep memory flat.
const BATCH: usize = 1_024;

/// `vectorlite import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The JSON-lines file.
    file: PathBuf,
    /// Collection to import into; created if missing.
    #[arg(long)]
    collection: String,
    /// The database directory (created if missing).
    #[arg(long, env = "VECTORLITE_DATA_DIR", default_value = "./vectorlite-data")]
    data_dir: PathBuf,
    /// Dimension of a new collection (default: the first vector's, or the model's).
    #[arg(long)]
    dimension: Option<usize>,
    /// Metric of a new collection: cosine, euclidean, dot or manhattan.
    #[arg(long, default_value = "cosine")]
    metric: SimilarityMetric,
    /// Index of a new collection: hnsw or flat.
    #[arg(long, default_value = "hnsw")]
    index: IndexType,
    /// Model directory for text-only lines (default: $VECTORLITE_MODEL_DIR, then
    /// ./models/all-MiniLM-L6-v2).
    #[arg(long, env = "VECTORLITE_MODEL_DIR")]
    model_dir: Option<PathBuf>,
}

/// `vectorlite export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Collection to export.
    #[arg(long)]
    collection: String,
    /// The database directory.
    #[arg(long, env = "VECTORLITE_DATA_DIR", default_value = "./vectorlite-data")]
    data_dir: PathBuf,
    /// Output file (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// One input line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Option<u64>,
    vector: Option<Vec<f32>>,
    text: Option<String>,
    metadata: Option<Value>,
}

/// Lines waiting to be written, by kind.
#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    new_records: Vec<NewRecord>,
    texts: Vec<(u64, String, Option<Value>)>,
    new_texts: Vec<(String, Option<Value>)>,
    /// First and last line numbers in the batch, for error messages.
    lines: Option<(usize, usize)>,
}

impl Pending {
    fn len(&self) -> usize {
        self.records.len() + self.new_records.len() + self.texts.len() + self.new_texts.len()
    }

    /// Queues one checked line.
    fn push(&mut self, line: Line, number: usize) {
        let Line { id, vector, text, metadata } = line;
        match (id, vector, text) {
            (Some(id), Some(vector), text) => {
                self.records.push(Record { id, vector, text, metadata, ..Record::default() })
            }
            (None, Some(vector), text) => {
                self.new_records.push(NewRecord { vector, text, metadata, expiry: None })
            }
            (Some(id), None, text) => self.texts.push((id, text.unwrap_or_default(), metadata)),
            (None, None, text) => self.new_texts.push((text.unwrap_or_default(), metadata)),
        }
        self.lines = Some((self.lines.map_or(number, |(first, _)| first), number));
    }

    fn flush(&mut self, c: &Collection) -> Result<()> {
        let Some((first, last)) = self.lines.take() else { return Ok(()) };
        let context = || format!("lines {first}-{last}");
        let taken = std::mem::take(self);
        if !taken.records.is_empty() {
            c.upsert_batch(taken.records).with_context(context)?;
        }
        if !taken.new_records.is_empty() {
            c.add_batch(taken.new_records).with_context(context)?;
        }
        if !taken.texts.is_empty() {
            c.upsert_texts(taken.texts).with_context(context)?;
        }
        if !taken.new_texts.is_empty() {
            c.add_texts(taken.new_texts).with_context(context)?;
        }
        Ok(())
    }
}

/// Opens the durable database in `dir`, as the server does.
fn open_database(dir: &Path) -> Result<VectorLiteClient> {
    VectorLiteClient::open(dir, DurabilityOptions::default())
        .with_context(|| format!("opening {}", dir.display()))
}

/// Calls `f` with each non-empty line of `file` parsed, and its line number.
fn for_each_line(
    file: &Path,
    progress: &ProgressBar,
    mut f: impl FnMut(Line, usize) -> Result<()>,
) -> Result<()> {
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    progress.set_length(input.metadata().map(|m| m.len()).unwrap_or(0));
    progress.set_position(0);
    for (i, line) in BufReader::new(progress.wrap_read(input)).lines().enumerate() {
        let number = i + 1;
        let line = line.with_context(|| format!("reading line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&line)
            .with_context(|| format!("line {number} is not a record {{id, vector, text, metadata}}"))?;
        f(line, number)?;
    }
    Ok(())
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style)
}

/// Checks every line of `args.file`, then writes them all into the collection.
pub fn import(args: ImportArgs) -> Result<()> {
    let client = open_database(&args.data_dir)?;
    let existing = client.collection(&args.collection).ok();
    let progress = bar(0, "{msg} {bar:40} {binary_bytes}/{binary_total_bytes} {per_sec} eta {eta}");

    // Pass 1: parse and check, so that a bad line is found before anything is written.
    progress.set_message("checking");
    let (mut needs_model, mut lines) = (false, 0usize);
    let mut dimension = existing.as_ref().map(|c| c.config().dimension).or(args.dimension);
    for_each_line(&args.file, &progress, |line, number| {
        check(&line, number, &mut dimension)?;
        needs_model |= line.vector.is_none();
        lines += 1;
        Ok(())
    })?;
    if lines == 0 {
        bail!("{} has no records", args.file.display());
    }
    if needs_model {
        let model = crate::load_model(args.model_dir.as_deref())?;
        let model_dimension = model.dimension()?;
        match dimension {
            Some(d) if d != model_dimension => {
                bail!("text-only lines need the model's {model_dimension} dimensions; the vectors have {d}")
            }
            _ => dimension = Some(model_dimension),
        }
        client.set_embedder(Some(model));
    }
    let c = match existing {
        Some(c) => c,
        // Pass 1 found a vector or loaded the model, so the dimension is known.
        None => create(&client, &args, dimension.unwrap_or_default())?,
    };
    let before = c.len();

    // Pass 2: write in batches; each is logged, so it survives even a crash mid-import.
    progress.set_message("importing");
    let mut pending = Pending::default();
    for_each_line(&args.file, &progress, |line, number| {
        pending.push(line, number);
        if pending.len() >= BATCH { pending.flush(&c) } else { Ok(()) }
    })?;
    pending.flush(&c)?;
    progress.finish_and_clear();
    client.checkpoint().with_context(|| format!("checkpointing {}", args.data_dir.display()))?;
    println!(
        "imported {lines} records into '{}' ({} new, {} in all) in {}",
        args.collection,
        c.len() - before,
        c.len(),
        args.data_dir.display()
    );
    Ok(())
}

/// A line holds a vector or a text, its vector has the collection's dimension (the first
/// vector's, for a new collection), and its metadata is an object.
fn check(line: &Line, number: usize, dimension: &mut Option<usize>) -> Result<()> {
    match (&line.vector, &line.text) {
        (None, None) => bail!("line {number}: a record needs a vector or a text"),
        (Some(v), _) => {
            let expected = *dimension.get_or_insert(v.len());
            if v.len() != expected {
                bail!("line {number}: the vector has {} dimensions; the collection has {expected}", v.len());
            }
        }
        (None, Some(_)) => {}
    }
    if line.metadata.as_ref().is_some_and(|m| !m.is_object() && !m.is_null()) {
        bail!("line {number}: metadata must be a JSON object");
    }
    Ok(())
}

/// Creates the import's collection with the flags' metric and index.
fn create(client: &VectorLiteClient, args: &ImportArgs, dimension: usize) -> Result<Collection> {
    let config =
        CollectionConfig { metric: args.metric, index: args.index, ..CollectionConfig::new(dimension) };
    Ok(client.create_collection(&args.collection, config)?)
}

/// Writes every record of the collection as one JSON line, in id order.
pub fn export(args: ExportArgs) -> Result<()> {
    let client = open_database(&args.data_dir)?;
    let c = client.collection(&args.collection)?;
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    let ids = c.ids();
    let progress = bar(ids.len() as u64, "{bar:40} {pos}/{len} records {per_sec} eta {eta}");
    for id in ids {
        // A record deleted meanwhile is simply not exported.
        let Ok(record) = c.get(id) else { continue };
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
        progress.inc(1);
    }
    out.flush().context("writing the export")?;
    progress.finish_and_clear();
    Ok(())
}
