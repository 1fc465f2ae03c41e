//! The write path against a model: random sequences of every kind of write (adds, large and
//! small batches, upserts, deletes, metadata updates, collection create/drop/recreate, merges,
//! checkpoints), with the database closed and recovered from its log at random points. After
//! every step, the database must equal a plain map. `PROPTEST_CASES` sets how many sequences run.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};
use vectorlite::{
    CollectionConfig, ConflictPolicy, DurabilityOptions, Error, IndexType, MergeOptions, NewRecord, Record,
    SaveOptions, SimilarityMetric, SyncPolicy, VectorLiteClient,
};

const NAMES: [&str; 3] = ["flat", "graph", "other"];

#[derive(Debug, Clone)]
enum Action {
    Create(usize),
    Drop(usize),
    Add { coll: usize, n: usize, seed: u32 },
    Upsert { coll: usize, ids: Vec<u64>, seed: u32 },
    Insert { coll: usize, id: u64, seed: u32 },
    Delete { coll: usize, id: u64 },
    Metadata { coll: usize, id: u64, value: Option<u8> },
    Merge { from: usize, into: usize, policy: u8 },
    Checkpoint,
    Reopen,
}

fn action() -> impl Strategy<Value = Action> {
    let coll = 0..NAMES.len();
    prop_oneof![
        1 => coll.clone().prop_map(Action::Create),
        1 => coll.clone().prop_map(Action::Drop),
        4 => (coll.clone(), prop_oneof![3 => 1..6usize, 1 => 200..400usize], any::<u32>())
            .prop_map(|(coll, n, seed)| Action::Add { coll, n, seed }),
        3 => (coll.clone(), proptest::collection::vec(0..60u64, 1..8), any::<u32>())
            .prop_map(|(coll, ids, seed)| Action::Upsert { coll, ids, seed }),
        2 => (coll.clone(), 0..80u64, any::<u32>()).prop_map(|(coll, id, seed)| Action::Insert { coll, id, seed }),
        3 => (coll.clone(), 0..80u64).prop_map(|(coll, id)| Action::Delete { coll, id }),
        2 => (coll.clone(), 0..80u64, proptest::option::of(any::<u8>()))
            .prop_map(|(coll, id, value)| Action::Metadata { coll, id, value }),
        1 => (coll.clone(), coll, 0..3u8).prop_map(|(from, into, policy)| Action::Merge { from, into, policy }),
        1 => Just(Action::Checkpoint),
        2 => Just(Action::Reopen),
    ]
}

type Stored = (Vec<f32>, Option<String>, Option<Value>);

/// What the database must hold: records per collection, and each collection's id counter.
#[derive(Debug, Default, Clone)]
struct Model {
    collections: BTreeMap<String, (BTreeMap<u64, Stored>, u64)>,
}

fn vector(seed: u32, i: usize) -> Vec<f32> {
    vec![(seed % 1000) as f32, i as f32, ((seed >> 10) % 97) as f32]
}

fn config(coll: usize) -> CollectionConfig {
    let index = if coll == 0 { IndexType::Flat } else { IndexType::default() };
    CollectionConfig::new(3).with_metric(SimilarityMetric::Euclidean).with_index(index)
}

fn options() -> DurabilityOptions {
    // Small thresholds, so that automatic checkpoints happen between the explicit ones.
    DurabilityOptions { sync: SyncPolicy::Never, checkpoint_bytes: 32 << 10, ..DurabilityOptions::default() }
}

fn open(dir: &Path) -> VectorLiteClient {
    VectorLiteClient::open(dir, options()).unwrap_or_else(|e| panic!("open: {e}"))
}

