//! The memory operations agents use every turn: list and count by filter, get and delete many,
//! delete by filter, update in place, thresholds, batch queries, recency, deduplication and
//! expiry (with a manual clock, never sleeps), in memory and across restarts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use vectorlite::{
    Clock, Collection, CollectionConfig, Decay, Dedup, DurabilityOptions, EmbeddingFunction, Error, Expiry,
    Filter, HashEmbedder, ListOptions, ManualClock, NewRecord, RecordUpdate, SearchOptions, SimilarityMetric,
    SyncPolicy, VectorLiteClient,
};

use crate::common::{flat, hnsw};

const T0: u64 = 1_800_000_000_000; // a fixed "now" for the manual clocks (2027)

fn filter(v: Value) -> Filter {
    Filter::parse(&v).unwrap()
}

/// Ten records: id i has vector [i, 1], metadata {"user": ann|bob|cy by i % 3, "i": i}.
fn people() -> Collection {
    let c = VectorLiteClient::new().create_collection("p", flat(2, SimilarityMetric::Euclidean)).unwrap();
    let users = ["ann", "bob", "cy"];
    let records = (0..10)
        .map(|i| {
            NewRecord::new(vec![i as f32, 1.0])
                .with_text(format!("t{i}"))
                .with_metadata(json!({"user": users[i % 3], "i": i}))
        })
        .collect();
    c.add_batch(records).unwrap();
    c
}

#[test]
fn list_pages_by_cursor_and_offset_in_id_order() {
    let c = people();
    let ann = Some(filter(json!({"user": "ann"}))); // ids 0, 3, 6, 9
    let cases: &[(ListOptions, &[u64], Option<u64>)] = &[
        (ListOptions { limit: 3, ..ListOptions::default() }, &[0, 1, 2], Some(2)),
        (ListOptions { limit: 3, after_id: Some(2), ..ListOptions::default() }, &[3, 4, 5], Some(5)),
        (ListOptions { limit: 3, after_id: Some(8), ..ListOptions::default() }, &[9], None),
        (ListOptions { limit: 10, ..ListOptions::default() }, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], None),
        (ListOptions { limit: 2, offset: 5, ..ListOptions::default() }, &[5, 6], Some(6)),
        (ListOptions { limit: 2, filter: ann.clone(), ..ListOptions::default() }, &[0, 3], Some(3)),
        (
            ListOptions { limit: 2, filter: ann.clone(), after_id: Some(3), ..ListOptions::default() },
            &[6, 9],
            None,
        ),
        (ListOptions { limit: 5, filter: ann, offset: 4, ..ListOptions::default() }, &[], None),
    ];
    for (options, ids, next) in cases {
        let page = c.list(options).unwrap();
        assert_eq!(page.records.iter().map(|r| r.id).collect::<Vec<_>>(), *ids, "{options:?}");
        assert_eq!(page.next_after_id, *next, "{options:?}");
        assert!(
            page.records.iter().all(|r| r.vector.is_empty() && r.text.is_some()),
            "no vectors unless asked"
        );
    }
    let with = c.list(&ListOptions { limit: 1, include_vectors: true, ..ListOptions::default() }).unwrap();
    assert_eq!(with.records[0].vector, vec![0.0, 1.0]);
    // Walking every page with the cursor visits every record once.
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = c.list(&ListOptions { limit: 3, after_id: after, ..ListOptions::default() }).unwrap();
        seen.extend(page.records.iter().map(|r| r.id));
        match page.next_after_id {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    for bad in [0, vectorlite::MAX_PAGE + 1] {
        let err = c.list(&ListOptions { limit: bad, ..ListOptions::default() }).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { name: "limit", .. }), "{err}");
    }
}

