//! `vectorlite bench --durability`: acknowledged inserts per second under each sync policy with
//! 1 and 8 writer threads, and the time to recover a database from its write-ahead log alone.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use vectorlite::{CollectionConfig, DurabilityOptions, IndexType, SyncPolicy, VectorLiteClient};

/// Inserts per row at most: below the collection's buffer doubling at 2^19 rows of 384
/// floats, which would otherwise dominate the fastest rows.
const MAX_INSERTS: u64 = 400_000;

/// Options that never checkpoint, so the log holds everything written.
fn log_only(sync: SyncPolicy) -> DurabilityOptions {
    DurabilityOptions {
        sync,
        checkpoint_bytes: u64::MAX,
        checkpoint_records: u64::MAX,
        checkpoint_interval: None,
    }
}

/// Runs the insert rows and the recovery row under a scratch directory in `tmp`.
pub fn run(tmp: &Path, dim: usize, seconds: f64, recovery_records: u64) -> Result<()> {
    let policies = [
        ("in memory (no log)", None),
        ("never", Some(SyncPolicy::Never)),
        ("batch 2 ms", Some(SyncPolicy::default())),
        ("always", Some(SyncPolicy::Always)),
    ];
    println!(
        "Flat collection, {dim} dimensions, one record per insert, {seconds} s or {MAX_INSERTS} inserts per row.\n"
    );
    println!("| sync | writers | inserts/s | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|---:|");
    for (label, sync) in policies {
        for writers in [1u64, 8] {
            let dir = tmp.join(format!("insert-{writers}"));
            let _ = std::fs::remove_dir_all(&dir);
            let db = match sync {
                Some(sync) => VectorLiteClient::open(&dir, log_only(sync))?,
                None => VectorLiteClient::new(),
            };
            let c = db.create_collection("bench", CollectionConfig::new(dim).with_index(IndexType::Flat))?;
            let started = Instant::now();
            let deadline = started + Duration::from_secs_f64(seconds);
            let done = std::sync::atomic::AtomicU64::new(0);
            let per_writer: Vec<Result<Vec<f64>>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..writers)
                    .map(|t| {
                        let (c, done) = (&c, &done);
                        s.spawn(move || {
                            let vector: Vec<f32> = (0..dim).map(|j| (j as f32 + t as f32).sin()).collect();
                            let mut latencies = Vec::new();
                            for i in 0u64.. {
                                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if n >= MAX_INSERTS || Instant::now() >= deadline {
                                    break;
                                }
                                let start = Instant::now();
                                c.insert(t << 40 | i, &vector, None, None)?;
                                latencies.push(start.elapsed().as_secs_f64() * 1e6);
                            }
                            Ok(latencies)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new()))).collect()
            });
            let mut latencies: Vec<f64> = Vec::new();
            for l in per_writer {
                latencies.extend(l?);
            }
            latencies.sort_by(f64::total_cmp);
            let pct = |p: f64| {
                latencies.get(((latencies.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or(0.0)
            };
            let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
            println!("| {label} | {writers} | {rate:.0} | {:.0} | {:.0} |", pct(0.5), pct(0.99));
            drop(db);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    // Recovery: a log of single-record inserts and nothing else, replayed by `open`.
    let dir = tmp.join("recovery");
    let _ = std::fs::remove_dir_all(&dir);
    {
        let db = VectorLiteClient::open(&dir, log_only(SyncPolicy::Never))?;
        let c = db.create_collection("bench", CollectionConfig::new(dim).with_index(IndexType::Flat))?;
        let writers = 8u64;
        std::thread::scope(|s| -> Result<()> {
            let handles: Vec<_> = (0..writers)
                .map(|t| {
                    let c = &c;
                    s.spawn(move || -> Result<()> {
                        let vector: Vec<f32> = (0..dim).map(|j| (j as f32 - t as f32).cos()).collect();
                        for i in (t..recovery_records).step_by(writers as usize) {
                            c.insert(i, &vector, None, None)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().unwrap_or(Ok(())))
        })?;
    }
    let log_bytes: u64 = std::fs::read_dir(dir.join("wal"))?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let start = Instant::now();
    let db = VectorLiteClient::open(&dir, DurabilityOptions::default())?;
    let seconds = start.elapsed().as_secs_f64();
    let n = db.collection("bench")?.len();
    println!(
        "\nrecovery: {n} records ({:.0} MB of log) replayed in {seconds:.2} s = {:.0} records/s",
        log_bytes as f64 / 1e6,
        n as f64 / seconds
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
