//! Keyword, hybrid and MMR search: the keyword index stays equal to one rebuilt from the
//! records after every kind of write, a restart and a crash; fusion and MMR order results as
//! defined; filters (metadata and document) keep k results.

use std::sync::Arc;

use serde_json::json;
use vectorlite::{
    Collection, CollectionConfig, DocumentFilter, DurabilityOptions, Filter, Fusion, HashEmbedder,
    HybridOptions, IndexType, ListOptions, Mmr, NewRecord, RecordUpdate, SearchOptions, TextConfig,
    VectorLiteClient,
};

const QUERIES: &[&str] = &["ERR-4032", "payment failed", "order 77", "tea", "the blue car", "zzz", "cat"];

/// Keyword results of `c` equal those of a collection rebuilt from its records.
fn assert_index_matches_records(c: &Collection, context: &str) {
    let records =
        c.list(&ListOptions { limit: 10_000, include_vectors: true, ..ListOptions::default() }).unwrap();
    let fresh = Collection::new("fresh", *c.config()).unwrap();
    let rows: Vec<vectorlite::Record> = records.records;
    fresh.insert_batch(rows).unwrap();
    let mut checked = 0;
    for q in QUERIES {
        let options = SearchOptions::new(20);
        let got = c.search_keyword(q, &options).unwrap();
        let want = fresh.search_keyword(q, &options).unwrap();
        let pairs = |r: &[vectorlite::SearchResult]| {
            r.iter().map(|h| (h.id, (h.score * 1e4).round())).collect::<Vec<_>>()
        };
        assert_eq!(pairs(&got), pairs(&want), "{context}: query {q}");
        checked += got.len();
    }
    assert!(checked > 0, "{context}: the queries found nothing to compare");
}

fn texts() -> Vec<&'static str> {
    vec![
        "payment failed with ERR-4032 at checkout",
        "payment succeeded for order 77",
        "the user likes green tea",
        "a blue car parked outside",
        "ERR-4032 again, card declined",
        "cat pictures and a cat video",
        "order 78 shipped",
    ]
}

fn filled(config: CollectionConfig) -> Collection {
    let c = Collection::new("notes", config).unwrap();
    let records = texts()
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            NewRecord::new(vec![1.0, i as f32, (i % 3) as f32])
                .with_text(t)
                .with_metadata(json!({"i": i, "even": i % 2 == 0}))
        })
        .collect();
    c.add_batch(records).unwrap();
    c
}

#[test]
fn keyword_search_finds_exact_codes_and_respects_filters() {
    for index in [IndexType::Flat, IndexType::default()] {
        let c = filled(CollectionConfig::new(3).with_index(index));
        let hits = c.search_keyword("ERR-4032", &SearchOptions::new(3)).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [4, 0], "only the two texts with the code");
        assert!(hits[0].sources.unwrap().keyword_rank == Some(1) && hits[0].score > hits[1].score * 0.5);
        // A metadata filter that passes one of them.
        let even = SearchOptions::new(3).with_filter(Filter::parse(&json!({"i": {"$lt": 2}})).unwrap());
        assert_eq!(
            c.search_keyword("ERR-4032", &even).unwrap().iter().map(|h| h.id).collect::<Vec<_>>(),
            [0]
        );
        // A document filter, and k kept when enough records match.
        let declined = SearchOptions::new(1)
            .with_document_filter(DocumentFilter::parse(&json!({"$contains": "declined"})).unwrap());
        assert_eq!(c.search_keyword("ERR-4032 payment", &declined).unwrap()[0].id, 4);
        let not_err = SearchOptions::new(10)
            .with_document_filter(DocumentFilter::parse(&json!({"$not_contains": "ERR"})).unwrap());
        let ids: Vec<u64> = c.search(&[1.0, 0.0, 0.0], &not_err).unwrap().iter().map(|h| h.id).collect();
        assert_eq!(ids.len(), 5, "vector search keeps k under a document filter: {ids:?}");
        assert!(!ids.contains(&0) && !ids.contains(&4));
        let regex = SearchOptions::new(10)
            .with_document_filter(DocumentFilter::parse(&json!({"$regex": "order \\d+"})).unwrap());
        let mut ids: Vec<u64> = c.search(&[1.0, 0.0, 0.0], &regex).unwrap().iter().map(|h| h.id).collect();
        ids.sort();
        assert_eq!(ids, [1, 6]);
    }
}

