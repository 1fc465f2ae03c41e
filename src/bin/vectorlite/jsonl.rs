//! `vectorlite import` and `export`: a collection of a database directory as JSON lines, one
//! record per line: `{"id", "vector", "text", "metadata"}`. On import `id` is optional (given
//! ids are upserted, so a re-run is idempotent; missing ones are assigned) and a line with `text`
//! but no `vector` is embedded with the built-in model. Import is all or nothing: the directory
//! is saved only after every line went in.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;
use vectorlite::{
    Collection, CollectionConfig, HnswParams, IndexType, LoadOptions, NewRecord, Record, SaveOptions,
    SimilarityMetric, VectorLiteClient,
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
    /// The database directory (read if present, saved after the import).
    #[arg(long, env = "VECTORLITE_DATA_DIR", default_value = "./vectorlite-data")]
    data_dir: PathBuf,
    /// Dimension of a new collection (default: the first vector's, or the model's).
    #[arg(long)]
    dimension: Option<usize>,
    /// Metric of a new collection: cosine, euclidean, dot or manhattan.
    #[arg(long, default_value = "cosine")]
    metric: String,
    /// Index of a new collection: hnsw or flat.
    #[arg(long, default_value = "hnsw")]
    index: String,
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

    /// Queues one line; a vector of the wrong dimension is named by its line here, since the
    /// library can only name the batch.
    fn push(&mut self, line: Line, number: usize, dimension: usize) -> Result<()> {
        let Line { id, vector, text, metadata } = line;
        if let Some(v) = &vector
            && v.len() != dimension
        {
            bail!("line {number}: the vector has {} dimensions; the collection has {dimension}", v.len());
        }
        match (id, vector, text) {
            (Some(id), Some(vector), text) => self.records.push(Record { id, vector, text, metadata }),
            (None, Some(vector), text) => self.new_records.push(NewRecord { vector, text, metadata }),
            (Some(id), None, Some(text)) => self.texts.push((id, text, metadata)),
            (None, None, Some(text)) => self.new_texts.push((text, metadata)),
            (_, None, None) => bail!("line {number}: a record needs a vector or a text"),
        }
        self.lines = Some((self.lines.map_or(number, |(first, _)| first), number));
        Ok(())
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

/// Opens the database in `dir`, or an empty one if nothing was saved there yet.
fn open_database(dir: &Path) -> Result<VectorLiteClient> {
    if dir.join("manifest.json").exists() {
        VectorLiteClient::load_from_directory(dir, &LoadOptions::default())
            .with_context(|| format!("loading {}", dir.display()))
    } else {
        Ok(VectorLiteClient::new())
    }
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style)
}

/// Reads `args.file` into the collection and saves the directory.
pub fn import(args: ImportArgs) -> Result<()> {
    let client = open_database(&args.data_dir)?;
    let file = File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let progress = bar(
        file.metadata().map(|m| m.len()).unwrap_or(0),
        "{bar:40} {binary_bytes}/{binary_total_bytes} {per_sec} eta {eta} {msg}",
    );
    let reader = BufReader::new(progress.wrap_read(file));
    let mut collection = client.collection(&args.collection).ok();
    let before = collection.as_ref().map_or(0, Collection::len);
    let mut pending = Pending::default();
    for (i, line) in reader.lines().enumerate() {
        let number = i + 1;
        let line = line.with_context(|| format!("reading line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&line)
            .with_context(|| format!("line {number} is not a record {{id, vector, text, metadata}}"))?;
        if line.vector.is_none() && client.embedder().is_none() {
            client.set_embedder(Some(crate::load_model(args.model_dir.as_deref())?));
        }
        let c = match &collection {
            Some(c) => c,
            None => collection.insert(create(&client, &args, &line)?),
        };
        pending.push(line, number, c.config().dimension)?;
        if pending.len() >= BATCH {
            pending.flush(c)?;
        }
    }
    let Some(c) = collection else { bail!("{} has no records", args.file.display()) };
    pending.flush(&c)?;
    progress.finish_and_clear();
    client
        .save_to_directory(&args.data_dir, &SaveOptions::default())
        .with_context(|| format!("saving {}", args.data_dir.display()))?;
    println!(
        "imported {} records into '{}' ({} in all), saved to {}",
        c.len() - before,
        args.collection,
        c.len(),
        args.data_dir.display()
    );
    Ok(())
}

/// Creates the import's collection, sized by the flags, the first line or the model.
fn create(client: &VectorLiteClient, args: &ImportArgs, first: &Line) -> Result<Collection> {
    let metric: SimilarityMetric = serde_json::from_value(Value::String(args.metric.clone()))
        .with_context(|| format!("--metric '{}': use cosine, euclidean, dot or manhattan", args.metric))?;
    let index = match args.index.to_ascii_lowercase().as_str() {
        "hnsw" => IndexType::HNSW(HnswParams::default()),
        "flat" => IndexType::Flat,
        other => bail!("--index '{other}': use hnsw or flat"),
    };
    let dimension = match (args.dimension, &first.vector, client.embedder()) {
        (Some(d), _, _) => d,
        (None, Some(v), _) => v.len(),
        (None, None, Some(model)) => model.dimension()?,
        (None, None, None) => bail!("give --dimension"),
    };
    let config = CollectionConfig { dimension, metric, index };
    Ok(client.create_collection(&args.collection, config)?)
}

/// Writes every record of the collection as one JSON line, in id order.
pub fn export(args: ExportArgs) -> Result<()> {
    let client = VectorLiteClient::load_from_directory(&args.data_dir, &LoadOptions::default())
        .with_context(|| format!("loading {}", args.data_dir.display()))?;
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
