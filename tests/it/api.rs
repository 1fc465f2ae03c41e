//! Client and collection calls, and every error they can return.

use serde_json::json;
use vectorlite::{
    CollectionConfig, Error, IndexType, NewRecord, Record, SearchOptions, SimilarityMetric, VectorLiteClient,
};

use crate::common::{flat, hnsw};

#[test]
fn client_creates_lists_and_deletes_collections() {
    let client = VectorLiteClient::new();
    client.create_collection("b", flat(3, SimilarityMetric::Cosine)).unwrap();
    client.create_collection("a", hnsw(8, SimilarityMetric::Euclidean)).unwrap();
    assert_eq!(client.list_collections(), ["a", "b"]);
    assert!(client.has_collection("a") && !client.has_collection("c"));
    assert!(matches!(
        client.create_collection("a", flat(3, SimilarityMetric::Cosine)),
        Err(Error::CollectionExists { .. })
    ));
    assert!(matches!(
        client.create_collection("bad name", flat(3, SimilarityMetric::Cosine)),
        Err(Error::InvalidCollectionName { .. })
    ));
    assert!(matches!(
        client.create_collection("z", CollectionConfig::new(0)),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(!client.has_collection("z"), "a rejected config must not leave a collection behind");

    let info = client.collection_info("a").unwrap();
    assert_eq!((info.name.as_str(), info.count, info.dimension), ("a", 0, 8));
    assert_eq!(info.metric, SimilarityMetric::Euclidean);
    assert!(matches!(info.index, IndexType::HNSW(p) if p.m == 16 && p.ef_construction == 100));

    client.delete_collection("a").unwrap();
    assert_eq!(client.list_collections(), ["b"]);
    assert!(matches!(client.delete_collection("a"), Err(Error::CollectionNotFound { .. })));
    assert!(matches!(client.collection("a"), Err(Error::CollectionNotFound { .. })));
    assert!(matches!(client.collection_info("a"), Err(Error::CollectionNotFound { .. })));
}

#[test]
fn default_config_is_cosine_hnsw_16_200() {
    let c = CollectionConfig::new(384);
    assert_eq!(c.metric, SimilarityMetric::Cosine);
    let IndexType::HNSW(p) = c.index else { panic!("default index must be HNSW") };
    assert_eq!((p.m, p.ef_construction), (16, 200));
}

#[test]
fn ids_come_from_a_counter_and_are_never_reused() {
    for config in [flat(2, SimilarityMetric::Euclidean), hnsw(2, SimilarityMetric::Euclidean)] {
        let client = VectorLiteClient::new();
        let c = client.create_collection("c", config).unwrap();
        let a = c.add(&[1.0, 0.0], None, None).unwrap();
        let b = c.add(&[0.0, 1.0], None, None).unwrap();
        assert_eq!((a, b), (0, 1));
        c.delete(b).unwrap();
        assert_eq!(c.add(&[1.0, 1.0], None, None).unwrap(), 2, "a deleted id is not handed out again");
        c.insert(100, &[2.0, 2.0], None, None).unwrap();
        assert_eq!(c.add(&[3.0, 3.0], None, None).unwrap(), 101, "the counter moves past explicit ids");
        assert!(matches!(c.insert(100, &[0.0, 0.0], None, None), Err(Error::IdExists { id: 100 })));
        assert_eq!(c.len(), 4);
        assert_eq!(c.ids(), [0, 2, 100, 101]);
    }
}

#[test]
fn id_space_exhaustion_is_an_error() {
    let c = VectorLiteClient::new().create_collection("c", flat(1, SimilarityMetric::Euclidean)).unwrap();
    c.insert(u64::MAX, &[1.0], None, None).unwrap();
    assert!(matches!(c.add(&[1.0], None, None), Err(Error::IdSpaceExhausted)));
    assert_eq!(c.len(), 1);
}

#[test]
fn get_update_delete_round_trip() {
    for config in [flat(3, SimilarityMetric::Euclidean), hnsw(3, SimilarityMetric::Euclidean)] {
        let c = VectorLiteClient::new().create_collection("c", config).unwrap();
        let id = c.add(&[1.0, 2.0, 3.0], Some("text".into()), Some(json!({"k": "v"}))).unwrap();
        let r = c.get(id).unwrap();
        assert_eq!(
            r,
            Record {
                id,
                vector: vec![1.0, 2.0, 3.0],
                text: Some("text".into()),
                metadata: Some(json!({"k": "v"})),
                updated_at: r.updated_at,
                expires_at: None,
            }
        );
        c.update_metadata(id, Some(json!({"k": 2}))).unwrap();
        assert_eq!(c.get(id).unwrap().metadata, Some(json!({"k": 2})));
        c.update_metadata(id, Some(json!(null))).unwrap();
        assert_eq!(c.get(id).unwrap().metadata, None);
        assert!(matches!(c.update_metadata(id, Some(json!([1]))), Err(Error::InvalidMetadata { .. })));
        assert!(matches!(c.update_metadata(99, None), Err(Error::IdNotFound { id: 99 })));
        assert!(c.contains(id));
        c.delete(id).unwrap();
        assert!(!c.contains(id));
        assert!(matches!(c.get(id), Err(Error::IdNotFound { .. })));
        assert!(matches!(c.delete(id), Err(Error::IdNotFound { .. })));
        assert!(c.is_empty());
    }
}

#[test]
fn upsert_replaces_or_inserts() {
    for config in [flat(2, SimilarityMetric::Euclidean), hnsw(2, SimilarityMetric::Euclidean)] {
        let c = VectorLiteClient::new().create_collection("c", config).unwrap();
        c.upsert(7, &[1.0, 1.0], Some("one".into()), None).unwrap();
        c.upsert(7, &[5.0, 5.0], Some("two".into()), Some(json!({"v": 2}))).unwrap();
        assert_eq!(c.len(), 1);
        let r = c.get(7).unwrap();
        assert_eq!(
            (r.vector, r.text, r.metadata),
            (vec![5.0, 5.0], Some("two".into()), Some(json!({"v": 2})))
        );
        let hits = c.search(&[5.0, 5.0], &SearchOptions::new(5)).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].id, hits[0].score), (7, 0.0), "search sees the new vector, not the old one");
        assert_eq!(c.add(&[0.0, 0.0], None, None).unwrap(), 8);
    }
}

