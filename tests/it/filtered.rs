//! Filtered search in both HNSW regimes (graph walk and exact scan of matches) against exact
//! filtered results, and filter errors.

use serde_json::json;
use vectorlite::dataset::recall_at_k;
use vectorlite::{Error, Filter, SearchOptions, SimilarityMetric, VectorLiteClient, VectorStorage};

use crate::common::{data, fill, flat, hnsw, id_scores};

fn ids(hits: &[Vec<vectorlite::SearchResult>]) -> Vec<Vec<u64>> {
    hits.iter().map(|h| h.iter().map(|r| r.id).collect()).collect()
}

#[test]
fn filtered_search_returns_the_k_best_matches_in_every_regime() {
    let seed = 4242;
    let n = 20_000;
    let (base, queries) = data(n, 40, 16, seed);
    let qs: Vec<Vec<f32>> = queries.rows().map(<[f32]>::to_vec).collect();
    let approx = VectorLiteClient::new().create_collection("h", hnsw(16, SimilarityMetric::Cosine)).unwrap();
    let exact = VectorLiteClient::new().create_collection("f", flat(16, SimilarityMetric::Cosine)).unwrap();
    fill(&approx, &base);
    fill(&exact, &base);
    // bucket = row % 100. The planner walks the graph for the broad filters and scans the
    // matching records for the selective ones (see the planner's unit test for the split).
    let cases = [
        json!({"bucket": {"$lt": 50}}),
        json!({"$or": [{"bucket": {"$gte": 70}}, {"bucket": 3}]}),
        json!({"bucket": {"$lt": 10}}),
        json!({"bucket": 7}),
        json!({"$and": [{"bucket": 7}, {"i": {"$lt": 600}}]}),
    ];
    for filter in cases {
        let f = Filter::parse(&filter).unwrap();
        let opts = SearchOptions::new(10).with_filter(f.clone());
        let truth = ids(&exact.search_batch(&qs, &opts).unwrap());
        let got = approx.search_batch(&qs, &opts).unwrap();
        let matching = (0..n).filter(|i| f.matches(Some(&json!({"i": i, "bucket": i % 100})))).count();
        for (hits, t) in got.iter().zip(&truth) {
            assert_eq!(hits.len(), 10.min(matching), "{filter}: never fewer than k when k match");
            assert_eq!(t.len(), hits.len());
            for h in hits {
                assert!(f.matches(h.metadata.as_ref()), "{filter}: id {} does not match", h.id);
            }
        }
        let recall = recall_at_k(&ids(&got), &truth, 10.min(matching));
        println!("{filter}: {matching} matches, recall@10 {recall:.3}");
        assert!(recall >= 0.9, "{filter}: recall {recall} (seed {seed})");
        if matching * 20 < n {
            assert_eq!(recall, 1.0, "{filter}: selective filters use an exact scan");
        }
    }
}

#[test]
fn filter_with_no_match_returns_nothing() {
    let (base, queries) = data(3_000, 2, 8, 1);
    let c = VectorLiteClient::new().create_collection("h", hnsw(8, SimilarityMetric::Euclidean)).unwrap();
    fill(&c, &base);
    let opts = SearchOptions::new(10).with_filter(Filter::parse(&json!({"bucket": 1000})).unwrap());
    assert!(c.search(queries.row(0), &opts).unwrap().is_empty());
}

#[test]
fn filters_see_metadata_updates_and_deletes() {
    for config in [flat(2, SimilarityMetric::Euclidean), hnsw(2, SimilarityMetric::Euclidean)] {
        let c = VectorLiteClient::new().create_collection("c", config).unwrap();
        let a = c.add(&[0.0, 0.0], None, Some(json!({"tag": "x"}))).unwrap();
        let b = c.add(&[1.0, 0.0], None, Some(json!({"tag": "y"}))).unwrap();
        let opts = SearchOptions::new(5).with_filter(Filter::parse(&json!({"tag": "x"})).unwrap());
        assert_eq!(c.search(&[0.0, 0.0], &opts).unwrap().iter().map(|h| h.id).collect::<Vec<_>>(), [a]);
        c.update_metadata(b, Some(json!({"tag": "x"}))).unwrap();
        assert_eq!(c.search(&[0.0, 0.0], &opts).unwrap().len(), 2);
        c.delete(a).unwrap();
        assert_eq!(c.search(&[0.0, 0.0], &opts).unwrap().iter().map(|h| h.id).collect::<Vec<_>>(), [b]);
    }
}

