//! The built-in all-MiniLM-L6-v2 embedder against the reference implementation, and the text
//! API of collections (with the real model and with the model-free HashEmbedder).

use std::sync::{Arc, OnceLock};

use serde_json::json;
use vectorlite::{
    CollectionConfig, EmbeddingFunction, Error, Filter, HashEmbedder, LoadOptions, SaveOptions,
    SearchOptions, VectorLiteClient,
};

#[cfg(feature = "embed")]
fn model() -> Arc<vectorlite::MiniLmEmbedder> {
    static MODEL: OnceLock<Arc<vectorlite::MiniLmEmbedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(vectorlite::MiniLmEmbedder::discover(None).unwrap_or_else(|e| {
                panic!("{e}\nThe embedding tests need the model: run `bash scripts/fetch-model.sh` first.")
            }))
        })
        .clone()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

#[cfg(feature = "embed")]
#[test]
fn minilm_matches_sentence_transformers() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/minilm_reference.json")).unwrap();
    let m = model();
    assert_eq!(m.dimension().unwrap(), 384);
    let cases = fixture["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let batch = m.embed_batch(&texts).unwrap();
    for (case, got) in cases.iter().zip(&batch) {
        let want: Vec<f32> =
            case["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let c = cosine(got, &want);
        println!("{:>3} tokens: cosine {c:.6}", case["tokens"]);
        // The issue asks 0.999; f16 weights measure >= 0.999999, so a slip shows long before.
        assert!(c >= 0.9999, "cosine {c} for {:?} ({} tokens)", case["text"], case["tokens"]);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "vectors are L2-normalised");
    }
    // One at a time gives the same vectors as a padded batch.
    for (t, v) in texts.iter().zip(&batch) {
        assert!(cosine(&m.embed(t).unwrap(), v) > 0.99999, "{t:?}");
    }
}

#[cfg(feature = "embed")]
#[test]
fn related_sentences_score_above_unrelated_ones() {
    let m = model();
    let pairs = [
        ("How do I reset my password?", "I forgot my login credentials", "The weather in Lisbon is sunny"),
        (
            "A dog is playing fetch in the park",
            "A puppy chases a ball on the grass",
            "Quarterly revenue grew by 8%",
        ),
        (
            "The patient has a high fever",
            "The sick person's temperature is elevated",
            "She bought a new guitar",
        ),
        (
            "Rust is a systems programming language",
            "C++ and Rust are used for low-level code",
            "Bananas are rich in potassium",
        ),
    ];
    for (anchor, related, unrelated) in pairs {
        let v = m.embed_batch(&[anchor, related, unrelated]).unwrap();
        let (r, u) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        assert!(r > u + 0.2, "{anchor:?}: related {r:.3} vs unrelated {u:.3}");
    }
}

#[cfg(feature = "embed")]
#[test]
fn a_missing_model_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = vectorlite::MiniLmEmbedder::discover(Some(dir.path())) else { panic!("no model there") };
    assert!(matches!(err, Error::ModelNotFound { .. }));
    assert!(err.to_string().contains("scripts/fetch-model.sh"), "{err}");
}

