//! Compressed vector storage (`f16`, `int8` with and without rescoring): recall and scores
//! against exact f32 search, file round trips, compaction, memory, and refused input.

use vectorlite::dataset::recall_at_k;
use vectorlite::{
    Collection, CollectionConfig, Error, LoadOptions, NewRecord, SaveOptions, SearchOptions,
    SimilarityMetric, VectorLiteClient, VectorStorage,
};

use crate::common::{data, fill, flat, hnsw, id_scores, reference_score};

const STORAGES: [(VectorStorage, bool); 3] =
    [(VectorStorage::F16, true), (VectorStorage::Int8, true), (VectorStorage::Int8, false)];
const METRICS: [SimilarityMetric; 3] =
    [SimilarityMetric::Cosine, SimilarityMetric::Euclidean, SimilarityMetric::DotProduct];

fn ids(hits: &[Vec<vectorlite::SearchResult>]) -> Vec<Vec<u64>> {
    hits.iter().map(|h| h.iter().map(|r| r.id).collect()).collect()
}

fn collection(config: CollectionConfig) -> Collection {
    VectorLiteClient::new().create_collection("c", config).expect("valid config")
}

/// Each storage, metric and index against exact f32 search on the same data: recall@10, and
/// scores (exact when rescored, within the encoding's error otherwise).
#[test]
fn compressed_storage_keeps_recall_and_scores_close_to_f32() {
    let (n, dim) = (4_000, 32);
    let (base, queries) = data(n, 50, dim, 77);
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    let opts = SearchOptions::new(10);
    let mut checked = 0;
    for metric in METRICS {
        let exact = collection(flat(dim, metric));
        fill(&exact, &base);
        let truth = ids(&exact.search_batch(&qs, &opts).unwrap());
        for (storage, rescore) in STORAGES {
            for (index, config) in [("flat", flat(dim, metric)), ("hnsw", hnsw(dim, metric))] {
                let c = collection(config.with_storage(storage, rescore));
                fill(&c, &base);
                let got = c.search_batch(&qs, &opts).unwrap();
                let recall = recall_at_k(&ids(&got), &truth, 10);
                let want = match (storage, rescore, index) {
                    (VectorStorage::Int8, false, _) => 0.85,
                    (_, _, "flat") => 0.98,
                    _ => 0.93,
                };
                assert!(recall >= want, "{metric} {storage} rescore={rescore} {index}: recall {recall}");
                // Scores: exact with f32 rows kept, else within the encoding's error.
                let tolerance = match (storage, rescore) {
                    (VectorStorage::F16, _) => 2e-3,
                    (VectorStorage::Int8, true) => 1e-4,
                    _ => 5e-2,
                };
                for (q, hits) in qs.iter().zip(&got) {
                    for h in hits {
                        let want = reference_score(metric, q, base.row(h.id as usize));
                        let err = (h.score - want).abs() / want.abs().max(1.0);
                        assert!(
                            err <= tolerance,
                            "{metric} {storage} rescore={rescore}: {} vs {want}",
                            h.score
                        );
                        checked += 1;
                    }
                }
                assert_eq!(c.info().vector_storage, storage);
            }
        }
    }
    assert!(checked >= 3 * 3 * 2 * 50 * 10, "{checked}");
}

/// Saved and loaded, a compressed collection answers exactly as before (same ids and scores),
/// keeps its storage, and its vectors read back within the encoding's error; deletes and
/// compaction keep working on codes.
#[test]
fn compressed_collections_round_trip_through_files_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (3_000, 16);
    let (base, queries) = data(n, 20, dim, 5);
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    let opts = SearchOptions::new(10);
    for (storage, rescore) in STORAGES {
        let c = collection(hnsw(dim, SimilarityMetric::Euclidean).with_storage(storage, rescore));
        fill(&c, &base);
        for id in (0..n as u64).filter(|i| i % 5 < 2) {
            c.delete(id).unwrap();
        }
        let path = dir.path().join(format!("{storage}-{rescore}.vlc"));
        c.save_to_file(&path, &SaveOptions::default()).unwrap();
        let loaded = Collection::load_from_file(&path, &LoadOptions::default()).unwrap();
        let info = loaded.info();
        assert_eq!((info.vector_storage, info.rescore, info.count), (storage, rescore, n * 3 / 5));
        let before = c.search_batch(&qs, &opts).unwrap();
        let after = loaded.search_batch(&qs, &opts).unwrap();
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(id_scores(b), id_scores(a), "{storage} rescore={rescore}: a load changes no answer");
            assert!(b.iter().all(|r| r.id % 5 >= 2), "a deleted record was returned");
        }
        let step = if storage == VectorStorage::F16 { 1e-3 } else { 0.05 };
        for id in [2u64, 3, 2_999] {
            let v = loaded.get(id).unwrap().vector;
            let worst = v.iter().zip(base.row(id as usize)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let exact = storage == VectorStorage::Int8 && rescore;
            assert!(
                if exact { worst == 0.0 } else { worst <= step },
                "{storage} rescore={rescore}: off by {worst}"
            );
        }
        // Compaction rebuilds over the codes and keeps the answers' quality.
        loaded.compact();
        let compacted = loaded.search_batch(&qs, &opts).unwrap();
        assert!(recall_at_k(&ids(&compacted), &ids(&after), 10) >= 0.9, "{storage} rescore={rescore}");
    }
}