#[test]
fn count_get_many_and_delete_by_ids_or_filter() {
    let c = people();
    assert_eq!(c.count(None), 10);
    assert_eq!(c.count(Some(&filter(json!({"user": "bob"})))), 3);
    assert_eq!(c.count(Some(&filter(json!({"i": {"$gte": 5}})))), 5);
    assert_eq!(c.count(Some(&filter(json!({"user": "nobody"})))), 0);

    let (found, missing) = c.get_many(&[4, 99, 1, 4]);
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [4, 1, 4]);
    assert_eq!(missing, [99]);
    assert_eq!(found[1].text.as_deref(), Some("t1"));

    assert_eq!(
        c.delete_many(&[1, 2, 2, 42]).unwrap(),
        2,
        "missing and repeated ids count once or not at all"
    );
    assert_eq!(c.delete_many(&[1]).unwrap(), 0);
    assert_eq!(c.delete_where(&filter(json!({"user": "ann"}))).unwrap(), 4);
    assert_eq!(c.ids(), vec![4, 5, 7, 8]);
    assert_eq!(c.delete_where(&filter(json!({"user": "ann"}))).unwrap(), 0);
    assert_eq!(c.count(None), 4);
}

#[test]
fn min_score_is_a_similarity_or_a_distance_by_metric() {
    let cos = VectorLiteClient::new().create_collection("c", flat(2, SimilarityMetric::Cosine)).unwrap();
    cos.add_batch(vec![
        NewRecord::new(vec![1.0, 0.0]),
        NewRecord::new(vec![1.0, 1.0]),
        NewRecord::new(vec![0.0, 1.0]),
    ])
    .unwrap();
    let near = |min: f32| cos.search(&[1.0, 0.0], &SearchOptions::new(10).with_min_score(min)).unwrap().len();
    assert_eq!((near(0.99), near(0.7), near(-1.0)), (1, 2, 3));

    let l2 = people(); // query [0, 1]: record i is at distance i
    for min in [2.5f32, -2.5] {
        let hits = l2.search(&[0.0, 1.0], &SearchOptions::new(10).with_min_score(min)).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [0, 1, 2], "within distance |{min}|");
    }
    let err = l2.search(&[0.0, 1.0], &SearchOptions::new(3).with_min_score(f32::NAN)).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { name: "min_score", .. }));
}

#[test]
fn batch_queries_keep_their_order_and_their_own_options() {
    let c = people();
    let bob = SearchOptions::new(2).with_filter(filter(json!({"user": "bob"})));
    let one = SearchOptions::new(1);
    let q0 = [9.0f32, 1.0];
    let q1 = [0.0f32, 1.0];
    let answers = c.search_each(&[(&q0[..], &bob), (&q1[..], &one), (&q0[..], &one)]).unwrap();
    let ids: Vec<Vec<u64>> = answers.iter().map(|a| a.iter().map(|h| h.id).collect()).collect();
    assert_eq!(ids, vec![vec![7, 4], vec![0], vec![9]]);
    // One bad query fails the batch before anything runs.
    let bad = SearchOptions::new(0);
    assert!(c.search_each(&[(&q0[..], &one), (&q1[..], &bad)]).is_err());
    assert!(c.search_each(&[(&[1.0f32][..], &one)]).is_err());
}

#[test]
fn update_changes_a_record_in_place_and_re_embeds_text() {
    let client = VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(16)));
    let c = client.create_collection("u", CollectionConfig::new(16)).unwrap();
    let id = c.add_texts(vec![("the old words".into(), Some(json!({"v": 1})))]).unwrap()[0];
    c.update(id, RecordUpdate { text: Some(Some("brand new text".into())), ..RecordUpdate::default() })
        .unwrap();
    let r = c.get(id).unwrap();
    assert_eq!((r.text.as_deref(), r.metadata.clone()), (Some("brand new text"), Some(json!({"v": 1}))));
    assert_eq!(r.vector, HashEmbedder::new(16).embed_batch(&["brand new text"]).unwrap()[0], "re-embedded");
    assert_eq!(c.search_text("brand new text", &SearchOptions::new(1)).unwrap()[0].id, id);

    let v = vec![0.25f32; 16];
    c.update(id, RecordUpdate { vector: Some(v.clone()), metadata: Some(None), ..RecordUpdate::default() })
        .unwrap();
    let r = c.get(id).unwrap();
    assert_eq!((r.text.as_deref(), r.metadata), (Some("brand new text"), None));
    assert!((r.vector[0] - 0.25).abs() < 1e-6, "normalised (cosine): {:?}", r.vector[0]);
    assert_eq!(c.len(), 1, "updated in place, not added");
    assert!(matches!(c.update(99, RecordUpdate::default()), Err(Error::IdNotFound { id: 99 })));
    assert!(matches!(
        c.update(id, RecordUpdate { vector: Some(vec![1.0]), ..RecordUpdate::default() }),
        Err(Error::DimensionMismatch { .. })
    ));
}