/// A tiny BERT (hidden 4, 2 heads, 1 layer) as a model directory: the real tokenizer, the given
/// config fields over a valid base, and safetensors holding `tensors` (name, shape) filled
/// with deterministic values.
#[cfg(feature = "embed")]
fn tiny_model(config: serde_json::Value, tensors: &[(String, Vec<usize>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut base = json!({
        "vocab_size": 30522, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 8, "hidden_act": "gelu", "max_position_embeddings": 512,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12
    });
    for (k, v) in config.as_object().unwrap() {
        base[k] = v.clone();
    }
    std::fs::write(dir.path().join("config.json"), base.to_string()).unwrap();
    let tokenizer = std::path::Path::new(vectorlite::DEFAULT_MODEL_DIR).join("tokenizer.json");
    std::fs::copy(tokenizer, dir.path().join("tokenizer.json")).unwrap();
    let (mut header, mut data) = (serde_json::Map::new(), Vec::new());
    for (name, shape) in tensors {
        let start = data.len();
        let count: usize = shape.iter().product();
        data.extend((0..count).flat_map(|i| (((i * 7919 + start) % 13) as f32 / 13.0 - 0.5).to_le_bytes()));
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header.as_bytes());
    file.extend(data);
    std::fs::write(dir.path().join("model.safetensors"), file).unwrap();
    dir
}

/// Every tensor a tiny BERT needs (hidden 4, intermediate 8, one layer), with `vocab` words.
#[cfg(feature = "embed")]
fn tiny_tensors(vocab: usize) -> Vec<(String, Vec<usize>)> {
    let mut t = vec![
        ("embeddings.word_embeddings.weight".to_string(), vec![vocab, 4]),
        ("embeddings.position_embeddings.weight".into(), vec![512, 4]),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, 4]),
    ];
    let mut norm = |prefix: &str| {
        t.push((format!("{prefix}.LayerNorm.weight"), vec![4]));
        t.push((format!("{prefix}.LayerNorm.bias"), vec![4]));
    };
    norm("embeddings");
    norm("encoder.layer.0.attention.output");
    norm("encoder.layer.0.output");
    for (name, out, inp) in [
        ("attention.self.query", 4, 4),
        ("attention.self.key", 4, 4),
        ("attention.self.value", 4, 4),
        ("attention.output.dense", 4, 4),
        ("intermediate.dense", 8, 4),
        ("output.dense", 4, 8),
    ] {
        t.push((format!("encoder.layer.0.{name}.weight"), vec![out, inp]));
        t.push((format!("encoder.layer.0.{name}.bias"), vec![out]));
    }
    t
}

#[cfg(feature = "embed")]
#[test]
fn other_bert_shapes_load_and_broken_models_are_clear_errors() {
    use vectorlite::MiniLmEmbedder;
    // A valid model of another shape runs: unit vectors of its width, batch = one by one.
    let dir = tiny_model(json!({}), &tiny_tensors(30522));
    let m = MiniLmEmbedder::load(dir.path()).unwrap();
    assert_eq!(m.dimension().unwrap(), 4);
    let texts = ["a short text", "another, longer text than the first one", ""];
    let batch = m.embed_batch(&texts).unwrap();
    for (t, v) in texts.iter().zip(&batch) {
        assert_eq!(v.len(), 4);
        assert!((cosine(v, v) - 1.0).abs() < 1e-5 && v.iter().all(|x| x.is_finite()));
        assert!(cosine(&m.embed(t).unwrap(), v) > 0.99999, "{t:?}");
    }
    assert!(cosine(&batch[0], &batch[1]) < 0.99999, "different texts, different vectors");

    let refused = |dir: tempfile::TempDir, wanted: &str| {
        let err = match MiniLmEmbedder::load(dir.path()) {
            Ok(m) => m.embed("token ids beyond a small vocabulary").map(|_| ()).unwrap_err(),
            Err(e) => e,
        };
        assert!(matches!(err, Error::Embedding { .. }), "{err:?}");
        assert!(err.to_string().contains(wanted), "{err} should mention {wanted:?}");
    };
    // Tokens the weights have no row for: an error at embedding time, not a panic.
    refused(tiny_model(json!({"vocab_size": 8}), &tiny_tensors(8)), "outside the vocabulary");
    let mut missing = tiny_tensors(30522);
    missing.retain(|(name, _)| !name.contains("intermediate.dense.weight"));
    refused(tiny_model(json!({}), &missing), "intermediate.dense.weight");
    let mut misshapen = tiny_tensors(30522);
    misshapen[3].1 = vec![5];
    refused(tiny_model(json!({}), &misshapen), "shape");
    refused(tiny_model(json!({"hidden_act": "swish"}), &tiny_tensors(30522)), "swish");
    refused(tiny_model(json!({"num_attention_heads": 3}), &tiny_tensors(30522)), "heads");
    refused(
        tiny_model(json!({"position_embedding_type": "relative_key"}), &tiny_tensors(30522)),
        "relative_key",
    );
}