/// Applies `action` to the database and to the model; both must accept or both refuse.
fn step(db: &mut VectorLiteClient, model: &mut Model, dir: &Path, scratch: &Path, action: &Action) {
    match action {
        Action::Create(c) => {
            let name = NAMES[*c];
            let created = db.create_collection(name, config(*c));
            match model.collections.get(name) {
                Some(_) => assert!(matches!(created, Err(Error::CollectionExists { .. }))),
                None => {
                    created.unwrap();
                    model.collections.insert(name.into(), (BTreeMap::new(), 0));
                }
            }
        }
        Action::Drop(c) => {
            let name = NAMES[*c];
            assert_eq!(db.delete_collection(name).is_ok(), model.collections.remove(name).is_some());
        }
        Action::Add { coll, n, seed } => {
            let Some((records, next)) = model.collections.get_mut(NAMES[*coll]) else { return };
            let c = db.collection(NAMES[*coll]).unwrap();
            let batch =
                (0..*n).map(|i| NewRecord::new(vector(*seed, i)).with_text(format!("{seed}-{i}"))).collect();
            let ids = c.add_batch(batch).unwrap();
            assert_eq!(ids, (*next..*next + *n as u64).collect::<Vec<_>>(), "ids continue the counter");
            for (i, id) in ids.into_iter().enumerate() {
                records.insert(id, (vector(*seed, i), Some(format!("{seed}-{i}")), None));
            }
            *next += *n as u64;
        }
        Action::Upsert { coll, ids, seed } => {
            let Some((records, next)) = model.collections.get_mut(NAMES[*coll]) else { return };
            let c = db.collection(NAMES[*coll]).unwrap();
            let batch: Vec<Record> = ids
                .iter()
                .enumerate()
                .map(|(i, &id)| Record {
                    id,
                    vector: vector(*seed, i),
                    text: None,
                    metadata: Some(json!({"u": i})),
                    ..Default::default()
                })
                .collect();
            c.upsert_batch(batch.clone()).unwrap();
            for r in batch {
                *next = (*next).max(r.id + 1);
                records.insert(r.id, (r.vector, None, r.metadata));
            }
        }
        Action::Insert { coll, id, seed } => {
            let Some((records, next)) = model.collections.get_mut(NAMES[*coll]) else { return };
            let c = db.collection(NAMES[*coll]).unwrap();
            let inserted = c.insert(*id, &vector(*seed, 0), None, None);
            if records.contains_key(id) {
                assert!(matches!(inserted, Err(Error::IdExists { .. })));
            } else {
                inserted.unwrap();
                records.insert(*id, (vector(*seed, 0), None, None));
                *next = (*next).max(id + 1);
            }
        }
        Action::Delete { coll, id } => {
            let Some((records, _)) = model.collections.get_mut(NAMES[*coll]) else { return };
            let c = db.collection(NAMES[*coll]).unwrap();
            assert_eq!(c.delete(*id).is_ok(), records.remove(id).is_some());
        }
        Action::Metadata { coll, id, value } => {
            let Some((records, _)) = model.collections.get_mut(NAMES[*coll]) else { return };
            let c = db.collection(NAMES[*coll]).unwrap();
            let metadata = value.map(|v| json!({ "m": v }));
            let updated = c.update_metadata(*id, metadata.clone());
            match records.get_mut(id) {
                Some(r) => {
                    updated.unwrap();
                    r.2 = metadata;
                }
                None => assert!(matches!(updated, Err(Error::IdNotFound { .. }))),
            }
        }
        Action::Merge { from, into, policy } => {
            let (Some(source), Some(_)) =
                (model.collections.get(NAMES[*from]).cloned(), model.collections.get(NAMES[*into]))
            else {
                return;
            };
            let file = scratch.join("merge.vlc");
            db.collection(NAMES[*from]).unwrap().save_to_file(&file, &SaveOptions::default()).unwrap();
            let on_conflict =
                [ConflictPolicy::Remap, ConflictPolicy::Skip, ConflictPolicy::Overwrite][*policy as usize];
            let stats = db
                .collection(NAMES[*into])
                .unwrap()
                .merge_from_file(&file, &MergeOptions { on_conflict, ..MergeOptions::default() })
                .unwrap();
            let (records, next) = model.collections.get_mut(NAMES[*into]).unwrap();
            let incoming_top = source.0.keys().map(|id| id + 1).max().unwrap_or(0);
            let mut fresh = (*next).max(incoming_top);
            for (id, r) in source.0 {
                if records.contains_key(&id) {
                    match on_conflict {
                        ConflictPolicy::Skip => continue,
                        ConflictPolicy::Overwrite => {
                            records.insert(id, r);
                        }
                        ConflictPolicy::Remap => {
                            assert_eq!(stats.id_remappings.get(&id), Some(&fresh));
                            records.insert(fresh, r);
                            fresh += 1;
                        }
                    }
                } else {
                    records.insert(id, r);
                }
            }
            *next = fresh;
        }
        Action::Checkpoint => db.checkpoint().unwrap(),
        Action::Reopen => {
            // Closed without a checkpoint, as a crash would leave it: the log has everything.
            *db = VectorLiteClient::new();
            *db = open(dir);
        }
    }
}

fn assert_equal(db: &VectorLiteClient, model: &Model, after: &Action) {
    assert_eq!(
        db.list_collections(),
        model.collections.keys().cloned().collect::<Vec<_>>(),
        "after {after:?}"
    );
    for (name, (records, next)) in &model.collections {
        let c = db.collection(name).unwrap();
        assert_eq!(c.ids(), records.keys().copied().collect::<Vec<_>>(), "{name} after {after:?}");
        for (id, (vector, text, metadata)) in records {
            let r = c.get(*id).unwrap();
            assert_eq!(
                (&r.vector, &r.text, &r.metadata),
                (vector, text, metadata),
                "{name}/{id} after {after:?}"
            );
        }
        assert_eq!(c.next_id(), *next, "{name}'s id counter after {after:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_database_always_equals_the_model(actions in proptest::collection::vec(action(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let mut db = open(dir.path());
        let mut model = Model::default();
        let mut steps = 0;
        for a in std::iter::once(Action::Create(1)).chain(actions) {
            step(&mut db, &mut model, dir.path(), scratch.path(), &a);
            assert_equal(&db, &model, &a);
            steps += 1;
        }
        // And once more from the disk alone.
        drop(db);
        assert_equal(&open(dir.path()), &model, &Action::Reopen);
        prop_assert!(steps >= 2);
    }
}
