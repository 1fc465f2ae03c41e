//! Fuzz drivers on stable Rust: property tests that feed hostile bytes to every parser of
//! untrusted input (the snapshot reader, the log scanner, the op decoder) and hostile JSON to
//! the filter parser. None may panic, hang or allocate beyond its input; whatever parses must
//! then be usable. CI runs a short pass; a long run is
//! `PROPTEST_CASES=200000 cargo test --lib fuzz_ -- --nocapture`.

use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::collection::{Collection, NewRecord, SearchOptions};
use crate::config::{CollectionConfig, HnswParams, IndexType, SimilarityMetric};
use crate::filter::Filter;
use crate::persist::oplog::Op;
use crate::persist::snapshot;
use crate::persist::wal::segment::{SEGMENT_MAGIC, encode_frames, scan_bytes};
use crate::persist::{Compression, SaveOptions};

/// Valid files to start from: Flat and HNSW, uncompressed (so mutations reach the payloads)
/// and zstd.
fn seed_files() -> Vec<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("vl-fuzz-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let mut files = Vec::new();
    let hnsw = IndexType::HNSW(HnswParams { m: 4, ef_construction: 16, ef_search: 8 });
    for (i, index) in [IndexType::Flat, hnsw].into_iter().enumerate() {
        let config = CollectionConfig::new(3).with_metric(SimilarityMetric::Euclidean).with_index(index);
        let c = Collection::new("fuzz", config).unwrap_or_else(|e| panic!("{e}"));
        let records = (0..40)
            .map(|j| {
                NewRecord::new(vec![j as f32, (j % 7) as f32, 1.0])
                    .with_text(format!("t{j}"))
                    .with_metadata(json!({"j": j, "tag": ["a", "b"]}))
            })
            .collect();
        c.add_batch(records).unwrap_or_else(|e| panic!("{e}"));
        c.delete(3).unwrap_or_else(|e| panic!("{e}"));
        for compression in [Compression::None, Compression::Zstd(1)] {
            let path = dir.join(format!("{i}-{compression:?}.vlc"));
            c.save_to_file(&path, &SaveOptions { compression, ..SaveOptions::default() })
                .unwrap_or_else(|e| panic!("{e}"));
            files.push(std::fs::read(&path).unwrap_or_default());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    files
}

/// Recomputes every section checksum of an uncompressed file, so mutations of the payloads
/// get past the checksums and reach the decoders and the graph validation.
fn fix_checksums(bytes: &mut [u8]) {
    let Some(len) = bytes.get(16..20) else { return };
    let header = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let mut at = 24 + header;
    while at + 32 <= bytes.len() {
        let stored = u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap_or([0; 8]));
        let Some(end) = (at + 32).checked_add(stored as usize).filter(|&e| e <= bytes.len()) else { return };
        let crc = crc32c::crc32c(&bytes[at + 32..end]);
        bytes[at + 24..at + 28].copy_from_slice(&crc.to_le_bytes());
        if bytes[at..at + 4] == [0; 4] {
            return;
        }
        at = end;
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Set(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match m {
        Mutation::Flip(i, x) => {
            if let Some(b) = bytes.get_mut(i % n) {
                *b ^= x;
            }
        }
        Mutation::Set(i, x) => {
            if let Some(b) = bytes.get_mut(i % n) {
                *b = *x;
            }
        }
        Mutation::Truncate(i) => bytes.truncate(i % n),
        Mutation::Insert(i, v) => {
            let at = i % n;
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Remove(i, len) => {
            let at = i % n;
            let end = (at + len).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
    }
}

/// Loads `bytes` as a collection file; whatever loads must answer searches and writes.
fn load_and_use(bytes: &[u8]) -> bool {
    let loaded = snapshot::load_from(
        Path::new("fuzz.vlc"),
        &mut Cursor::new(bytes),
        bytes.len() as u64,
        64 << 20,
        &|_| {},
    );
    let Ok(loaded) = loaded else { return false };
    {
        let c = Collection::from_loaded(loaded);
        let dim = c.config().dimension;
        let _ = c.search(&vec![0.5; dim], &SearchOptions::new(5));
        let filtered = SearchOptions::new(3)
            .with_filter(Filter::parse(&json!({"j": {"$gt": 5}})).unwrap_or_else(|e| panic!("{e}")));
        let _ = c.search(&vec![0.5; dim], &filtered);
        let _ = c.add(&vec![1.0; dim], None, None);
        for id in c.ids().into_iter().take(5) {
            let _ = c.delete(id);
        }
        c.compact();
    }
    true
}

/// Cases for the hand-rolled fuzz loops: `PROPTEST_CASES`, as for the proptest ones.
fn cases(default: usize) -> usize {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

#[test]
fn fuzz_snapshot_reader() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let seeds = seed_files();
    let n = cases(2_000);
    let seed = 0x5EED;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut loaded, mut refused) = (0, 0);
    for case in 0..n {
        let mut bytes = seeds[case % seeds.len()].clone();
        let len = bytes.len();
        for _ in 0..rng.random_range(1..4) {
            let m = match rng.random_range(0..5) {
                0 => Mutation::Flip(rng.random_range(0..len), rng.random_range(1..=255)),
                1 => Mutation::Set(rng.random_range(0..len), rng.random()),
                2 => Mutation::Truncate(rng.random_range(0..len)),
                3 => Mutation::Insert(rng.random_range(0..len), vec![rng.random(); rng.random_range(1..9)]),
                _ => Mutation::Remove(rng.random_range(0..len), rng.random_range(1..64)),
            };
            mutate(&mut bytes, &m);
        }
        // Most of the time, past the checksums, so the mutation reaches the decoders and the
        // graph validation (uncompressed seeds only; a zstd stream just fails to decode).
        if rng.random_bool(0.8) {
            fix_checksums(&mut bytes);
        }
        if load_and_use(&bytes) { loaded += 1 } else { refused += 1 }
    }
    eprintln!("snapshot fuzz (seed {seed}): {n} files, {loaded} loaded and used, {refused} refused");
    assert!(loaded >= n / 50 && refused >= n / 4, "the mutations did not reach both outcomes");
}

/// Hostile HNSW graphs that pass the file's checksums: whatever `Graph::from_parts` accepts
/// must search and grow without panicking (defect 8 of the hardening review).
#[test]
fn fuzz_graph_parts() {
    use crate::index::hnsw::graph::{Graph, GraphParts};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let seed = 0x6A;
    let mut rng = StdRng::seed_from_u64(seed);
    let config = CollectionConfig::new(2)
        .with_metric(SimilarityMetric::Euclidean)
        .with_index(IndexType::HNSW(HnswParams { m: 2, ef_construction: 8, ef_search: 4 }));
    let c = Collection::new("g", config).unwrap_or_else(|e| panic!("{e}"));
    c.add_batch((0..60).map(|i| NewRecord::new(vec![i as f32, (i % 5) as f32])).collect())
        .unwrap_or_else(|e| panic!("{e}"));
    let parts = c.graph_parts();
    let n = cases(3_000);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..n {
        let mut p = GraphParts {
            m: parts.m,
            entry: parts.entry,
            levels: parts.levels.clone(),
            layer0: parts.layer0.clone(),
            upper_start: parts.upper_start.clone(),
            upper: parts.upper.clone(),
        };
        for _ in 0..rng.random_range(1..4) {
            match rng.random_range(0..5) {
                0 if !p.layer0.is_empty() => {
                    let i = rng.random_range(0..p.layer0.len());
                    p.layer0[i] = rng.random_range(0..70u32)
                }
                1 if !p.upper.is_empty() => {
                    let i = rng.random_range(0..p.upper.len());
                    p.upper[i] = rng.random_range(0..70u32)
                }
                2 if !p.levels.is_empty() => {
                    let i = rng.random_range(0..p.levels.len());
                    p.levels[i] = rng.random_range(0..4)
                }
                3 if !p.upper_start.is_empty() => {
                    let i = rng.random_range(0..p.upper_start.len());
                    p.upper_start[i] = if rng.random_bool(0.5) { u32::MAX } else { rng.random_range(0..40) }
                }
                _ => p.entry = Some((rng.random_range(0..70u32), rng.random_range(0..4))),
            }
        }
        match Graph::from_parts(p, 2) {
            Ok(graph) => {
                accepted += 1;
                let probe = c.with_graph(graph);
                for q in [[0.0, 0.0], [30.0, 2.0], [59.0, 4.0]] {
                    let _ = probe.search(&q, &SearchOptions::new(5));
                }
                probe.add(&[1.5, 1.5], None, None).unwrap_or_else(|e| panic!("{e}"));
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("graph fuzz (seed {seed}): {n} graphs, {accepted} accepted and searched, {refused} refused");
    assert!(accepted >= n / 20 && refused >= n / 4, "the mutations did not reach both outcomes");
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_log_scanner(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
                        mutations in proptest::collection::vec(mutation(), 0..4)) {
        let mut bytes = SEGMENT_MAGIC.to_vec();
        let mut seq = 1;
        for p in &payloads {
            seq = encode_frames(&mut bytes, seq, p) + 1;
        }
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        let (records, _) = scan_bytes(&bytes);
        for r in records {
            prop_assert!(r.first_seq <= r.seq);
            let _ = Op::decode(&r.payload);
        }
    }

    #[test]
    fn fuzz_op_decoder(which in 0..7usize, mutations in proptest::collection::vec(mutation(), 0..4), raw in proptest::collection::vec(any::<u8>(), 0..96)) {
        let ops = crate::persist::oplog::tests::sample_ops();
        let mut bytes = ops[which % ops.len()].encode().unwrap_or_default();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        for input in [&bytes, &raw] {
            if let Ok(op) = Op::decode(input) {
                let again = op.encode().unwrap_or_default();
                prop_assert_eq!(Op::decode(&again).ok(), Some(op));
            }
        }
    }

    #[test]
    fn fuzz_filter_parser(filter in json_value(4), metadata in json_value(3)) {
        if let Ok(f) = Filter::parse(&filter) {
            let _ = f.matches(Some(&metadata));
            let _ = f.matches(None);
        }
    }
}

/// Arbitrary JSON, biased towards filter syntax (operator keys, dotted paths).
fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("$and".to_owned()),
        Just("$or".to_owned()),
        Just("$not".to_owned()),
        Just("$eq".to_owned()),
        Just("$ne".to_owned()),
        Just("$gt".to_owned()),
        Just("$lte".to_owned()),
        Just("$in".to_owned()),
        Just("$nin".to_owned()),
        Just("$exists".to_owned()),
        Just("$contains".to_owned()),
        Just("$regex".to_owned()),
        Just("a".to_owned()),
        Just("a.b".to_owned()),
        Just("".to_owned()),
        "[a-c.$]{1,4}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-c]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Hostile arguments to every MCP tool: each call answers with a result or a tool error;
/// none panics. Keys are the tools' own fields, values arbitrary JSON.
#[cfg(feature = "mcp")]
#[test]
fn fuzz_mcp_tool_arguments() {
    use std::cell::Cell;
    use std::sync::Arc;

    use proptest::test_runner::{Config, TestRunner};

    use crate::mcp::MemoryTools;
    use crate::{HashEmbedder, VectorLiteClient};

    let client = Arc::new(VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(8))));
    let tools = MemoryTools::new(client, "fuzz").unwrap_or_else(|e| panic!("{e}"));
    let seed = json!({"text": ["a b", "b c", "c a"], "metadata": {"a": 1}});
    let seeded =
        tools.call("remember", seed.as_object().cloned()).unwrap_or_else(|| panic!("remember is a tool"));
    assert_ne!(seeded.is_error, Some(true), "{seeded:?}");
    let names = ["remember", "recall", "forget", "list_memories", "list_collections", "collection_info"];
    let field = prop_oneof![
        Just("text"),
        Just("query"),
        Just("k"),
        Just("filter"),
        Just("where"),
        Just("metadata"),
        Just("ids"),
        Just("limit"),
        Just("offset"),
        Just("collection"),
        Just("ttl_seconds"),
        Just("min_score"),
        Just("other"),
    ];
    let args = proptest::collection::btree_map(field.prop_map(str::to_owned), json_value(3), 0..4);
    let (answered, failed) = (Cell::new(0), Cell::new(0));
    let mut runner = TestRunner::new(Config { cases: 600, failure_persistence: None, ..Config::default() });
    runner
        .run(&(0..names.len(), args), |(tool, args)| {
            let result = tools.call(names[tool], Some(args.into_iter().collect()));
            let result = result.ok_or_else(|| TestCaseError::fail("a listed tool was not found"))?;
            prop_assert!(!result.content.is_empty(), "every answer has text");
            if result.is_error == Some(true) {
                failed.set(failed.get() + 1);
            } else {
                prop_assert!(result.structured_content.is_some(), "a success has structured content");
                answered.set(answered.get() + 1);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (answered, failed) = (answered.get(), failed.get());
    eprintln!("mcp fuzz: {answered} calls answered, {failed} tool errors");
    assert!(answered >= 20 && failed >= 200, "the arguments did not reach both outcomes");
}