#[test]
fn f16_halves_the_memory_of_the_vectors() {
    let (n, dim) = (2_000, 384);
    let (base, _) = data(n, 1, dim, 3);
    let bytes = |storage, rescore| {
        let c = collection(flat(dim, SimilarityMetric::Cosine).with_storage(storage, rescore));
        c.add_batch(base.rows().map(|r| NewRecord::new(r.to_vec())).collect()).unwrap();
        c.info().memory_bytes as f64 / n as f64
    };
    let f32_bytes = bytes(VectorStorage::F32, true);
    let f16_bytes = bytes(VectorStorage::F16, true);
    let int8_bytes = bytes(VectorStorage::Int8, false);
    println!("bytes per record: f32 {f32_bytes:.0}, f16 {f16_bytes:.0}, int8 {int8_bytes:.0}");
    assert!(f16_bytes <= 0.55 * f32_bytes, "f16 {f16_bytes} vs f32 {f32_bytes}");
    assert!(int8_bytes <= 0.35 * f32_bytes, "int8 {int8_bytes} vs f32 {f32_bytes}");
}

#[test]
fn storage_refuses_what_it_cannot_hold() {
    let client = VectorLiteClient::new();
    let manhattan = CollectionConfig::new(4)
        .with_metric(SimilarityMetric::Manhattan)
        .with_storage(VectorStorage::Int8, true);
    let e = client.create_collection("m", manhattan).expect_err("int8 has no manhattan kernel");
    assert!(matches!(e, Error::InvalidParameter { name: "vector_storage", .. }), "{e}");
    let dot = client
        .create_collection("d", flat(2, SimilarityMetric::DotProduct).with_storage(VectorStorage::F16, true))
        .unwrap();
    let e = dot.add(&[1.0, 1e6], None, None).expect_err("beyond f16");
    assert!(matches!(e, Error::InvalidParameter { name: "vector", .. }), "{e}");
    assert_eq!(dot.count(None), 0, "nothing of a refused write is kept");
    assert!("float16".parse::<VectorStorage>().is_ok_and(|s| s == VectorStorage::F16));
    assert!("int4".parse::<VectorStorage>().is_err());
    // Int8 ranges widen for any finite value, however far from the rest.
    let wide = client
        .create_collection("w", flat(2, SimilarityMetric::Euclidean).with_storage(VectorStorage::Int8, false))
        .unwrap();
    for v in [[0.1, 0.2], [1e12, -1e12], [-3.0, 0.0]] {
        wide.add(&v, None, None).unwrap();
    }
    let hits = wide.search(&[1e12, -1e12], &SearchOptions::new(1)).unwrap();
    assert_eq!(hits[0].id, 1);
}

