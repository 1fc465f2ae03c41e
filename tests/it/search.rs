//! Search results: exact scores and order for every metric, HNSW recall against exact search,
//! and deleted records never coming back.

use std::collections::HashSet;

use vectorlite::dataset::recall_at_k;
use vectorlite::{NewRecord, SearchOptions, SimilarityMetric, VectorLiteClient};

use crate::common::{ALL_METRICS, data, fill, flat, hnsw, reference_score};

#[test]
fn flat_search_matches_brute_force_for_every_metric() {
    let (base, queries) = data(400, 10, 24, 11);
    for metric in ALL_METRICS {
        let c = VectorLiteClient::new().create_collection("c", flat(24, metric)).unwrap();
        // Scale rows so dot product and cosine rank differently.
        let rows: Vec<Vec<f32>> = base
            .rows()
            .enumerate()
            .map(|(i, r)| r.iter().map(|x| x * (1.0 + (i % 7) as f32)).collect())
            .collect();
        c.add_batch(rows.iter().map(|r| NewRecord::new(r.clone())).collect()).unwrap();
        for q in queries.rows() {
            let hits = c.search(q, &SearchOptions::new(10)).unwrap();
            let mut want: Vec<(f32, u64)> =
                rows.iter().enumerate().map(|(i, r)| (reference_score(metric, q, r), i as u64)).collect();
            want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            assert_eq!(hits.len(), 10);
            for (hit, (score, id)) in hits.iter().zip(&want) {
                assert_eq!(hit.id, *id, "{metric:?}");
                assert!(
                    (hit.score - score).abs() <= 1e-4 * (1.0 + score.abs()),
                    "{metric:?}: {} vs {score}",
                    hit.score
                );
            }
        }
    }
}

#[test]
fn equal_scores_are_ordered_by_id() {
    for config in [flat(2, SimilarityMetric::Euclidean), hnsw(2, SimilarityMetric::Euclidean)] {
        let c = VectorLiteClient::new().create_collection("c", config).unwrap();
        for id in [30, 10, 20] {
            c.insert(id, &[1.0, 1.0], None, None).unwrap();
        }
        c.insert(5, &[9.0, 9.0], None, None).unwrap();
        let hits = c.search(&[1.0, 1.0], &SearchOptions::new(4)).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [10, 20, 30, 5]);
        let top2 = c.search(&[1.0, 1.0], &SearchOptions::new(2)).unwrap();
        assert_eq!(top2.iter().map(|h| h.id).collect::<Vec<_>>(), [10, 20]);
    }
}

#[test]
fn results_carry_text_metadata_and_optionally_vectors() {
    let c = VectorLiteClient::new().create_collection("c", flat(2, SimilarityMetric::Euclidean)).unwrap();
    c.add(&[1.0, 2.0], Some("t".into()), Some(serde_json::json!({"a": 1}))).unwrap();
    let plain = c.search(&[1.0, 2.0], &SearchOptions::new(1)).unwrap();
    assert_eq!(plain[0].text.as_deref(), Some("t"));
    assert_eq!(plain[0].metadata, Some(serde_json::json!({"a": 1})));
    assert_eq!(plain[0].vector, None);
    let with = c.search(&[1.0, 2.0], &SearchOptions::new(1).with_vectors(true)).unwrap();
    assert_eq!(with[0].vector.as_deref(), Some(&[1.0, 2.0][..]));
}

#[test]
fn k_larger_than_the_collection_returns_everything() {
    for config in [flat(2, SimilarityMetric::Cosine), hnsw(2, SimilarityMetric::Cosine)] {
        let c = VectorLiteClient::new().create_collection("c", config).unwrap();
        assert!(c.search(&[1.0, 0.0], &SearchOptions::new(5)).unwrap().is_empty());
        c.add(&[1.0, 0.0], None, None).unwrap();
        c.add(&[0.0, 1.0], None, None).unwrap();
        assert_eq!(c.search(&[1.0, 0.0], &SearchOptions::new(5)).unwrap().len(), 2);
    }
}

#[test]
fn search_batch_equals_single_searches() {
    let (base, queries) = data(1_000, 20, 16, 5);
    let c = VectorLiteClient::new().create_collection("c", hnsw(16, SimilarityMetric::Cosine)).unwrap();
    fill(&c, &base);
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    let opts = SearchOptions::new(5);
    let batch = c.search_batch(&qs, &opts).unwrap();
    assert_eq!(batch.len(), qs.len());
    for (q, got) in qs.iter().zip(&batch) {
        assert_eq!(&c.search(q, &opts).unwrap(), got);
    }
    assert!(c.search_batch(&[vec![1.0; 3]], &opts).is_err());
}

