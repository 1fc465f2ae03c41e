//! The `vectorlite` file tools, run as a user would.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use vectorlite::{CollectionConfig, SaveOptions, VectorLiteClient};

fn run(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vectorlite")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn inspect_and_verify_report_healthy_and_damaged_data() {
    let dir = tempfile::tempdir().unwrap();
    let client = VectorLiteClient::new();
    let c = client.create_collection("docs", CollectionConfig::new(4)).unwrap();
    for i in 0..50 {
        c.add(&[1.0, i as f32, 0.5, 0.25], Some(format!("t{i}")), None).unwrap();
    }
    client.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    let file = dir.path().join("collections/docs.vlc");

    let (ok, out) = run(&["inspect".as_ref(), file.as_os_str()]);
    assert!(ok, "{out}");
    for section in ["ids", "vectors", "live", "texts", "metadata", "hnsw"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(section) && l.ends_with("checksum ok")),
            "{section}:\n{out}"
        );
    }
    assert!(out.contains("\"count\":50"), "{out}");
    let (ok, out) = run(&["verify".as_ref(), dir.path().as_os_str()]);
    assert!(ok && out.contains("docs: 50 records"), "{out}");
    let (ok, out) = run(&["inspect".as_ref(), dir.path().as_os_str()]);
    assert!(ok && out.contains("manifest"), "{out}");

    // Damage one byte of the vectors section.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let (ok, out) = run(&["inspect".as_ref(), file.as_os_str()]);
    assert!(!ok && out.contains("MISMATCH"), "{out}");
    let (ok, out) = run(&["verify".as_ref(), dir.path().as_os_str()]);
    assert!(!ok && out.contains("docs.vlc"), "{out}");
    let (ok, out) = run(&["inspect".as_ref(), dir.path().join("missing.vlc").as_os_str()]);
    assert!(!ok && out.contains("missing.vlc"), "{out}");
}

/// Runs `vectorlite import FILE --data-dir DATA --collection NAME EXTRA...`.
fn import(file: &Path, data: &Path, collection: &str, extra: &[&OsStr]) -> (bool, String) {
    let mut args: Vec<&OsStr> =
        vec!["import".as_ref(), file.as_os_str(), "--data-dir".as_ref(), data.as_os_str()];
    args.extend([OsStr::new("--collection"), OsStr::new(collection)]);
    args.extend(extra);
    run(&args)
}

fn lines(values: &[serde_json::Value]) -> String {
    values.iter().map(|v| v.to_string() + "\n").collect()
}

#[test]
fn import_then_export_round_trips_records_and_reimport_upserts() {
    use serde_json::json;
    let work = tempfile::tempdir().unwrap();
    let (data, input, output) =
        (work.path().join("data"), work.path().join("in.jsonl"), work.path().join("out.jsonl"));
    let records = [
        json!({"id": 10, "vector": [1.0, 0.0, 0.0], "text": "ten", "metadata": {"k": 1}}),
        json!({"id": 11, "vector": [0.0, 1.0, 0.0]}),
        json!({"vector": [0.0, 0.0, 1.0], "metadata": {"k": 2}}),
        json!({"vector": [1.0, 1.0, 0.0], "text": "no id"}),
    ];
    std::fs::write(&input, lines(&records) + "\n").unwrap();
    let flags = ["--metric", "euclidean", "--index", "flat"].map(OsStr::new);
    let (ok, out) = import(&input, &data, "docs", &flags);
    assert!(ok && out.contains("imported 4 records into 'docs'"), "{out}");

    let db = VectorLiteClient::load_from_directory(&data, &Default::default()).unwrap();
    let docs = db.collection("docs").unwrap();
    assert_eq!(docs.len(), 4);
    assert_eq!(docs.config().metric, vectorlite::SimilarityMetric::Euclidean);
    assert_eq!(docs.get(10).unwrap().text.as_deref(), Some("ten"));
    assert_eq!(docs.get(11).unwrap().vector, vec![0.0, 1.0, 0.0]);
    assert_eq!(docs.ids(), vec![10, 11, 12, 13], "missing ids continue after the largest given");

    // Given ids are upserted, so a re-run adds only the lines without ids.
    let (ok, out) = import(&input, &data, "docs", &[]);
    assert!(ok && out.contains("2 new, 6 in all"), "{out}");

    let (ok, out) = run(&[
        "export".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--collection".as_ref(),
        "docs".as_ref(),
        "--out".as_ref(),
        output.as_os_str(),
    ]);
    assert!(ok, "{out}");
    let exported: Vec<vectorlite::Record> =
        std::fs::read_to_string(&output).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let db = VectorLiteClient::load_from_directory(&data, &Default::default()).unwrap();
    let docs = db.collection("docs").unwrap();
    let expected: Vec<vectorlite::Record> = docs.ids().into_iter().map(|id| docs.get(id).unwrap()).collect();
    assert_eq!(exported.len(), 6);
    assert_eq!(exported, expected);
}

#[test]
fn a_bad_line_fails_the_import_by_number_and_saves_nothing() {
    use serde_json::json;
    let work = tempfile::tempdir().unwrap();
    let (data, input) = (work.path().join("data"), work.path().join("in.jsonl"));
    let cases = [
        (json!({"vector": [1.0, 2.0, 3.0]}), "line 3"),
        (json!({"metadata": {"a": 1}}), "line 3: a record needs a vector or a text"),
        (json!({"vector": [1.0, 2.0], "colour": "red"}), "line 3 is not a record"),
    ];
    for (bad, message) in cases {
        let good = json!({"vector": [1.0, 2.0]});
        std::fs::write(&input, lines(&[good.clone(), good, bad])).unwrap();
        let (ok, out) = import(&input, &data, "c", &[]);
        assert!(!ok && out.contains(message), "{message}: {out}");
        let db = VectorLiteClient::open(&data, Default::default()).unwrap();
        assert!(!db.has_collection("c"), "nothing was written, not even the collection");
    }
}

#[cfg(feature = "embed")]
#[test]
fn import_embeds_text_only_lines_with_the_model() {
    use serde_json::json;
    let work = tempfile::tempdir().unwrap();
    let (data, input) = (work.path().join("data"), work.path().join("in.jsonl"));
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    let notes = [
        json!({"text": "the user drinks green tea", "metadata": {"kind": "preference"}}),
        json!({"id": 100, "text": "the user lives in Oslo"}),
    ];
    std::fs::write(&input, lines(&notes)).unwrap();
    let (ok, out) = import(&input, &data, "notes", &["--model-dir".as_ref(), model.as_os_str()]);
    assert!(ok, "{out}");
    let db = VectorLiteClient::load_from_directory(&data, &Default::default()).unwrap();
    let c = db.collection("notes").unwrap();
    assert_eq!((c.len(), c.config().dimension), (2, 384));
    assert!(
        c.embedding_model().is_some_and(|m| m.starts_with("all-MiniLM-L6-v2@")),
        "{:?}",
        c.embedding_model()
    );
    let oslo = c.get(100).unwrap();
    assert_eq!(oslo.text.as_deref(), Some("the user lives in Oslo"));
    let norm: f32 = oslo.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "an embedding, not zeros: norm {norm}");
}