#[test]
fn stemming_and_stop_words_change_what_matches() {
    let english = TextConfig { stemming: true, stop_words: true, ..TextConfig::default() };
    let stemmed = filled(CollectionConfig::new(3).with_text(english));
    let plain = filled(CollectionConfig::new(3));
    assert_eq!(stemmed.search_keyword("cats", &SearchOptions::new(3)).unwrap()[0].id, 5);
    assert!(plain.search_keyword("cats", &SearchOptions::new(3)).unwrap().is_empty());
    assert!(stemmed.search_keyword("the", &SearchOptions::new(3)).unwrap().is_empty(), "a stop word");
    assert!(!plain.search_keyword("the", &SearchOptions::new(3)).unwrap().is_empty());
    let bad = CollectionConfig::new(3).with_text(TextConfig { k1: -1.0, ..TextConfig::default() });
    assert!(Collection::new("bad", bad).is_err());
}

#[test]
fn the_keyword_index_follows_every_kind_of_write() {
    let c = filled(CollectionConfig::new(3));
    assert_index_matches_records(&c, "after add");
    c.upsert(0, &[1.0, 0.0, 0.0], Some("tea and cat".into()), None).unwrap();
    assert_index_matches_records(&c, "after upsert");
    assert!(c.search_keyword("ERR-4032", &SearchOptions::new(5)).unwrap().iter().all(|h| h.id != 0));
    c.update(1, RecordUpdate { text: Some(Some("the blue car is fast".into())), ..RecordUpdate::default() })
        .unwrap();
    assert_index_matches_records(&c, "after update");
    c.update(2, RecordUpdate { text: Some(None), ..RecordUpdate::default() }).unwrap();
    assert!(c.search_keyword("tea", &SearchOptions::new(5)).unwrap().iter().all(|h| h.id != 2));
    c.delete(3).unwrap();
    c.delete_where(&Filter::parse(&json!({"i": 6})).unwrap()).unwrap();
    c.delete_many(&[5]).unwrap();
    assert_index_matches_records(&c, "after deletes");
    c.insert_batch(vec![vectorlite::Record {
        id: 100,
        vector: vec![0.0, 1.0, 1.0],
        text: Some("cat order 77".into()),
        ..Default::default()
    }])
    .unwrap();
    c.compact();
    assert_index_matches_records(&c, "after compaction");
}

#[test]
fn the_keyword_index_survives_restart_crash_and_save() {
    let dir = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new(3).with_text(TextConfig { stemming: true, ..TextConfig::default() });
    {
        let db = VectorLiteClient::open(dir.path(), DurabilityOptions::default()).unwrap();
        let c = db.create_collection("notes", config).unwrap();
        for (i, t) in texts().into_iter().enumerate() {
            c.add(&[1.0, i as f32, 0.0], Some(t.into()), None).unwrap();
        }
        c.delete(2).unwrap();
        db.checkpoint().unwrap();
        c.upsert(3, &[1.0, 0.0, 1.0], Some("cats everywhere".into()), None).unwrap();
        // Dropped without a checkpoint: the next open replays the log.
    }
    let db = VectorLiteClient::open(dir.path(), DurabilityOptions::default()).unwrap();
    let c = db.collection("notes").unwrap();
    assert_eq!(c.config().text, config.text, "the text config is kept");
    assert_index_matches_records(&c, "after recovery");
    assert_eq!(c.search_keyword("cat", &SearchOptions::new(1)).unwrap()[0].id, 3, "stemmed after a restart");
    let file = dir.path().join("copy.vlc");
    c.save_to_file(&file, &Default::default()).unwrap();
    let loaded = Collection::load_from_file(&file, &Default::default()).unwrap();
    assert_index_matches_records(&loaded, "after save and load");
}