/// `on_disk` keeps the f32 rows in a mapped file: the same exact vectors and scores as rows in
/// RAM, less heap, through deletes, compaction, files and a durable database's restarts.
#[test]
fn on_disk_rows_answer_as_rows_in_ram_do_with_less_heap() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (3_000, 64);
    let (base, queries) = data(n, 20, dim, 9);
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    let opts = SearchOptions::new(10);
    let exact_rows = |c: &Collection, what: &str| {
        for id in (0..n as u64).filter(|i| i % 7 != 0).step_by(97) {
            assert_eq!(c.get(id).unwrap().vector, base.row(id as usize), "{what}: record {id}");
        }
    };
    let mut compared = 0;
    for storage in [VectorStorage::F32, VectorStorage::Int8] {
        // Flat answers are deterministic, so a mapped collection must answer exactly alike.
        let config = flat(dim, SimilarityMetric::Euclidean).with_storage(storage, true);
        let (ram, mapped) = (collection(config), collection(config.with_rows_on_disk(true)));
        for c in [&ram, &mapped] {
            fill(c, &base);
            for id in (0..n as u64).filter(|i| i % 7 == 0) {
                c.delete(id).unwrap();
            }
        }
        let (ri, mi) = (ram.info(), mapped.info());
        assert!((!ri.on_disk, ri.disk_bytes) == (true, 0) && mi.on_disk, "{storage}");
        let row_bytes = n * dim * 4;
        assert!(mi.disk_bytes >= row_bytes, "{storage}: {} bytes on disk", mi.disk_bytes);
        assert!(mi.memory_bytes + row_bytes * 9 / 10 <= ri.memory_bytes, "{storage}: {mi:?} vs {ri:?}");
        let want = ram.search_batch(&qs, &opts).unwrap();
        for (w, got) in want.iter().zip(mapped.search_batch(&qs, &opts).unwrap()) {
            assert_eq!(id_scores(w), id_scores(&got), "{storage}");
            compared += 1;
        }
        exact_rows(&mapped, "mapped");
        let path = dir.path().join(format!("{storage}.vlc"));
        mapped.save_to_file(&path, &SaveOptions::default()).unwrap();
        let loaded = Collection::load_from_file(&path, &LoadOptions::default()).unwrap();
        assert!(loaded.info().on_disk && loaded.info().disk_bytes >= row_bytes * 6 / 7);
        for (w, got) in want.iter().zip(loaded.search_batch(&qs, &opts).unwrap()) {
            assert_eq!(id_scores(w), id_scores(&got), "{storage}: loaded");
            compared += 1;
        }
        exact_rows(&loaded, "loaded");
    }
    // HNSW over int8 codes with mapped rows: exact scores after rescoring, and compaction.
    let mapped = collection(
        hnsw(dim, SimilarityMetric::Euclidean)
            .with_storage(VectorStorage::Int8, true)
            .with_rows_on_disk(true),
    );
    fill(&mapped, &base);
    for id in (0..n as u64).filter(|i| i % 7 == 0) {
        mapped.delete(id).unwrap();
    }
    mapped.compact();
    exact_rows(&mapped, "compacted");
    for (q, hits) in qs.iter().zip(mapped.search_batch(&qs, &opts).unwrap()) {
        for h in hits {
            let want = reference_score(SimilarityMetric::Euclidean, q, base.row(h.id as usize));
            assert!((h.score - want).abs() <= 1e-4 * want.abs().max(1.0), "{} vs {want}", h.score);
            compared += 1;
        }
    }
    assert!(compared >= 4 * 20 + 20 * 10, "{compared}");
}

/// A durable database keeps on-disk rows in its data directory and gets them back from its
/// log and from its checkpoint.
#[test]
fn on_disk_rows_survive_restarts_of_a_durable_database() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (500, 16);
    let (base, _) = data(n, 1, dim, 4);
    let config = hnsw(dim, SimilarityMetric::Euclidean)
        .with_storage(VectorStorage::Int8, true)
        .with_rows_on_disk(true);
    let open = || VectorLiteClient::open(dir.path(), vectorlite::DurabilityOptions::default()).unwrap();
    {
        let db = open();
        let c = db.create_collection("m", config).unwrap();
        fill(&c, &base);
    } // not closed: the log has the rows
    for round in 0..2 {
        let db = open();
        let c = db.collection("m").unwrap();
        assert!(c.info().on_disk && c.info().count == n, "round {round}");
        for id in [0u64, 1, 250, 499] {
            assert_eq!(c.get(id).unwrap().vector, base.row(id as usize), "round {round}: record {id}");
        }
        db.close().unwrap(); // the second round reads the checkpoint
    }
}

/// `on_disk` needs full-precision rows to put there.
#[test]
fn on_disk_needs_full_precision_rows() {
    let client = VectorLiteClient::new();
    for (storage, rescore) in [(VectorStorage::F16, true), (VectorStorage::Int8, false)] {
        let config = CollectionConfig::new(4).with_storage(storage, rescore).with_rows_on_disk(true);
        let e = client.create_collection("x", config).expect_err("no f32 rows");
        assert!(matches!(e, Error::InvalidParameter { name: "on_disk", .. }), "{e}");
    }
}