/// Ids of the exact top-k per query, from a Flat collection over the same rows.
fn exact_top_k(
    metric: SimilarityMetric,
    base: &vectorlite::dataset::Vectors,
    queries: &[Vec<f32>],
    k: usize,
    skip: &HashSet<u64>,
) -> Vec<Vec<u64>> {
    let exact = VectorLiteClient::new().create_collection("exact", flat(base.dim, metric)).unwrap();
    let rows = base.rows().enumerate().filter(|(i, _)| !skip.contains(&(*i as u64)));
    exact
        .insert_batch(
            rows.map(|(i, r)| vectorlite::Record {
                id: i as u64,
                vector: r.to_vec(),
                text: None,
                metadata: None,
                ..Default::default()
            })
            .collect(),
        )
        .unwrap();
    exact
        .search_batch(queries, &SearchOptions::new(k))
        .unwrap()
        .iter()
        .map(|h| h.iter().map(|r| r.id).collect())
        .collect()
}

#[test]
fn hnsw_recall_at_10_is_at_least_0_9_for_every_metric() {
    let seed = 20_261_125;
    println!("seed {seed}");
    let (base, queries) = data(4_000, 100, 48, seed);
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    for metric in ALL_METRICS {
        let c = VectorLiteClient::new().create_collection("h", hnsw(48, metric)).unwrap();
        fill(&c, &base);
        let truth = exact_top_k(metric, &base, &qs, 10, &HashSet::new());
        let found: Vec<Vec<u64>> = c
            .search_batch(&qs, &SearchOptions::new(10))
            .unwrap()
            .iter()
            .map(|h| h.iter().map(|r| r.id).collect())
            .collect();
        let recall = recall_at_k(&found, &truth, 10);
        println!("{metric:?}: recall@10 = {recall:.3}");
        assert!(recall >= 0.9, "{metric:?}: recall@10 {recall} < 0.9 (seed {seed})");
    }
}

#[test]
fn hnsw_keeps_recall_after_many_deletes_and_never_returns_deleted_ids() {
    let seed = 77;
    let (base, queries) = data(3_000, 60, 32, seed);
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    let c = VectorLiteClient::new().create_collection("h", hnsw(32, SimilarityMetric::Cosine)).unwrap();
    fill(&c, &base);
    // Delete 60% in steps, checking in between: tombstones first, then compactions.
    let mut deleted = HashSet::new();
    for round in 0..3 {
        for id in (0..3_000u64).filter(|id| id % 5 == round || (round == 2 && id % 5 == 3)) {
            c.delete(id).unwrap();
            deleted.insert(id);
        }
        assert_eq!(c.len(), 3_000 - deleted.len());
        let truth = exact_top_k(SimilarityMetric::Cosine, &base, &qs, 10, &deleted);
        let hits = c.search_batch(&qs, &SearchOptions::new(10)).unwrap();
        for h in hits.iter().flatten() {
            assert!(!deleted.contains(&h.id), "deleted id {} came back (round {round})", h.id);
        }
        let found: Vec<Vec<u64>> = hits.iter().map(|h| h.iter().map(|r| r.id).collect()).collect();
        let recall = recall_at_k(&found, &truth, 10);
        assert!(
            recall >= 0.9,
            "round {round}: recall@10 {recall} after deleting {} (seed {seed})",
            deleted.len()
        );
    }
    // Re-adding works on the compacted graph.
    let id = c.add(base.row(0), None, None).unwrap();
    assert_eq!(c.search(base.row(0), &SearchOptions::new(1)).unwrap()[0].id, id);
}

#[test]
fn deleted_ids_never_come_back_from_flat_search() {
    let c = VectorLiteClient::new().create_collection("c", flat(2, SimilarityMetric::Euclidean)).unwrap();
    for i in 0..50 {
        c.add(&[i as f32, 0.0], None, None).unwrap();
    }
    for id in (0..50).step_by(3) {
        c.delete(id).unwrap();
    }
    let hits = c.search(&[0.0, 0.0], &SearchOptions::new(50)).unwrap();
    assert_eq!(hits.len(), 50 - 17);
    assert!(hits.iter().all(|h| h.id % 3 != 0));
    // Swap-remove moved rows around: every survivor still has its own vector.
    for h in hits {
        assert_eq!(c.get(h.id).unwrap().vector, vec![h.id as f32, 0.0]);
    }
}

#[test]
fn explicit_compaction_keeps_every_record() {
    let (base, _) = data(600, 1, 8, 9);
    let c = VectorLiteClient::new().create_collection("c", hnsw(8, SimilarityMetric::Euclidean)).unwrap();
    fill(&c, &base);
    for id in 0..100 {
        c.delete(id).unwrap();
    }
    c.compact();
    assert_eq!(c.len(), 500);
    let mut found_self = 0;
    for id in 100..600u64 {
        assert_eq!(c.get(id).unwrap().vector, base.row(id as usize));
        found_self +=
            usize::from(c.search(base.row(id as usize), &SearchOptions::new(1)).unwrap()[0].id == id);
    }
    // The rebuilt graph is approximate, but nearly every record must find itself.
    assert!(found_self >= 495, "only {found_self} of 500 records found themselves after compaction");
}