#[cfg(feature = "embed")]
#[test]
fn text_collections_search_by_meaning_with_filters() {
    let client = VectorLiteClient::with_embedder(model());
    let notes = client.create_collection("notes", CollectionConfig::new(384)).unwrap();
    let ids = notes
        .add_texts(vec![
            ("The user prefers green tea in the morning".into(), Some(json!({"kind": "preference"}))),
            ("The user lives in Oslo".into(), Some(json!({"kind": "fact"}))),
            ("The user's daughter is called Ada".into(), Some(json!({"kind": "fact"}))),
            ("Meeting with the bank moved to Friday".into(), Some(json!({"kind": "event"}))),
        ])
        .unwrap();
    let hits = notes.search_text("what does the user like to drink?", &SearchOptions::new(1)).unwrap();
    assert_eq!(hits[0].id, ids[0]);
    let facts = SearchOptions::new(1).with_filter(Filter::parse(&json!({"kind": "fact"})).unwrap());
    let hits = notes.search_text("which city does the user live in?", &facts).unwrap();
    assert_eq!(hits[0].text.as_deref(), Some("The user lives in Oslo"));
    let id = notes.embedding_model().unwrap();
    assert!(id.starts_with("all-MiniLM-L6-v2@"), "{id}");
}

/// Regression (hardening issue, defect 11): the model check keyed on the model directory's
/// name. It now keys on a fingerprint of config, vocabulary and weights.
#[cfg(feature = "embed")]
#[test]
fn the_model_check_keys_on_the_model_not_its_directory_name() {
    use vectorlite::MiniLmEmbedder;
    let dir = std::env::var_os(vectorlite::MODEL_DIR_ENV)
        .map_or_else(|| std::path::PathBuf::from(vectorlite::DEFAULT_MODEL_DIR), Into::into)
        .canonicalize()
        .expect("the model directory (run scripts/fetch-model.sh)");
    let scratch = tempfile::tempdir().unwrap();
    // The same files under another name.
    let renamed = scratch.path().join("my-copy");
    std::os::unix::fs::symlink(&dir, &renamed).unwrap();
    // Other "weights" (here: another config) under the very same name.
    let impostor = scratch.path().join("impostor").join("all-MiniLM-L6-v2");
    std::fs::create_dir_all(&impostor).unwrap();
    for file in ["tokenizer.json", "model.safetensors", "sentence_bert_config.json"] {
        std::os::unix::fs::symlink(dir.join(file), impostor.join(file)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["note"] = json!("a different model");
    std::fs::write(impostor.join("config.json"), config.to_string()).unwrap();

    let client = VectorLiteClient::with_embedder(model());
    let notes = client.create_collection("notes", CollectionConfig::new(384)).unwrap();
    notes.add_text("The user lives in Oslo", None).unwrap();
    notes.set_embedder(Some(Arc::new(MiniLmEmbedder::load(&renamed).unwrap())));
    assert!(notes.search_text("where does the user live?", &SearchOptions::new(1)).is_ok());
    notes.set_embedder(Some(Arc::new(MiniLmEmbedder::load(&impostor).unwrap())));
    let err = notes.search_text("where does the user live?", &SearchOptions::new(1)).unwrap_err();
    assert!(matches!(err, Error::EmbedderMismatch { .. }), "{err}");
}

#[test]
fn text_calls_need_a_matching_embedder() {
    let plain = VectorLiteClient::new();
    let c = plain.create_collection("c", CollectionConfig::new(32)).unwrap();
    assert!(matches!(c.add_text("hi", None), Err(Error::NoEmbedder { .. })));
    assert!(matches!(c.search_text("hi", &SearchOptions::new(1)), Err(Error::NoEmbedder { .. })));

    let client = VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(32)));
    let c = client.create_collection("c", CollectionConfig::new(32)).unwrap();
    let wrong_dim = client.create_collection("w", CollectionConfig::new(16)).unwrap();
    assert!(matches!(wrong_dim.add_text("hi", None), Err(Error::EmbedderMismatch { .. })));
    let id = c.add_text("hello there", Some(json!({"a": 1}))).unwrap();
    assert_eq!(c.get(id).unwrap().text.as_deref(), Some("hello there"));
    assert_eq!(c.embedding_model().as_deref(), Some("hash-trigram-32"));

    // Another model of the same dimension is refused: its vectors live in another space.
    #[derive(Debug)]
    struct Other;
    impl EmbeddingFunction for Other {
        fn embed_batch(&self, texts: &[&str]) -> vectorlite::Result<Vec<Vec<f32>>> {
            HashEmbedder::new(32).embed_batch(texts)
        }
        fn dimension(&self) -> vectorlite::Result<usize> {
            Ok(32)
        }
        fn model_id(&self) -> vectorlite::Result<String> {
            Ok("other-model".into())
        }
    }
    c.set_embedder(Some(Arc::new(Other)));
    let err = c.search_text("hello", &SearchOptions::new(1)).unwrap_err();
    assert!(matches!(err, Error::EmbedderMismatch { .. }));
    assert!(err.to_string().contains("hash-trigram-32") && err.to_string().contains("other-model"), "{err}");
    assert_eq!(c.len(), 1, "a refused call changes nothing");
}

