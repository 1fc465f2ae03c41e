//! `vectorlite bench`: recall, queries per second, build speed and memory of vectorlite's Flat
//! and HNSW collections on the seeded "clustered-384" recipe (shared/bench/README.md) or on
//! external raw files, measured through the full public API. Prints a table, or JSON lines.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use serde_json::json;
use vectorlite::dataset::{Recipe, Vectors, clustered, read_f32, read_i32, recall_at_k};
use vectorlite::{
    Collection, CollectionConfig, Filter, HnswParams, IndexType, ListOptions, LoadOptions, NewRecord,
    SearchOptions, SimilarityMetric, VectorStorage,
};

/// Benchmarks vectorlite's indexes. Defaults follow the reference recipe.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Base vectors to generate.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Queries to generate.
    #[arg(long = "n-queries", default_value_t = 1_000)]
    n_queries: usize,
    /// Dimension (also of external files).
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Cluster centres.
    #[arg(long, default_value_t = 1_000)]
    clusters: usize,
    /// Noise standard deviation per coordinate.
    #[arg(long, default_value_t = 0.10)]
    sigma: f32,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// HNSW M.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW ef_construction.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// HNSW ef values to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,48,64,128,256")]
    ef: Vec<usize>,
    /// External base vectors (raw little-endian f32, row-major).
    #[arg(long, requires_all = ["queries", "gt"])]
    base: Option<PathBuf>,
    /// External query vectors (raw little-endian f32).
    #[arg(long)]
    queries: Option<PathBuf>,
    /// External ground truth (raw little-endian i32, `gt_k` per query).
    #[arg(long)]
    gt: Option<PathBuf>,
    /// Neighbours per query in the ground-truth file.
    #[arg(long, default_value_t = 100)]
    gt_k: usize,
    /// How the measured collections keep vectors: f32, f16 or int8 (ground truth always comes
    /// from exact f32 search).
    #[arg(long, default_value = "f32")]
    storage: VectorStorage,
    /// With --storage int8: keep no f32 copy, so no rescoring.
    #[arg(long)]
    no_rescore: bool,
    /// Keep the f32 rows (of f32, or int8 with rescoring) in a memory-mapped file.
    #[arg(long)]
    on_disk: bool,
    /// Skip the Flat rows (ground truth is then required from --gt).
    #[arg(long)]
    skip_flat: bool,
    /// Skip the filtered-search rows.
    #[arg(long)]
    skip_filtered: bool,
    /// Threads for building the HNSW graph (default: all cores).
    #[arg(long)]
    build_threads: Option<usize>,
    /// Write the data and exact top-100 ground truth to DIR in the shared exchange format
    /// (meta.json, base.f32, queries.f32, gt.i32), then exit.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Measure the HNSW rows on this saved collection (a .vlc file) instead of building one,
    /// so another front end (the Python benchmark) and this one search the very same graph.
    #[arg(long, value_name = "FILE")]
    collection: Option<PathBuf>,
    /// Skip the save/load throughput rows.
    #[arg(long)]
    skip_persist: bool,
    /// Skip the record-operation rows (count, delete by filter, list).
    #[arg(long)]
    skip_records: bool,
    /// Measure the built-in embedding model instead (needs scripts/fetch-model.sh).
    #[arg(long)]
    embed: bool,
    /// Model directory for --embed (default: $VECTORLITE_MODEL_DIR or ./models/all-MiniLM-L6-v2).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// Measure the write-ahead log instead: inserts/s per sync policy and recovery time.
    #[arg(long)]
    durability: bool,
    /// Records in the log that --durability recovers.
    #[arg(long, default_value_t = 1_000_000)]
    recovery_records: u64,
    /// Seconds each --durability insert row runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Measure retrieval instead: recall@5 of vector, keyword and hybrid search on generated
    /// agent notes (needs the model), then keyword speed and index memory at 100k texts.
    #[arg(long)]
    retrieval: bool,
    /// Notes in the --retrieval quality set.
    #[arg(long, default_value_t = 3_000)]
    retrieval_notes: usize,
}

