//! Many threads adding, searching and deleting at once; afterwards every count and record is
//! exactly what the threads' own logs say.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use vectorlite::{Filter, NewRecord, SearchOptions, SimilarityMetric, VectorLiteClient};

use crate::common::{flat, hnsw};

const DIM: usize = 16;

fn vector_for(thread: usize, n: usize) -> Vec<f32> {
    (0..DIM).map(|j| ((thread * 1_000 + n) as f32 * 0.37 + j as f32).sin()).collect()
}

#[test]
fn eight_threads_mixing_writes_and_searches_keep_exact_contents() {
    let client = Arc::new(VectorLiteClient::new());
    client.create_collection("shared", hnsw(DIM, SimilarityMetric::Euclidean)).unwrap();
    client.create_collection("other", flat(DIM, SimilarityMetric::Euclidean)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);

    let handles: Vec<_> = (0..8)
        .map(|t| {
            let client = Arc::clone(&client);
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(t as u64);
                let c = client.collection("shared").unwrap();
                let other = client.collection("other").unwrap();
                // id -> (thread, n) for every record this thread added and did not delete.
                let mut mine: HashMap<u64, usize> = HashMap::new();
                let mut n = 0;
                let mut searches = 0;
                while Instant::now() < deadline {
                    match rng.random_range(0..10) {
                        0..=3 => {
                            let id = c.add(&vector_for(t, n), None, Some(json!({"t": t, "n": n}))).unwrap();
                            assert!(mine.insert(id, n).is_none(), "id {id} handed out twice");
                            n += 1;
                        }
                        4 => {
                            let batch: Vec<NewRecord> = (0..20)
                                .map(|i| {
                                    NewRecord::new(vector_for(t, n + i))
                                        .with_metadata(json!({"t": t, "n": n + i}))
                                })
                                .collect();
                            for (i, id) in c.add_batch(batch).unwrap().into_iter().enumerate() {
                                assert!(mine.insert(id, n + i).is_none());
                            }
                            n += 20;
                        }
                        5 if !mine.is_empty() => {
                            let id = *mine.keys().next().unwrap();
                            c.delete(id).unwrap();
                            mine.remove(&id);
                            assert!(!c.contains(id));
                        }
                        6 => {
                            other.add(&vector_for(t, 0), None, None).unwrap();
                        }
                        _ => {
                            let filter = Filter::parse(&json!({"t": t})).unwrap();
                            let opts = SearchOptions::new(5).with_filter(filter);
                            let hits = c.search(&vector_for(t, n / 2), &opts).unwrap();
                            assert!(hits.len() <= 5);
                            // Only this thread writes records tagged `t`: every hit must be one it still holds.
                            for h in &hits {
                                assert!(
                                    mine.contains_key(&h.id),
                                    "thread {t} got id {} it does not hold",
                                    h.id
                                );
                            }
                            assert_eq!(hits.len(), 5.min(mine.len()));
                            searches += 1;
                        }
                    }
                }
                (mine, searches)
            })
        })
        .collect();

    let mut expected: HashMap<u64, (usize, usize)> = HashMap::new();
    let mut total_searches = 0;
    for (t, h) in handles.into_iter().enumerate() {
        let (mine, searches) = h.join().expect("worker panicked");
        total_searches += searches;
        for (id, n) in mine {
            assert!(expected.insert(id, (t, n)).is_none());
        }
    }
    assert!(total_searches > 0);
    let c = client.collection("shared").unwrap();
    assert_eq!(c.len(), expected.len());
    let mut ids = c.ids();
    ids.sort_unstable();
    let mut want: Vec<u64> = expected.keys().copied().collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    let mut found_self = 0;
    for (id, (t, n)) in &expected {
        let r = c.get(*id).unwrap();
        assert_eq!(r.vector, vector_for(*t, *n));
        assert_eq!(r.metadata, Some(json!({"t": t, "n": n})));
        let hit = &c.search(&r.vector, &SearchOptions::new(1).with_ef(128)).unwrap()[0];
        found_self += usize::from(hit.score == 0.0);
    }
    // A graph built by racing writers must still reach (nearly) every record.
    assert!(found_self * 100 >= expected.len() * 99, "{found_self} of {} records reachable", expected.len());
    assert!(!client.collection("other").unwrap().is_empty());
}
