//! The `vectorlite` file tools, run as a user would.

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
