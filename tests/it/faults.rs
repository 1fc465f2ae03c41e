//! Fault injection: failing writes, fsyncs and renames of the log and of snapshots (through
//! `vectorlite::fault`). An affected call must fail, never be acknowledged, and the database
//! must open afterwards with every acknowledged write.

use std::collections::BTreeSet;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vectorlite::fault::{Fault, FaultPlan, inject};
use vectorlite::{
    CollectionConfig, DurabilityOptions, IndexType, SaveOptions, SimilarityMetric, SyncPolicy,
    VectorLiteClient,
};

fn config() -> CollectionConfig {
    CollectionConfig::new(2).with_metric(SimilarityMetric::Euclidean).with_index(IndexType::Flat)
}

fn options() -> DurabilityOptions {
    DurabilityOptions { sync: SyncPolicy::Always, checkpoint_bytes: 4 << 10, ..DurabilityOptions::default() }
}

/// Every acknowledged id is in the database at `dir`, which must open.
fn assert_all_back(dir: &Path, acked: &BTreeSet<u64>, round: usize) {
    let db = VectorLiteClient::open(dir, options())
        .unwrap_or_else(|e| panic!("round {round}: does not open: {e}"));
    let c = db.collection("c").unwrap_or_else(|e| panic!("round {round}: {e}"));
    for &id in acked {
        assert!(c.contains(id), "round {round}: acknowledged record {id} lost");
    }
}

#[test]
fn random_io_failures_never_lose_an_acknowledged_write() {
    let seed = 31;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut rounds_with_failures, mut failed_calls) = (0, 0);
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = VectorLiteClient::open(dir.path(), options()).unwrap();
            db.create_collection("c", config()).unwrap();
        }
        let mut acked = BTreeSet::new();
        let fault = [Fault::Write, Fault::Sync, Fault::Rename][round % 3];
        // The log, the snapshot's files, or anything in the directory.
        let target = match rng.random_range(0..3) {
            0 => dir.path().join("wal"),
            1 => dir.path().join("collections"),
            _ => dir.path().to_path_buf(),
        };
        let mut failed_here = 0;
        {
            let db = VectorLiteClient::open(dir.path(), options()).unwrap();
            let c = db.collection("c").unwrap();
            let _armed = inject(FaultPlan {
                dir: target,
                fault,
                skip: rng.random_range(0..30),
                fail: rng.random_range(1..4),
            });
            for i in 0..120u64 {
                let outcome = if i % 25 == 24 {
                    db.checkpoint().map(|()| None)
                } else {
                    c.insert(i, &[i as f32, 1.0], None, None).map(|()| Some(i))
                };
                match outcome {
                    Ok(Some(id)) => {
                        acked.insert(id);
                    }
                    Ok(None) => {}
                    Err(_) => failed_here += 1,
                }
            }
        }
        if failed_here > 0 {
            rounds_with_failures += 1;
            failed_calls += failed_here;
        }
        assert_all_back(dir.path(), &acked, round);
    }
    eprintln!(
        "fault injection (seed {seed}): {rounds_with_failures} of 40 rounds had failed calls ({failed_calls} calls)"
    );
    assert!(rounds_with_failures >= 15, "the faults rarely fired: {rounds_with_failures} rounds");
}

#[test]
fn a_failed_checkpoint_loses_nothing_and_the_next_one_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let db = VectorLiteClient::open(dir.path(), DurabilityOptions::default()).unwrap();
    let c = db.create_collection("c", config()).unwrap();
    for i in 0..50u64 {
        c.insert(i, &[i as f32, 0.0], None, None).unwrap();
    }
    // The snapshot's files fail to write, sync or move into place; the log is fine.
    for (i, (fault, target)) in [
        (Fault::Write, dir.path().join("collections")),
        (Fault::Sync, dir.path().join("collections")),
        (Fault::Rename, dir.path().join("manifest.json")),
        // Starting the next log segment fails: writes go on in the current one.
        (Fault::Write, dir.path().join("wal")),
    ]
    .into_iter()
    .enumerate()
    {
        let armed = inject(FaultPlan { dir: target, fault, skip: 0, fail: usize::MAX });
        assert!(db.checkpoint().is_err(), "{fault:?}: the checkpoint reports the failure");
        drop(armed);
        c.insert(100 + i as u64, &[1.0, 0.0], None, None).unwrap();
    }
    // The log was not touched by the failed snapshots: writes go on.
    c.insert(50, &[50.0, 0.0], None, None).unwrap();
    db.checkpoint().unwrap();
    drop(db);
    let mut all: BTreeSet<u64> = (0..=50).collect();
    all.extend([100, 101, 102, 103]);
    assert_all_back(dir.path(), &all, 0);
}

#[test]
fn a_failed_save_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.vlc");
    let c = VectorLiteClient::new().create_collection("c", config()).unwrap();
    c.insert(1, &[1.0, 1.0], None, None).unwrap();
    c.save_to_file(&path, &SaveOptions::default()).unwrap();
    c.insert(2, &[2.0, 2.0], None, None).unwrap();
    for fault in [Fault::Write, Fault::Sync, Fault::Rename] {
        let _armed = inject(FaultPlan { dir: dir.path().to_path_buf(), fault, skip: 0, fail: 1 });
        assert!(c.save_to_file(&path, &SaveOptions::default()).is_err(), "{fault:?}");
    }
    let back = vectorlite::Collection::load_from_file(&path, &vectorlite::LoadOptions::default()).unwrap();
    assert_eq!(back.ids(), vec![1], "the old file, whole");
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left behind");
}

#[test]
fn a_failure_while_opening_is_an_error_and_the_next_open_works() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = VectorLiteClient::open(dir.path(), options()).unwrap();
        db.create_collection("c", config()).unwrap().insert(7, &[1.0, 2.0], None, None).unwrap();
    }
    for fault in [Fault::Write, Fault::Sync] {
        let _armed = inject(FaultPlan { dir: dir.path().join("wal"), fault, skip: 0, fail: 1 });
        assert!(
            VectorLiteClient::open(dir.path(), options()).is_err(),
            "{fault:?}: a new segment cannot start"
        );
    }
    assert_all_back(dir.path(), &[7].into_iter().collect(), 0);
}
