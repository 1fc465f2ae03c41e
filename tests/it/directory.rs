//! Whole-database directories (manifest as commit point, incremental saves, crash recovery)
//! and merging, with exact merge statistics.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::json;
use vectorlite::{
    Collection, ConflictPolicy, Error, LoadMode, LoadOptions, MergeOptions, SaveOptions, SearchOptions,
    SimilarityMetric, VectorLiteClient,
};

use crate::common::{data, fill, flat, hnsw};

fn sample_client() -> VectorLiteClient {
    let client = VectorLiteClient::new();
    let (base, _) = data(400, 1, 12, 2);
    fill(&client.create_collection("docs", hnsw(12, SimilarityMetric::Cosine)).unwrap(), &base);
    fill(&client.create_collection("exact", flat(12, SimilarityMetric::Euclidean)).unwrap(), &base);
    client.create_collection("empty", flat(3, SimilarityMetric::DotProduct)).unwrap();
    client
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

fn assert_same_client(a: &VectorLiteClient, b: &VectorLiteClient) {
    assert_eq!(a.list_collections(), b.list_collections());
    for name in a.list_collections() {
        let (x, y) = (a.collection(&name).unwrap(), b.collection(&name).unwrap());
        assert_eq!(x.config(), y.config());
        assert_eq!(x.ids(), y.ids());
        for id in x.ids() {
            assert_eq!(x.get(id).unwrap(), y.get(id).unwrap());
        }
    }
}

#[test]
fn directories_round_trip_with_manifest_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let client = sample_client();
    client.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    for f in [
        "manifest.json",
        "config.json",
        "collections/docs.vlc",
        "collections/exact.vlc",
        "collections/empty.vlc",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format_version"], 2);
    let docs = manifest["collections"].as_array().unwrap().iter().find(|e| e["name"] == "docs").unwrap();
    assert_eq!((docs["count"].as_u64(), docs["dimension"].as_u64()), (Some(400), Some(12)));
    assert_eq!(docs["file"], "collections/docs.vlc");
    let back = VectorLiteClient::load_from_directory(dir.path(), &LoadOptions::default()).unwrap();
    assert_same_client(&client, &back);
}

#[test]
fn saving_again_rewrites_only_changed_collections() {
    let dir = tempfile::tempdir().unwrap();
    let client = sample_client();
    client.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    let files = |n: &str| dir.path().join(format!("collections/{n}.vlc"));
    let before: HashMap<&str, u64> =
        ["docs", "exact", "empty"].iter().map(|n| (*n, inode(&files(n)))).collect();

    client.collection("exact").unwrap().add(&[0.5; 12], None, None).unwrap();
    client.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    assert_eq!(inode(&files("docs")), before["docs"], "unchanged: not rewritten");
    assert_eq!(inode(&files("empty")), before["empty"]);
    assert_ne!(inode(&files("exact")), before["exact"], "changed: rewritten");

    // A database loaded from the directory and saved back unchanged rewrites nothing.
    let loaded = VectorLiteClient::load_from_directory(dir.path(), &LoadOptions::default()).unwrap();
    let now: HashMap<&str, u64> = ["docs", "exact", "empty"].iter().map(|n| (*n, inode(&files(n)))).collect();
    loaded.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    for n in ["docs", "exact", "empty"] {
        assert_eq!(inode(&files(n)), now[n], "{n}");
    }
    // Deleting a collection drops its file once the new manifest is committed.
    loaded.delete_collection("empty").unwrap();
    loaded.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    assert!(!files("empty").exists());
    let again = VectorLiteClient::load_from_directory(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(again.list_collections(), ["docs", "exact"]);
}

#[test]
fn a_crash_before_the_manifest_keeps_the_old_database() {
    let dir = tempfile::tempdir().unwrap();
    let client = sample_client();
    client.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    // What a save killed before its manifest leaves: a finished .next file and a torn temp file.
    let other = Collection::new("exact", flat(12, SimilarityMetric::Euclidean)).unwrap();
    other.add(&[9.0; 12], None, None).unwrap();
    let coll = dir.path().join("collections");
    other.save_to_file(coll.join("exact.vlc.next"), &SaveOptions::default()).unwrap();
    std::fs::write(coll.join(".exact.vlc.next.tmp-1-0"), b"torn").unwrap();
    let back = VectorLiteClient::load_from_directory(dir.path(), &LoadOptions::default()).unwrap();
    assert_same_client(&client, &back);
    assert!(
        !coll.join("exact.vlc.next").exists() && !coll.join(".exact.vlc.next.tmp-1-0").exists(),
        "cleaned up"
    );
}

#[test]
fn a_crash_after_the_manifest_rolls_forward() {
    let dir = tempfile::tempdir().unwrap();
    let client = sample_client();
    client.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    let coll = dir.path().join("collections");
    // Simulate: the next save wrote exact.vlc.next and the manifest, then died before the rename.
    client.collection("exact").unwrap().add(&[7.0; 12], Some("after".into()), None).unwrap();
    let staging = tempfile::tempdir().unwrap();
    client.save_to_directory(staging.path(), &SaveOptions::default()).unwrap();
    std::fs::copy(staging.path().join("collections/exact.vlc"), coll.join("exact.vlc.next")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let staged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(staging.path().join("manifest.json")).unwrap()).unwrap();
    for e in manifest["collections"].as_array_mut().unwrap() {
        if e["name"] == "exact" {
            *e = staged["collections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "exact")
                .unwrap()
                .clone();
        }
    }
    std::fs::write(dir.path().join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let back = VectorLiteClient::load_from_directory(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(back.collection("exact").unwrap().len(), 401);
    assert!(!coll.join("exact.vlc.next").exists(), "rolled into place");
}

#[test]
fn damaged_directories_fail_whole_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    sample_client().save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    let file = dir.path().join("collections/docs.vlc");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&file, &bytes).unwrap();
    let err = VectorLiteClient::load_from_directory(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("docs.vlc"), "{err}");

    let target = sample_client();
    let before = target.collection("docs").unwrap().len();
    assert!(target.merge_from_directory(dir.path(), &MergeOptions::default()).is_err());
    assert_eq!(target.collection("docs").unwrap().len(), before, "a failed merge changes nothing");

    let empty = tempfile::tempdir().unwrap();
    assert!(VectorLiteClient::load_from_directory(empty.path(), &LoadOptions::default()).is_err());
    std::fs::write(empty.path().join("manifest.json"), b"{\"collections\": [").unwrap();
    assert!(VectorLiteClient::load_from_directory(empty.path(), &LoadOptions::default()).is_err());
}

/// Target ids 0..=2, source ids 1..=4 (vectors differ), both euclidean, dimension 2.
fn merge_pair(dir: &Path) -> (Collection, std::path::PathBuf) {
    let target = Collection::new("t", flat(2, SimilarityMetric::Euclidean)).unwrap();
    for id in 0..=2 {
        target.insert(id, &[id as f32, 0.0], Some(format!("target {id}")), None).unwrap();
    }
    let source = Collection::new("s", hnsw(2, SimilarityMetric::Euclidean)).unwrap();
    for id in 1..=4 {
        source.insert(id, &[id as f32, 1.0], Some(format!("source {id}")), Some(json!({"id": id}))).unwrap();
    }
    let path = dir.join("source.vlc");
    source.save_to_file(&path, &SaveOptions::default()).unwrap();
    (target, path)
}

#[test]
fn merge_policies_give_exact_stats() {
    let dir = tempfile::tempdir().unwrap();
    let opts = |p| MergeOptions { on_conflict: p, ..MergeOptions::default() };

    let (t, path) = merge_pair(dir.path());
    let s = t.merge_from_file(&path, &opts(ConflictPolicy::Remap)).unwrap();
    assert_eq!((s.vectors_added, s.vectors_skipped), (4, 0));
    assert_eq!(s.id_remappings, HashMap::from([(1, 5), (2, 6)]));
    assert_eq!(t.ids(), [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(t.get(1).unwrap().text.as_deref(), Some("target 1"));
    assert_eq!(t.get(5).unwrap().text.as_deref(), Some("source 1"));
    assert_eq!(t.get(6).unwrap().metadata, Some(json!({"id": 2})));
    assert_eq!(t.add(&[0.0, 0.0], None, None).unwrap(), 7, "ids continue after the merge");

    let (t, path) = merge_pair(dir.path());
    let s = t.merge_from_file(&path, &opts(ConflictPolicy::Skip)).unwrap();
    assert_eq!((s.vectors_added, s.vectors_skipped, s.id_remappings.len()), (2, 2, 0));
    assert_eq!(t.ids(), [0, 1, 2, 3, 4]);
    assert_eq!(t.get(2).unwrap().text.as_deref(), Some("target 2"));
    assert_eq!(t.next_id(), 5);

    let (t, path) = merge_pair(dir.path());
    let s = t.merge_from_file(&path, &opts(ConflictPolicy::Overwrite)).unwrap();
    assert_eq!((s.vectors_added, s.vectors_skipped), (4, 0));
    assert_eq!(t.ids(), [0, 1, 2, 3, 4]);
    assert_eq!(t.get(2).unwrap().vector, vec![2.0, 1.0]);
    assert_eq!(t.search(&[2.0, 1.0], &SearchOptions::new(1)).unwrap()[0].id, 2);
}

#[test]
fn merging_incompatible_collections_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = merge_pair(dir.path());
    let wrong_dim = Collection::new("w", flat(3, SimilarityMetric::Euclidean)).unwrap();
    assert!(matches!(
        wrong_dim.merge_from_file(&path, &MergeOptions::default()),
        Err(Error::DimensionMismatch { .. })
    ));
    let wrong_metric = Collection::new("w", flat(2, SimilarityMetric::Cosine)).unwrap();
    wrong_metric.add(&[1.0, 0.0], None, None).unwrap();
    assert!(matches!(
        wrong_metric.merge_from_file(&path, &MergeOptions::default()),
        Err(Error::MetricMismatch { .. })
    ));
    assert_eq!((wrong_dim.len(), wrong_metric.len()), (0, 1));
}

#[test]
fn load_modes_override_merge_or_create() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = merge_pair(dir.path()); // a file of collection "s" with ids 1..=4
    let client = VectorLiteClient::new();
    let s = client.create_collection("s", hnsw(2, SimilarityMetric::Euclidean)).unwrap();
    s.insert(1, &[5.0, 5.0], None, None).unwrap();

    assert_eq!(client.load_collection(&path, LoadMode::Merge).unwrap(), "s");
    let merged = client.collection("s").unwrap();
    assert_eq!(merged.len(), 5, "1 existing + 4 incoming, id 1 remapped");

    assert_eq!(client.load_collection(&path, LoadMode::Override).unwrap(), "s");
    assert_eq!(client.collection("s").unwrap().ids(), [1, 2, 3, 4]);

    assert_eq!(client.load_collection(&path, LoadMode::CreateNew("copy".into())).unwrap(), "copy");
    assert_eq!(client.collection("copy").unwrap().ids(), [1, 2, 3, 4]);
    assert!(matches!(
        client.load_collection(&path, LoadMode::CreateNew("copy".into())),
        Err(Error::CollectionExists { .. })
    ));
    assert!(matches!(
        client.load_collection(&path, LoadMode::CreateNew("bad name".into())),
        Err(Error::InvalidCollectionName { .. })
    ));

    client.save_collection("copy", dir.path().join("copy.vlc"), &SaveOptions::default()).unwrap();
    assert_eq!(
        Collection::load_from_file(dir.path().join("copy.vlc"), &LoadOptions::default()).unwrap().name(),
        "copy"
    );
}

#[test]
fn merging_directories_reports_per_collection_and_total() {
    let dir = tempfile::tempdir().unwrap();
    let source = VectorLiteClient::new();
    source
        .create_collection("a", flat(1, SimilarityMetric::Euclidean))
        .unwrap()
        .insert(0, &[1.0], None, None)
        .unwrap();
    let b = source.create_collection("b", flat(1, SimilarityMetric::Euclidean)).unwrap();
    b.insert(0, &[1.0], None, None).unwrap();
    b.insert(1, &[2.0], None, None).unwrap();
    source.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();

    let target = VectorLiteClient::new();
    target
        .create_collection("a", flat(1, SimilarityMetric::Euclidean))
        .unwrap()
        .insert(0, &[5.0], None, None)
        .unwrap();
    let opts = MergeOptions { on_conflict: ConflictPolicy::Skip, ..MergeOptions::default() };
    let report = target.merge_from_directory(dir.path(), &opts).unwrap();
    assert_eq!((report.collections["a"].vectors_added, report.collections["a"].vectors_skipped), (0, 1));
    assert_eq!(report.collections["b"].vectors_added, 2);
    assert_eq!((report.total.vectors_added, report.total.vectors_skipped), (2, 1));
    assert_eq!(target.list_collections(), ["a", "b"]);
}