/// One measured configuration.
#[derive(Serialize, Default)]
struct Row {
    engine: String,
    ef: Option<usize>,
    filter: Option<String>,
    recall10: f64,
    qps_1t: f64,
    p50_us: f64,
    p99_us: f64,
    qps_2t: f64,
    build_s: f64,
    build_vps: f64,
    bytes_per_vector: f64,
}

/// Runs the benchmark `args` asks for and prints its table.
pub fn run(args: Args) -> Result<()> {
    ensure!(args.k >= 1 && args.k <= 10, "--k must be 1..=10 (recall@10 is reported)");
    if args.embed {
        return embed_bench(&args);
    }
    if args.retrieval {
        let tmp = std::env::temp_dir().join(format!("vectorlite-bench-retrieval-{}", std::process::id()));
        let model = crate::load_model(args.model_dir.as_deref())?;
        let result = crate::bench_retrieval::run(model, args.retrieval_notes, &tmp);
        let _ = std::fs::remove_dir_all(&tmp);
        return result;
    }
    if args.durability {
        let tmp = std::env::temp_dir().join(format!("vectorlite-bench-wal-{}", std::process::id()));
        let result = crate::bench_durability::run(&tmp, args.dim, args.seconds, args.recovery_records);
        let _ = std::fs::remove_dir_all(&tmp);
        return result;
    }
    let (base, queries, external_gt) = load_data(&args)?;
    let n = base.len();
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    eprintln!(
        "data: {n} x {} base, {} queries; kernels: {}; threads: {}",
        base.dim,
        qs.len(),
        vectorlite::simd_level(),
        rayon::current_num_threads()
    );
    if let Some(dir) = &args.export {
        return export(dir, &args, &base, &queries);
    }
    let mut rows = Vec::new();
    let mut print = |row: Row, args: &Args| {
        if args.json {
            println!("{}", serde_json::to_string(&row).unwrap_or_default());
        } else {
            print_row(&row);
        }
        rows.push(row);
    };
    if !args.json {
        println!(
            "| engine | ef | filter | recall@10 | QPS 1T | p50 µs | p99 µs | QPS 2T batch | build s | build vec/s | bytes/vec |"
        );
        println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    }

    let mut truth: Option<GroundTruth> = external_gt;
    let mut flat_collection = None;
    let storage = (args.storage, !args.no_rescore, args.on_disk);
    let engine = |index: &str| {
        let kept = match storage {
            (VectorStorage::F32, ..) => index.to_owned(),
            (VectorStorage::Int8, false, _) => format!("{index} int8, no rescore"),
            (s, ..) => format!("{index} {s}"),
        };
        if args.on_disk { format!("{kept}, f32 rows on disk") } else { kept }
    };
    if !args.skip_flat || !args.skip_filtered || truth.is_none() {
        // The exact answers always come from f32 vectors.
        let (flat, build_s) = build(&base, IndexType::Flat, F32)?;
        let exact_truth = ids(&flat.search_batch(&qs, &SearchOptions::new(10))?);
        let truth_ref = truth.get_or_insert(exact_truth);
        if !args.skip_flat {
            let compressed = match storage {
                F32 => None,
                _ => Some(build(&base, IndexType::Flat, storage)?),
            };
            let (flat, build_s) = compressed.as_ref().map_or((&flat, build_s), |(c, s)| (c, *s));
            let mut row = measure(flat, &qs, &[SearchOptions::new(args.k)], truth_ref, qs.len().min(200))?;
            row.engine = engine("flat");
            row.build_s = build_s;
            row.build_vps = n as f64 / build_s;
            row.bytes_per_vector = flat.info().memory_bytes as f64 / n as f64;
            let gbps = row.qps_1t * (n * base.dim * 4) as f64 / 1e9;
            eprintln!("flat scan: {gbps:.1} GB/s on one thread");
            print(row, &args);
        }
        flat_collection = Some(flat);
    }
    let truth = truth.context("no ground truth")?;

    let params = HnswParams { m: args.m, ef_construction: args.ef_construction, ef_search: 64 };
    let (hnsw, build_s) = match &args.collection {
        Some(file) => (Collection::load_from_file(file, &LoadOptions::default())?, 0.0),
        None => {
            vectorlite::set_max_threads(args.build_threads);
            let built = build(&base, IndexType::HNSW(params), storage)?;
            vectorlite::set_max_threads(None);
            built
        }
    };
    let bytes_per_vector = hnsw.info().memory_bytes as f64 / n as f64;
    let repeats: usize = std::env::var("VL_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    for _ in 0..repeats {
        for &ef in &args.ef {
            let mut row = measure(&hnsw, &qs, &[SearchOptions::new(args.k).with_ef(ef)], &truth, qs.len())?;
            row.engine = engine("hnsw");
            row.ef = Some(ef);
            if build_s > 0.0 {
                row.build_s = build_s;
                row.build_vps = n as f64 / build_s;
            }
            row.bytes_per_vector = bytes_per_vector;
            print(row, &args);
        }
    }

    if !args.skip_persist {
        persist_rows(&hnsw, args.json)?;
    }

    if let (false, Some(flat)) = (args.skip_filtered, &flat_collection) {
        // Query i runs with the (i mod count)-th filter of its row. The last row cycles
        // through all 100 one-percent buckets: more distinct filters than the store keeps
        // matched rows for, so every query turns its filter into rows afresh (the other rows
        // show the cost of a repeated filter, whose rows are kept until the next write).
        let filters: [(&str, Vec<serde_json::Value>); 4] = [
            ("10%", vec![json!({"bucket": {"$lt": 10}})]),
            ("1%", vec![json!({"bucket": 0})]),
            ("10% correlated", vec![json!({"corner": 1})]),
            ("1%, a new filter each query", (0..100).map(|b| json!({"bucket": b})).collect()),
        ];
        for (filter_label, filters) in filters {
            let opts: Vec<SearchOptions> = filters
                .iter()
                .map(|f| Ok(SearchOptions::new(args.k).with_filter(Filter::parse(f)?)))
                .collect::<Result<_>>()?;
            let pairs: Vec<(&[f32], &SearchOptions)> =
                qs.iter().enumerate().map(|(i, q)| (&q[..], &opts[i % opts.len()])).collect();
            let filtered_truth = ids(&flat.search_each(&pairs)?);
            for &ef in &args.ef {
                let with_ef: Vec<SearchOptions> = opts.iter().map(|o| o.clone().with_ef(ef)).collect();
                let mut row = measure(&hnsw, &qs, &with_ef, &filtered_truth, qs.len())?;
                row.engine = engine("hnsw");
                row.ef = Some(ef);
                row.filter = Some(filter_label.into());
                row.bytes_per_vector = bytes_per_vector;
                print(row, &args);
            }
        }
    }
    if !args.skip_records {
        record_rows(&base, args.json)?;
    }
    if rows.is_empty() {
        bail!("nothing measured");
    }
    Ok(())
}