#[test]
fn expired_records_vanish_at_once_and_the_sweep_removes_them() {
    let clock = Arc::new(ManualClock::new(T0));
    let client = VectorLiteClient::new();
    client.set_clock(clock.clone());
    let config = flat(2, SimilarityMetric::Euclidean).with_default_ttl(Duration::from_secs(3_600));
    let c = client.create_collection("ttl", config).unwrap();
    let forever = c.add_batch(vec![NewRecord::new(vec![0.0, 0.0]).with_expiry(Expiry::Never)]).unwrap()[0];
    let hour = c.add(&[1.0, 0.0], None, Some(json!({"k": 1}))).unwrap(); // the default TTL
    let minute = c
        .add_batch(vec![NewRecord::new(vec![2.0, 0.0]).with_expiry(Expiry::After(Duration::from_secs(60)))])
        .unwrap()[0];
    let at =
        c.add_batch(vec![NewRecord::new(vec![3.0, 0.0]).with_expiry(Expiry::At(T0 + 120_000))]).unwrap()[0];
    assert_eq!(c.get(hour).unwrap().expires_at, Some(T0 + 3_600_000));
    assert_eq!(c.get(hour).unwrap().updated_at, T0);
    assert_eq!(c.count(None), 4);

    clock.advance(Duration::from_secs(90)); // `minute` is gone; `at` is not
    assert!(matches!(c.get(minute), Err(Error::IdNotFound { .. })));
    assert_eq!(c.ids(), vec![forever, hour, at]);
    assert_eq!(c.len(), 3);
    assert_eq!(c.count(Some(&filter(json!({})))), 3);
    let hits = c.search(&[2.0, 0.0], &SearchOptions::new(10)).unwrap();
    assert!(hits.iter().all(|h| h.id != minute), "search never returns it");
    assert!(c.list(&ListOptions::default()).unwrap().records.iter().all(|r| r.id != minute));
    let (_, missing) = c.get_many(&[minute]);
    assert_eq!(missing, vec![minute]);

    clock.advance(Duration::from_secs(3_600));
    assert_eq!(c.ids(), vec![forever]);
    assert_eq!(c.sweep_expired().unwrap(), 3, "the sweep deletes what expired");
    assert_eq!(c.sweep_expired().unwrap(), 0);
    assert_eq!(c.info().count, 1);
    assert_eq!(c.info().default_ttl_seconds, Some(3_600));
}

#[test]
fn expiry_survives_restart_recovery_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let open = |clock: &Arc<ManualClock>| {
        let db = VectorLiteClient::open(dir.path(), DurabilityOptions::default()).unwrap();
        db.set_clock(clock.clone());
        db
    };
    {
        let db = open(&clock);
        let c = db.create_collection("m", flat(2, SimilarityMetric::Euclidean)).unwrap();
        c.add_batch(vec![
            NewRecord::new(vec![1.0, 0.0]).with_expiry(Expiry::After(Duration::from_secs(10))),
            NewRecord::new(vec![2.0, 0.0]).with_expiry(Expiry::After(Duration::from_secs(1_000))),
            NewRecord::new(vec![3.0, 0.0]),
        ])
        .unwrap();
    } // recovered from the log alone
    clock.advance(Duration::from_secs(20));
    {
        let db = open(&clock);
        let c = db.collection("m").unwrap();
        assert_eq!(c.ids(), vec![1, 2], "still expired after recovery");
        assert_eq!(c.get(1).unwrap().expires_at, Some(T0 + 1_000_000));
        assert_eq!(c.sweep_expired().unwrap(), 1);
        db.checkpoint().unwrap();
    } // from the snapshot
    let db = open(&clock);
    let c = db.collection("m").unwrap();
    assert_eq!(c.ids(), vec![1, 2]);
    clock.advance(Duration::from_secs(2_000));
    assert_eq!(c.ids(), vec![2]);
    assert_eq!(c.next_id(), 3, "expired ids are not handed out again");
}