#[test]
fn the_model_id_survives_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let client = VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(16)));
    let c = client.create_collection("t", CollectionConfig::new(16)).unwrap();
    c.add_text("remember me", None).unwrap();
    client.save_to_directory(dir.path(), &SaveOptions::default()).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config, json!({"embedding_model": "hash-trigram-16", "dimension": 16}));
    let back = VectorLiteClient::load_from_directory(dir.path(), &LoadOptions::default()).unwrap();
    let t = back.collection("t").unwrap();
    assert_eq!(t.embedding_model().as_deref(), Some("hash-trigram-16"));
    assert!(matches!(t.search_text("remember", &SearchOptions::new(1)), Err(Error::NoEmbedder { .. })));
    back.set_embedder(Some(Arc::new(HashEmbedder::new(16))));
    assert_eq!(
        t.search_text("remember me", &SearchOptions::new(1)).unwrap()[0].text.as_deref(),
        Some("remember me")
    );
}

#[test]
fn upsert_texts_embeds_under_given_ids_and_replaces() {
    let client = VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(16)));
    let c = client.create_collection("t", CollectionConfig::new(16)).unwrap();
    c.upsert_texts(vec![(7, "first words".into(), None), (9, "other words".into(), Some(json!({"v": 1})))])
        .unwrap();
    c.upsert_texts(vec![(7, "replaced text".into(), Some(json!({"v": 2})))]).unwrap();
    assert_eq!(c.len(), 2);
    let seven = c.get(7).unwrap();
    assert_eq!((seven.text.as_deref(), seven.metadata), (Some("replaced text"), Some(json!({"v": 2}))));
    assert_eq!(seven.vector, HashEmbedder::new(16).embed("replaced text").unwrap());
    assert_eq!(c.next_id(), 10, "fresh ids continue after the largest given one");
    assert_eq!(c.embedding_model().as_deref(), Some("hash-trigram-16"));
    let bad = vec![(1, "ok".into(), None), (2, "bad metadata".into(), Some(json!([1])))];
    assert!(c.upsert_texts(bad).is_err());
    assert!(!c.contains(1), "all or nothing");
}