#[test]
fn hybrid_fuses_both_sides_by_reciprocal_rank() {
    // Vector side: ids by distance to [1, 0]; keyword side: only the texts with "alpha".
    let c = Collection::new("h", CollectionConfig::new(2).with_index(IndexType::Flat)).unwrap();
    let rows = [
        ([1.0, 0.0], "beta"),
        ([1.0, 0.1], "alpha beta"),
        ([1.0, 0.5], "alpha alpha"),
        ([0.0, 1.0], "gamma"),
    ];
    for (v, t) in rows {
        c.add(&v, Some(t.into()), None).unwrap();
    }
    let rrf = HybridOptions::default();
    let hits = c.search_hybrid("alpha", Some(&[1.0, 0.0]), &SearchOptions::new(4), &rrf).unwrap();
    // vector ranks: 0,1,2,3 -> 1..4; keyword ranks: 2 (shorter, tf 2) then 1.
    let expect =
        |v: usize, k: Option<usize>| 1.0 / (60.0 + v as f32) + k.map_or(0.0, |k| 1.0 / (60.0 + k as f32));
    let want =
        [(2u64, expect(3, Some(1))), (1, expect(2, Some(2))), (0, expect(1, None)), (3, expect(4, None))];
    let got: Vec<(u64, f32)> = hits.iter().map(|h| (h.id, h.score)).collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), want.iter().map(|w| w.0).collect::<Vec<_>>());
    for ((_, g), (_, w)) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
    let s = hits[0].sources.unwrap();
    assert_eq!((s.vector_rank, s.keyword_rank), (Some(3), Some(1)));
    assert!(s.vector_score.is_some() && s.keyword_score.is_some());
    // Weighted fusion with all the weight on vectors is vector order.
    let vector_only =
        HybridOptions { fusion: Fusion::Weighted { vector_weight: 1.0 }, ..HybridOptions::default() };
    let hits = c.search_hybrid("alpha", Some(&[1.0, 0.0]), &SearchOptions::new(4), &vector_only).unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [0, 1, 2, 3]);
    // Text alone embeds the query with the collection's model.
    let client = VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(16)));
    let t = client.create_collection("t", CollectionConfig::new(16)).unwrap();
    t.add_texts(vec![("alpha beta".into(), None), ("gamma delta".into(), None)]).unwrap();
    assert_eq!(t.search_hybrid("gamma delta", None, &SearchOptions::new(1), &rrf).unwrap()[0].id, 1);
}

#[test]
fn mmr_picks_diverse_results() {
    // Three near-copies, and one record about as relevant to the query but unlike them.
    let c = Collection::new("m", CollectionConfig::new(2).with_index(IndexType::Flat)).unwrap();
    for v in [[0.8, 0.6], [0.8, 0.6001], [0.8, 0.5999], [0.79, -0.61]] {
        c.add(&v, None, None).unwrap();
    }
    let ids = |hits: Vec<vectorlite::SearchResult>| hits.iter().map(|h| h.id).collect::<Vec<_>>();
    let plain = ids(c.search(&[1.0, 0.0], &SearchOptions::new(2)).unwrap());
    assert!(!plain.contains(&3), "{plain:?}");
    let mmr = |lambda: f32| SearchOptions::new(2).with_mmr(Mmr { lambda, fetch_k: 4 });
    let diverse = ids(c.search(&[1.0, 0.0], &mmr(0.5)).unwrap());
    assert_eq!((diverse[0], diverse[1]), (plain[0], 3), "the second pick is the different one");
    assert_eq!(ids(c.search(&[1.0, 0.0], &mmr(1.0)).unwrap()), plain, "lambda 1 is plain ranking");
    assert!(c.search(&[1.0, 0.0], &mmr(2.0)).is_err());
}