#[test]
fn decay_prefers_recent_memories_and_reports_the_raw_similarity() {
    let clock = Arc::new(ManualClock::new(T0));
    let client = VectorLiteClient::new();
    client.set_clock(clock.clone());
    let c = client.create_collection("d", flat(2, SimilarityMetric::Cosine)).unwrap();
    let old =
        c.add(&[1.0, 0.0], Some("old".into()), Some(json!({"at": (T0 / 1000) as f64 - 86_400.0}))).unwrap();
    clock.advance(Duration::from_secs(86_400));
    let new = c.add(&[0.95, 0.05], Some("new".into()), Some(json!({"at": "2027-01-15T08:00:00Z"}))).unwrap();
    let q = [1.0, 0.0];
    let plain = c.search(&q, &SearchOptions::new(2)).unwrap();
    assert_eq!(plain[0].id, old, "by similarity alone the old one wins");
    assert!(plain[0].similarity.is_none());
    let recency = Decay { field: None, half_life_seconds: 3_600.0, weight: 0.5 };
    let hits = c.search(&q, &SearchOptions::new(2).with_decay(recency)).unwrap();
    assert_eq!(hits[0].id, new, "with recency the new one wins");
    let sim = hits[0].similarity.unwrap();
    assert!((hits[0].score - (0.5 * sim + 0.5)).abs() < 1e-5, "just written: recency 1");
    assert!(hits[1].similarity.unwrap() > sim);
    assert!(hits[0].score > hits[1].score);
    // By a metadata time field (Unix seconds or RFC 3339); a record without one has recency 0.
    let by_field = Decay { field: Some("at".into()), half_life_seconds: 86_400.0, weight: 1.0 };
    let hits = c.search(&q, &SearchOptions::new(2).with_decay(by_field)).unwrap();
    assert!((hits.iter().find(|h| h.id == old).unwrap().score - 0.25).abs() < 1e-3, "two half-lives old");
    for bad in [
        Decay { field: None, half_life_seconds: 0.0, weight: 0.5 },
        Decay { field: None, half_life_seconds: 1.0, weight: 1.5 },
    ] {
        assert!(c.search(&q, &SearchOptions::new(2).with_decay(bad)).is_err());
    }
}

#[test]
fn dedup_merges_near_copies_within_a_scope() {
    let clock = Arc::new(ManualClock::new(T0));
    let client = VectorLiteClient::new();
    client.set_clock(clock.clone());
    let c = client.create_collection("mem", flat(2, SimilarityMetric::Cosine)).unwrap();
    let ann = c.add(&[1.0, 0.0], Some("likes tea".into()), Some(json!({"user": "ann"}))).unwrap();
    let bob = c.add(&[0.0, 1.0], Some("likes rain".into()), Some(json!({"user": "bob"}))).unwrap();
    clock.advance(Duration::from_secs(60));
    let dedup = Dedup { min_score: 0.95, filter: Some(filter(json!({"user": "ann"}))) };
    let written = c
        .add_dedup(
            vec![
                NewRecord::new(vec![1.0, 0.01])
                    .with_text("likes green tea")
                    .with_metadata(json!({"user": "ann"})),
                NewRecord::new(vec![0.0, 1.0]).with_text("bob again?").with_metadata(json!({"user": "ann"})),
                NewRecord::new(vec![0.01, 1.0])
                    .with_text("same as the one before")
                    .with_metadata(json!({"user": "ann"})),
            ],
            &dedup,
        )
        .unwrap();
    let shape: Vec<(u64, bool)> = written.iter().map(|w| (w.id, w.merged)).collect();
    let fresh = bob + 1;
    assert_eq!(shape, vec![(ann, true), (fresh, false), (fresh, true)], "bob's record is out of scope");
    let merged = c.get(ann).unwrap();
    assert_eq!((merged.text.as_deref(), merged.updated_at), (Some("likes green tea"), T0 + 60_000));
    assert_eq!(c.get(fresh).unwrap().text.as_deref(), Some("same as the one before"));
    assert_eq!(c.get(bob).unwrap().text.as_deref(), Some("likes rain"));
    assert_eq!(c.len(), 3);
}

/// What the model of `model_agrees_after_random_writes_deletes_and_expiry` holds per record.
#[derive(Debug, Clone)]
struct Entry {
    x: f32,
    group: u8,
    expires: Option<u64>,
}