/// Count and delete by filter at 10% and 1% of the records, and listing every record a page
/// at a time, on a Flat collection of the base vectors with `{"bucket": row % 100}` metadata.
fn record_rows(base: &Vectors, json_out: bool) -> Result<()> {
    #[derive(Serialize)]
    struct RecordRow {
        operation: String,
        filter: &'static str,
        matched: usize,
        ms: f64,
        records_per_s: f64,
    }
    let print = |r: RecordRow| {
        if json_out {
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        } else {
            println!(
                "| {} | {} | {} | {:.2} | {:.0} |",
                r.operation, r.filter, r.matched, r.ms, r.records_per_s
            );
        }
    };
    if !json_out {
        println!("\n| operation | filter | matched | ms | records/s |\n|---|---|---:|---:|---:|");
    }
    let n = base.rows().count();
    let filters = [("10%", json!({"bucket": {"$lt": 10}})), ("1%", json!({"bucket": 0}))];
    let (c, _) = build(base, IndexType::Flat, F32)?;
    for (label, f) in &filters {
        let filter = Filter::parse(f)?;
        c.count(Some(&filter)); // builds the filter's column once
        let reps = 20;
        let start = Instant::now();
        let mut matched = 0;
        for _ in 0..reps {
            matched = std::hint::black_box(c.count(Some(&filter)));
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / f64::from(reps);
        print(RecordRow {
            operation: "count".into(),
            filter: label,
            matched,
            ms,
            records_per_s: n as f64 / ms * 1e3,
        });
    }
    for (label, f) in &filters {
        let filter = Filter::parse(f)?;
        let (fresh, _) = build(base, IndexType::Flat, F32)?;
        fresh.count(Some(&filter));
        let start = Instant::now();
        let matched = fresh.delete_where(&filter)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        print(RecordRow {
            operation: "delete by filter".into(),
            filter: label,
            matched,
            ms,
            records_per_s: matched as f64 / ms * 1e3,
        });
    }
    for (label, filter) in [("–", None), ("10%", Some(Filter::parse(&filters[0].1)?))] {
        let start = Instant::now();
        let (mut listed, mut after) = (0, None);
        loop {
            let options = ListOptions {
                filter: filter.clone(),
                limit: 1_000,
                after_id: after,
                ..ListOptions::default()
            };
            let page = c.list(&options)?;
            listed += page.records.len();
            match page.next_after_id {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let ms = start.elapsed().as_secs_f64() * 1e3;
        print(RecordRow {
            operation: "list, pages of 1,000".into(),
            filter: label,
            matched: listed,
            ms,
            records_per_s: listed as f64 / ms * 1e3,
        });
    }
    Ok(())
}

/// Per query, the ids of its nearest neighbours, best first.
type GroundTruth = Vec<Vec<u64>>;

fn load_data(args: &Args) -> Result<(Vectors, Vectors, Option<GroundTruth>)> {
    if let (Some(b), Some(q), Some(g)) = (&args.base, &args.queries, &args.gt) {
        let base = read_f32(b, args.dim)?;
        let queries = read_f32(q, args.dim)?;
        let gt = read_i32(g, args.gt_k)?;
        ensure!(gt.len() == queries.len(), "{} ground-truth rows for {} queries", gt.len(), queries.len());
        let gt = gt.into_iter().map(|row| row.into_iter().map(|i| i as u64).collect()).collect();
        return Ok((base, queries, Some(gt)));
    }
    let recipe = Recipe {
        n_base: args.n,
        n_queries: args.n_queries,
        dim: args.dim,
        clusters: args.clusters,
        sigma: args.sigma,
        seed: args.seed,
    };
    let (base, queries) = clustered(&recipe);
    Ok((base, queries, None))
}

/// A cosine collection holding `base` with ids = row numbers and metadata
/// `{"bucket": row % 100, "corner": 0 | 1}`: `bucket` is unrelated to where a vector lies,
/// `corner` is 1 for the 10% of vectors with the largest first coordinate (a filter that
/// follows the data: near some queries, far from most).
/// Full-precision storage in RAM, for exact answers (storage, rescore, on disk).
const F32: (VectorStorage, bool, bool) = (VectorStorage::F32, true, false);

fn build(
    base: &Vectors,
    index: IndexType,
    (storage, rescore, on_disk): (VectorStorage, bool, bool),
) -> Result<(Collection, f64)> {
    let config = CollectionConfig::new(base.dim)
        .with_metric(SimilarityMetric::Cosine)
        .with_index(index)
        .with_storage(storage, rescore)
        .with_rows_on_disk(on_disk);
    let c = Collection::new("bench", config)?;
    let mut firsts: Vec<f32> = base.rows().map(|v| v[0]).collect();
    firsts.sort_by(f32::total_cmp);
    let cut = firsts.get(firsts.len() * 9 / 10).copied().unwrap_or(f32::INFINITY);
    let records: Vec<NewRecord> = base
        .rows()
        .enumerate()
        .map(|(i, v)| {
            NewRecord::new(v.to_vec())
                .with_metadata(json!({"bucket": i % 100, "corner": u8::from(v[0] >= cut)}))
        })
        .collect();
    let start = Instant::now();
    c.add_batch(records)?;
    Ok((c, start.elapsed().as_secs_f64()))
}

/// Recall on every query, latency one query at a time on `single` queries, and batch
/// throughput over rayon's pool.
fn measure(
    c: &Collection,
    qs: &[Vec<f32>],
    opts: &[SearchOptions],
    truth: &[Vec<u64>],
    single: usize,
) -> Result<Row> {
    // Query i runs with opts[i % opts.len()]: one set of options, or one per query.
    let opts_of = |i: usize| &opts[i % opts.len()];
    // Warm-up: touch the data once so the first timed queries do not pay page faults.
    for (i, q) in qs.iter().enumerate().take(20) {
        c.search(q, opts_of(i))?;
    }
    let mut latencies = Vec::with_capacity(single);
    // "1T" means one thread: an exact (filtered) scan may not split across cores here.
    vectorlite::set_max_threads(Some(1));
    let start = Instant::now();
    for (i, q) in qs[..single].iter().enumerate() {
        let t = Instant::now();
        let answered = c.search(q, opts_of(i));
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        if let Err(e) = answered {
            vectorlite::set_max_threads(None);
            return Err(e.into());
        }
    }
    let qps_1t = single as f64 / start.elapsed().as_secs_f64();
    vectorlite::set_max_threads(None);
    let (p50_us, p99_us) = (pct(&mut latencies, 0.5), pct(&mut latencies, 0.99));

    let pairs: Vec<(&[f32], &SearchOptions)> =
        qs.iter().enumerate().map(|(i, q)| (&q[..], opts_of(i))).collect();
    let start = Instant::now();
    let hits = c.search_each(&pairs)?;
    let qps_2t = qs.len() as f64 / start.elapsed().as_secs_f64();
    Ok(Row {
        recall10: recall_at_k(&ids(&hits), truth, 10.min(opts[0].k)),
        qps_1t,
        p50_us,
        p99_us,
        qps_2t,
        ..Row::default()
    })
}

/// One save or load measurement.
#[derive(Serialize)]
struct PersistRow {
    engine: &'static str,
    compression: &'static str,
    seconds: f64,
    file_mb: f64,
    raw_mb_s: f64,
    records_s: f64,
    peak_extra_mb: f64,
}

/// Resident memory of this process in bytes (Linux), for the peak-extra-memory column.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Runs `f` while a thread samples RSS; returns f's result and the peak growth in bytes.
fn with_peak_rss<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let base = rss_bytes();
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = base;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        });
        let out = f();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = sampler.join().unwrap_or(base);
        (out, peak.saturating_sub(base))
    })
}