#[test]
fn invalid_vectors_and_options_are_typed_errors() {
    let client = VectorLiteClient::new();
    let cos = client.create_collection("cos", flat(3, SimilarityMetric::Cosine)).unwrap();
    let l2 = client.create_collection("l2", hnsw(3, SimilarityMetric::Euclidean)).unwrap();
    assert!(matches!(
        cos.add(&[1.0, 2.0], None, None),
        Err(Error::DimensionMismatch { expected: 3, actual: 2 })
    ));
    assert!(matches!(
        cos.add(&[1.0, f32::NAN, 0.0], None, None),
        Err(Error::NonFiniteValue { position: 1, .. })
    ));
    assert!(matches!(
        cos.add(&[f32::INFINITY, 0.0, 0.0], None, None),
        Err(Error::NonFiniteValue { position: 0, .. })
    ));
    assert!(matches!(cos.add(&[0.0, 0.0, 0.0], None, None), Err(Error::ZeroVector)));
    // Tiny and huge (but finite) vectors: norms are taken in f64, so neither underflows nor
    // overflows; beyond MAX_NORM a vector is refused before distances could overflow.
    let tiny = cos.add(&[1e-30, 0.0, 1e-30], None, None).unwrap();
    let stored = cos.get(tiny).unwrap().vector;
    assert!((stored[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6, "stored at unit length: {stored:?}");
    cos.delete(tiny).unwrap();
    assert!(matches!(l2.add(&[1e19, 0.0, 0.0], None, None), Err(Error::VectorOutOfRange { .. })));
    assert!(matches!(
        cos.search(&[f32::MAX, 0.0, 0.0], &SearchOptions::new(1)),
        Err(Error::VectorOutOfRange { .. })
    ));
    assert!(l2.add(&[0.0, 0.0, 0.0], None, None).is_ok(), "zero vectors are fine outside cosine");
    assert!(matches!(cos.add(&[1.0, 0.0, 0.0], None, Some(json!("x"))), Err(Error::InvalidMetadata { .. })));
    assert!(cos.is_empty());

    let q = [1.0, 0.0, 0.0];
    assert!(matches!(l2.search(&q, &SearchOptions::new(0)), Err(Error::InvalidK { k: 0, .. })));
    assert!(matches!(l2.search(&q, &SearchOptions::new(10_001)), Err(Error::InvalidK { .. })));
    assert!(l2.search(&q, &SearchOptions::new(10_000)).is_ok());
    assert!(matches!(l2.search(&q, &SearchOptions::new(1).with_ef(0)), Err(Error::InvalidParameter { .. })));
    assert!(matches!(l2.search(&[1.0], &SearchOptions::new(1)), Err(Error::DimensionMismatch { .. })));
    assert!(matches!(
        l2.search(&[f32::NAN, 0.0, 0.0], &SearchOptions::new(1)),
        Err(Error::NonFiniteValue { .. })
    ));
    assert!(matches!(cos.search(&[0.0; 3], &SearchOptions::new(1)), Err(Error::ZeroVector)));
    // Messages say what is wrong and what is allowed.
    assert_eq!(Error::InvalidK { k: 0, max: 10 }.to_string(), "k = 0 is out of range; use 1 to 10");
    assert!(Error::ZeroVector.to_string().contains("non-zero norm"));
}

#[test]
fn batches_are_all_or_nothing() {
    for config in [flat(2, SimilarityMetric::Cosine), hnsw(2, SimilarityMetric::Cosine)] {
        let c = VectorLiteClient::new().create_collection("c", config).unwrap();
        let ids = c
            .add_batch(vec![
                NewRecord::new(vec![1.0, 0.0]).with_text("a"),
                NewRecord::new(vec![0.0, 1.0]).with_text("b"),
            ])
            .unwrap();
        assert_eq!(ids, [0, 1]);
        assert_eq!(c.get(1).unwrap().text.as_deref(), Some("b"));

        let bad = vec![NewRecord::new(vec![1.0, 1.0]), NewRecord::new(vec![f32::NAN, 1.0])];
        assert!(matches!(c.add_batch(bad), Err(Error::NonFiniteValue { .. })));
        let dup = vec![
            Record { id: 5, vector: vec![1.0, 0.0], text: None, metadata: None, ..Default::default() },
            Record { id: 5, vector: vec![0.0, 1.0], text: None, metadata: None, ..Default::default() },
        ];
        assert!(matches!(c.insert_batch(dup.clone()), Err(Error::IdExists { id: 5 })));
        let taken = vec![
            Record { id: 9, vector: vec![1.0, 0.0], text: None, metadata: None, ..Default::default() },
            Record { id: 0, vector: vec![0.0, 1.0], text: None, metadata: None, ..Default::default() },
        ];
        assert!(matches!(c.insert_batch(taken), Err(Error::IdExists { id: 0 })));
        assert_eq!(c.len(), 2, "rejected batches change nothing");
        assert_eq!(c.next_id(), 2);

        c.upsert_batch(dup).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(5).unwrap().vector, vec![0.0, 1.0], "the last occurrence of an id wins");
    }
}

#[test]
fn cosine_vectors_are_stored_normalised() {
    let c = VectorLiteClient::new().create_collection("c", flat(2, SimilarityMetric::Cosine)).unwrap();
    let id = c.add(&[3.0, 4.0], None, None).unwrap();
    let v = c.get(id).unwrap().vector;
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
}

#[test]
fn info_reports_count_and_memory() {
    let c = VectorLiteClient::new().create_collection("c", hnsw(64, SimilarityMetric::Cosine)).unwrap();
    let empty = c.info().memory_bytes;
    let (base, _) = crate::common::data(500, 1, 64, 3);
    crate::common::fill(&c, &base);
    let info = c.info();
    assert_eq!(info.count, 500);
    assert!(info.memory_bytes >= empty + 500 * 64 * 4, "{} bytes for 500 x 64 floats", info.memory_bytes);
}

#[test]
fn collection_handles_share_state() {
    let client = VectorLiteClient::new();
    let a = client.create_collection("c", flat(1, SimilarityMetric::Euclidean)).unwrap();
    let b = client.collection("c").unwrap();
    a.add(&[1.0], None, None).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(client.collection_info("c").unwrap().count, 1);
}