#[derive(Debug, Clone)]
enum Step {
    Add { x: u16, group: u8, ttl: Option<u16> },
    DeleteGroup(u8),
    DeleteIds(Vec<u64>),
    Advance(u16),
    Sweep,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..1000u16, 0..4u8, proptest::option::of(1..600u16)).prop_map(|(x, group, ttl)| Step::Add { x, group, ttl }),
        1 => (0..4u8).prop_map(Step::DeleteGroup),
        1 => proptest::collection::vec(0..60u64, 1..5).prop_map(Step::DeleteIds),
        2 => (1..300u16).prop_map(Step::Advance),
        1 => Just(Step::Sweep),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// After random writes, deletes by filter and by id, expiries and restarts, list, count
    /// and search agree with a map.
    #[test]
    fn model_agrees_after_random_writes_deletes_and_expiry(steps in proptest::collection::vec(step(), 1..50)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let options = DurabilityOptions { sync: SyncPolicy::Never, ..DurabilityOptions::default() };
        let open = || {
            let db = VectorLiteClient::open(dir.path(), options.clone()).unwrap();
            db.set_clock(clock.clone());
            db
        };
        let mut db = open();
        let config = hnsw(2, SimilarityMetric::Euclidean);
        db.create_collection("m", config).unwrap();
        let mut model: BTreeMap<u64, Entry> = BTreeMap::new();
        let mut next = 0u64;
        let mut checks = 0;
        for s in &steps {
            let c = db.collection("m").unwrap();
            let now = clock.now_ms();
            match s {
                Step::Add { x, group, ttl } => {
                    let expiry = ttl.map(|t| Expiry::After(Duration::from_secs(u64::from(t))));
                    let r = NewRecord { vector: vec![f32::from(*x), 1.0], metadata: Some(json!({"g": group})), expiry, ..NewRecord::default() };
                    let id = c.add_batch(vec![r]).unwrap()[0];
                    prop_assert_eq!(id, next);
                    next += 1;
                    model.insert(id, Entry { x: f32::from(*x), group: *group, expires: ttl.map(|t| now + u64::from(t) * 1000) });
                }
                Step::DeleteGroup(g) => {
                    let deleted = c.delete_where(&filter(json!({"g": g}))).unwrap();
                    let before = model.len();
                    model.retain(|_, e| !(e.group == *g && e.expires.is_none_or(|x| x > now)));
                    prop_assert_eq!(deleted, before - model.len());
                }
                Step::DeleteIds(ids) => {
                    let deleted = c.delete_many(ids).unwrap();
                    let before = model.len();
                    model.retain(|id, e| !(ids.contains(id) && e.expires.is_none_or(|x| x > now)));
                    prop_assert_eq!(deleted, before - model.len());
                }
                Step::Advance(secs) => clock.advance(Duration::from_secs(u64::from(*secs))),
                Step::Sweep => {
                    c.sweep_expired().unwrap();
                }
                Step::Reopen => {
                    // The old client goes first: it holds the directory's lock.
                    drop(std::mem::replace(&mut db, VectorLiteClient::new()));
                    db = open();
                }
            }
            let c = db.collection("m").unwrap();
            let now = clock.now_ms();
            let visible: Vec<(&u64, &Entry)> = model.iter().filter(|(_, e)| e.expires.is_none_or(|x| x > now)).collect();
            prop_assert_eq!(c.ids(), visible.iter().map(|(id, _)| **id).collect::<Vec<_>>(), "after {:?}", s);
            prop_assert_eq!(c.count(None), visible.len());
            for g in 0..4u8 {
                let want = visible.iter().filter(|(_, e)| e.group == g).count();
                prop_assert_eq!(c.count(Some(&filter(json!({"g": g})))), want);
                let page = c.list(&ListOptions { filter: Some(filter(json!({"g": g}))), limit: 1_000, ..ListOptions::default() }).unwrap();
                prop_assert_eq!(page.records.len(), want);
            }
            for (id, e) in visible.iter().take(3) {
                let hit = c.search(&[e.x, 1.0], &SearchOptions::new(1).with_ef(200)).unwrap();
                prop_assert!(hit[0].score.abs() <= 1e-4, "{} not found: {:?}", id, hit);
            }
            checks += 1;
        }
        prop_assert_eq!(checks, steps.len());
    }
}