/// A store keeps the rows a filter matched until its next write. Random adds, metadata
/// updates and deletes between searches under a few repeated filters (so the kept rows are
/// reused) must never show a stale answer: each search is checked against a model.
#[test]
fn repeated_filters_never_see_stale_rows_across_writes() {
    use rand::{Rng, SeedableRng};
    let seed = 77;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let filters = [json!({"tag": 1}), json!({"tag": {"$lt": 2}}), json!({"$not": {"tag": 0}})];
    let parsed: Vec<Filter> = filters.iter().map(|f| Filter::parse(f).unwrap()).collect();
    let mut checked = 0;
    let configs = [
        flat(2, SimilarityMetric::Euclidean),
        hnsw(2, SimilarityMetric::Euclidean),
        flat(2, SimilarityMetric::Euclidean).with_storage(VectorStorage::F16, true),
        hnsw(2, SimilarityMetric::Euclidean).with_storage(VectorStorage::Int8, true),
    ];
    let mut gathered_answers = 0;
    for config in configs {
        let c = VectorLiteClient::new().create_collection("c", config).unwrap();
        let mut model: std::collections::BTreeMap<u64, i64> = Default::default();
        for round in 0..400 {
            match rng.random_range(0..4) {
                0 | 1 => {
                    let tag = rng.random_range(0..3);
                    let v = [rng.random::<f32>(), rng.random::<f32>()];
                    model.insert(c.add(&v, None, Some(json!({"tag": tag}))).unwrap(), tag);
                }
                2 if !model.is_empty() => {
                    let id = *model.keys().nth(rng.random_range(0..model.len())).unwrap();
                    let tag = rng.random_range(0..3);
                    c.update_metadata(id, Some(json!({"tag": tag}))).unwrap();
                    model.insert(id, tag);
                }
                _ if !model.is_empty() => {
                    let id = *model.keys().nth(rng.random_range(0..model.len())).unwrap();
                    c.delete(id).unwrap();
                    model.remove(&id);
                }
                _ => {}
            }
            for (f, json) in parsed.iter().zip(&filters) {
                let opts = SearchOptions::new(1000).with_filter(f.clone());
                let first = c.search(&[0.5, 0.5], &opts).unwrap();
                // Asked again with no write between, a scan reads the set's gathered rows
                // (from 64 matches): the same answer, score for score.
                let again = c.search(&[0.5, 0.5], &opts).unwrap();
                assert_eq!(id_scores(&first), id_scores(&again), "{json} asked twice after round {round}");
                gathered_answers += usize::from(first.len() >= 64);
                let mut got: Vec<u64> = first.iter().map(|h| h.id).collect();
                got.sort_unstable();
                let want: Vec<u64> = model
                    .iter()
                    .filter(|(_, t)| f.matches(Some(&json!({"tag": t}))))
                    .map(|(id, _)| *id)
                    .collect();
                assert_eq!(got, want, "{json} after round {round} (seed {seed})");
                assert_eq!(c.count(Some(f)), want.len());
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 400 * 3);
    assert!(gathered_answers >= 50, "{gathered_answers} answers from gathered rows");
}

#[test]
fn invalid_filters_are_typed_errors() {
    let e = Filter::parse(&json!({"price": {"$gt": [1]}})).unwrap_err();
    assert_eq!(e.path, "price.$gt");
    let as_error: Error = e.into();
    assert!(matches!(as_error, Error::Filter(_)));
    assert!(as_error.to_string().contains("price.$gt"));
}