/// The median time of three runs of `f`, in seconds.
fn median_of_3(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut secs = Vec::with_capacity(3);
    for _ in 0..3 {
        let start = Instant::now();
        f()?;
        secs.push(start.elapsed().as_secs_f64());
    }
    Ok(pct(&mut secs, 0.5))
}

/// Save and load throughput of `c` with each compression, beside a plain file copy.
fn persist_rows(c: &Collection, json_out: bool) -> Result<()> {
    use vectorlite::{Compression, SaveOptions};
    let dir = std::env::temp_dir().join(format!("vectorlite-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let n = c.len() as f64;
    let raw_mb = (c.len() * (c.config().dimension * 4 + 8 + 1)) as f64 / 1e6;
    let mut rows = Vec::new();
    for (label, compression) in
        [("none", Compression::None), ("zstd-3", Compression::Zstd(3)), ("gzip", Compression::Gzip)]
    {
        let path = dir.join(format!("{label}.vlc"));
        let opts = SaveOptions { compression, ..SaveOptions::default() };
        let start = Instant::now();
        let (saved, peak) = with_peak_rss(|| c.save_to_file(&path, &opts));
        saved?;
        let secs = start.elapsed().as_secs_f64();
        let file_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
        rows.push(PersistRow {
            engine: "save",
            compression: label,
            seconds: secs,
            file_mb,
            raw_mb_s: raw_mb / secs,
            records_s: n / secs,
            peak_extra_mb: peak as f64 / 1e6,
        });
        // The median of three: one load on this machine can take 2-5x the others (the kernel
        // finding fresh pages right after a save), which says nothing about the code.
        let secs = median_of_3(|| {
            let loaded = Collection::load_from_file(&path, &LoadOptions::default())?;
            ensure!(loaded.len() == c.len(), "loaded {} of {} records", loaded.len(), c.len());
            Ok(())
        })?;
        rows.push(PersistRow {
            engine: "load",
            compression: label,
            seconds: secs,
            file_mb,
            raw_mb_s: raw_mb / secs,
            records_s: n / secs,
            peak_extra_mb: 0.0,
        });
    }
    // The floor: copying the uncompressed file's bytes, with an fsync like a save does
    // (the median of three, like the loads).
    let src = dir.join("none.vlc");
    let secs = median_of_3(|| {
        std::fs::copy(&src, dir.join("copy.bin"))?;
        std::fs::File::open(dir.join("copy.bin"))?.sync_all()?;
        Ok(())
    })?;
    let file_mb = std::fs::metadata(&src)?.len() as f64 / 1e6;
    rows.push(PersistRow {
        engine: "plain copy",
        compression: "none",
        seconds: secs,
        file_mb,
        raw_mb_s: file_mb / secs,
        records_s: n / secs,
        peak_extra_mb: 0.0,
    });
    let _ = std::fs::remove_dir_all(&dir);
    if json_out {
        for r in &rows {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
    } else {
        println!();
        println!("| operation | compression | seconds | file MB | MB/s (raw) | records/s | peak extra MB |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {} | {:.2} | {:.1} | {:.0} | {:.0} | {:.1} |",
                r.engine, r.compression, r.seconds, r.file_mb, r.raw_mb_s, r.records_s, r.peak_extra_mb
            );
        }
        println!();
    }
    Ok(())
}

/// Sentences per second and latency of the built-in embedder, one at a time and in batches,
/// and the latency of embedding a question and searching `--n` memories with it.
#[cfg(feature = "embed")]
fn embed_bench(args: &Args) -> Result<()> {
    use vectorlite::EmbeddingFunction;
    let model = vectorlite::MiniLmEmbedder::discover(args.model_dir.as_deref())?;
    // Short agent-style sentences, varied so nothing is cached.
    let subjects = [
        "The user",
        "My manager",
        "The agent",
        "Our customer",
        "The service",
        "A teammate",
        "The report",
        "This task",
    ];
    let verbs = ["prefers", "asked about", "forgot", "scheduled", "reviewed", "rejected", "shared", "needs"];
    let objects = [
        "the quarterly budget",
        "green tea",
        "a password reset",
        "the Oslo trip",
        "the API limits",
        "tomorrow's meeting",
        "the vector index",
        "a refund",
    ];
    let sentences: Vec<String> = (0..512)
        .map(|i| format!("{} {} {} #{i}.", subjects[i % 8], verbs[(i / 8) % 8], objects[(i / 64) % 8]))
        .collect();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    model.embed_batch(&refs[..32])?; // warm-up
    let mut latencies = Vec::new();
    let start = Instant::now();
    for s in &refs[..200] {
        let t = Instant::now();
        std::hint::black_box(model.embed(s)?);
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let single = 200.0 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for chunk in refs.chunks(32) {
        std::hint::black_box(model.embed_batch(chunk)?);
    }
    let batched = refs.len() as f64 / start.elapsed().as_secs_f64();
    let (p50, p99) = (pct(&mut latencies, 0.5), pct(&mut latencies, 0.99));

    // An agent's turn: embed a question, then search `--n` memories (HNSW ef 64, cosine; generated
    // vectors, as embedding 100k texts first would take minutes and searching costs the same).
    let (base, _, _) = load_data(args)?;
    ensure!(base.dim == model.dimension()?, "--dim must be the model's ({})", model.dimension()?);
    let params = HnswParams { m: args.m, ef_construction: args.ef_construction, ef_search: 64 };
    let (memories, build_s) = build(&base, IndexType::HNSW(params), F32)?;
    let opts = SearchOptions::new(10);
    let (mut round_trips, mut search_only) = (Vec::new(), Vec::new());
    for s in &refs[200..400] {
        let t = Instant::now();
        let question = model.embed(s)?;
        let embedded = t.elapsed();
        std::hint::black_box(memories.search(&question, &opts)?);
        round_trips.push(t.elapsed().as_secs_f64() * 1e3);
        search_only.push((t.elapsed() - embedded).as_secs_f64() * 1e3);
    }
    let (trip50, trip99) = (pct(&mut round_trips, 0.5), pct(&mut round_trips, 0.99));
    let (search50, search99) = (pct(&mut search_only, 0.5), pct(&mut search_only, 0.99));
    let n = base.len();
    let row = json!({"engine": "minilm", "single_per_s": single, "batch32_per_s": batched, "p50_ms": p50,
        "p99_ms": p99, "embed_search_n": n, "embed_search_p50_ms": trip50, "embed_search_p99_ms": trip99,
        "search_after_embed_p50_ms": search50, "search_after_embed_p99_ms": search99});
    if args.json {
        println!("{row}");
    } else {
        println!(
            "| model | sentences/s one at a time | sentences/s batches of 32 | p50 ms (one short sentence) | p99 ms | embed + search {n}: p50 ms | p99 ms |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        println!(
            "| all-MiniLM-L6-v2 | {single:.0} | {batched:.0} | {p50:.1} | {p99:.1} | {trip50:.2} | {trip99:.2} |"
        );
        println!(
            "\n(the {n} memories were built in {build_s:.1} s; their search alone, right after an embedding: \
             p50 {search50:.2} ms, p99 {search99:.2} ms)"
        );
    }
    Ok(())
}

/// The `p` quantile of `values` (sorted in place).
fn pct(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

#[cfg(not(feature = "embed"))]
fn embed_bench(_args: &Args) -> Result<()> {
    bail!("this build has no embedding model: build with the `embed` feature")
}

/// Writes the exchange format of shared/bench/README.md.
fn export(dir: &std::path::Path, args: &Args, base: &Vectors, queries: &Vectors) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let gt_k = 100.min(base.len());
    let (flat, _) = build(base, IndexType::Flat, F32)?;
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    let gt = ids(&flat.search_batch(&qs, &SearchOptions::new(gt_k))?);
    let f32_bytes = |v: &Vectors| v.data.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(dir.join("base.f32"), f32_bytes(base))?;
    std::fs::write(dir.join("queries.f32"), f32_bytes(queries))?;
    let gt_bytes: Vec<u8> = gt.iter().flatten().flat_map(|&i| (i as i32).to_le_bytes()).collect();
    std::fs::write(dir.join("gt.i32"), gt_bytes)?;
    let meta = json!({
        "dim": base.dim, "n_base": base.len(), "n_queries": queries.len(), "gt_k": gt_k, "metric": "cosine",
        "recipe": format!("clustered: {} clusters, sigma {}, seed {}", args.clusters, args.sigma, args.seed),
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_string_pretty(&meta)?)?;
    eprintln!("wrote {}", dir.display());
    Ok(())
}

fn ids(hits: &[Vec<vectorlite::SearchResult>]) -> GroundTruth {
    hits.iter().map(|h| h.iter().map(|r| r.id).collect()).collect()
}

fn print_row(r: &Row) {
    let opt = |v: f64| if v > 0.0 { format!("{v:.0}") } else { "–".into() };
    println!(
        "| {} | {} | {} | {:.3} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {:.0} |",
        r.engine,
        r.ef.map_or("–".into(), |e| e.to_string()),
        r.filter.as_deref().unwrap_or("–"),
        r.recall10,
        r.qps_1t,
        r.p50_us,
        r.p99_us,
        r.qps_2t,
        if r.build_s > 0.0 { format!("{:.1}", r.build_s) } else { "–".into() },
        opt(r.build_vps),
        r.bytes_per_vector,
    );
}
