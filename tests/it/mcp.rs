//! The MCP tools without a transport: what each one does to the database, the schemas and
//! hints clients see, and every bad call answered as a tool error that changes nothing.
//! (The Python suite drives the real binary over stdio and HTTP with the official SDK.)

use std::sync::Arc;

use serde_json::{Value, json};
use vectorlite::mcp::{MAX_MEMORIES, MemoryTools};
use vectorlite::{CollectionConfig, HashEmbedder, VectorLiteClient};

fn tools() -> (Arc<VectorLiteClient>, MemoryTools) {
    let client = Arc::new(VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(32))));
    let tools = MemoryTools::new(Arc::clone(&client), "notes").expect("a valid default collection");
    (client, tools)
}

/// Calls a tool; `Ok(structured content)` or `Err(the tool error's text)`.
fn call(tools: &MemoryTools, name: &str, args: Value) -> Result<Value, String> {
    let result = tools.call(name, args.as_object().cloned()).unwrap_or_else(|| panic!("no tool {name}"));
    let text: String = result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect();
    assert!(!text.is_empty(), "{name}: every answer has a text for the model");
    if result.is_error == Some(true) {
        assert!(result.structured_content.is_none());
        Err(text)
    } else {
        Ok(result.structured_content.unwrap_or_else(|| panic!("{name}: no structured content")))
    }
}

fn ok(tools: &MemoryTools, name: &str, args: Value) -> Value {
    call(tools, name, args.clone()).unwrap_or_else(|e| panic!("{name}({args}) failed: {e}"))
}

fn ids(v: &Value) -> Vec<u64> {
    v["memories"].as_array().expect("memories").iter().map(|m| m["id"].as_u64().expect("id")).collect()
}

#[test]
fn the_tools_have_schemas_descriptions_and_hints() {
    let listed = MemoryTools::list();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        ["remember", "recall", "forget", "list_memories", "list_collections", "collection_info"]
    );
    for t in &listed {
        assert_eq!(t.input_schema.get("type"), Some(&json!("object")), "{}", t.name);
        assert_eq!(t.input_schema.get("additionalProperties"), Some(&json!(false)), "{}", t.name);
        let out = t.output_schema.as_ref().unwrap_or_else(|| panic!("{}: no output schema", t.name));
        assert_eq!(out.get("type"), Some(&json!("object")), "{}", t.name);
        assert!(t.description.as_ref().is_some_and(|d| d.len() > 20), "{}", t.name);
        let hints = t.annotations.as_ref().unwrap_or_else(|| panic!("{}: no annotations", t.name));
        let read_only =
            matches!(t.name.as_ref(), "recall" | "list_memories" | "list_collections" | "collection_info");
        assert_eq!(hints.read_only_hint, Some(read_only), "{}", t.name);
        assert_eq!(hints.destructive_hint, Some(t.name == "forget"), "{}", t.name);
    }
    let recall = &listed[1].input_schema;
    assert_eq!(recall["required"], json!(["query"]));
    for field in ["k", "filter", "min_score", "collection"] {
        assert!(recall["properties"].get(field).is_some(), "recall takes {field}");
    }
}

#[test]
fn remember_recall_list_and_forget() {
    let (client, tools) = tools();
    assert!(!client.has_collection("notes"), "nothing is created before the first remember");
    let first =
        ok(&tools, "remember", json!({"text": "the cat sat on the mat", "metadata": {"user": "ann"}}));
    assert_eq!(first, json!({"collection": "notes", "ids": [0]}));
    assert_eq!(client.collection_info("notes").expect("created").dimension, 32, "the model's dimension");
    let more = ok(
        &tools,
        "remember",
        json!({"text": ["stock prices fell", "a dog in the park", "cats chase mice"],
               "metadata": [{"user": "bob"}, {"user": "ann"}, null]}),
    );
    assert_eq!(more["ids"], json!([1, 2, 3]));
    let shared = ok(&tools, "remember", json!({"text": ["x one", "x two"], "metadata": {"batch": 1}}));
    assert_eq!(shared["ids"], json!([4, 5]));
    let c = client.collection("notes").expect("notes");
    assert_eq!(c.get(3).expect("3").metadata, None);
    assert_eq!(c.get(5).expect("5").metadata, Some(json!({"batch": 1})));

    let found = ok(&tools, "recall", json!({"query": "the cat sat on the mat", "k": 3}));
    assert_eq!(ids(&found)[0], 0);
    assert_eq!(found["memories"].as_array().map(Vec::len), Some(3));
    assert!(found["memories"][0]["score"].as_f64().expect("score") > 0.99);
    let anns = ok(&tools, "recall", json!({"query": "anything", "k": 10, "filter": {"user": "ann"}}));
    assert_eq!(
        {
            let mut v = ids(&anns);
            v.sort();
            v
        },
        vec![0, 2]
    );
    let alias = ok(&tools, "recall", json!({"query": "anything", "k": 10, "where": {"user": "ann"}}));
    assert_eq!(alias["memories"].as_array().map(Vec::len), Some(2), "`where` is `filter`");
    let keyword = ok(&tools, "recall", json!({"query": "mice", "mode": "keyword"}));
    assert_eq!(ids(&keyword), vec![3], "keyword mode matches the exact word");
    let hybrid = ok(&tools, "recall", json!({"query": "cats chase mice", "mode": "hybrid", "k": 1}));
    assert_eq!(ids(&hybrid), vec![3]);
    let strict = ok(&tools, "recall", json!({"query": "the cat sat on the mat", "min_score": 0.99}));
    assert_eq!(ids(&strict), vec![0]);

    let page = ok(&tools, "list_memories", json!({"limit": 4}));
    assert_eq!(
        (ids(&page), page["total"].clone(), page["next_offset"].clone()),
        (vec![0, 1, 2, 3], json!(6), json!(4))
    );
    assert!(page["memories"][0].get("vector").is_none());
    let last = ok(&tools, "list_memories", json!({"limit": 4, "offset": 4}));
    assert_eq!((ids(&last), last["next_offset"].clone()), (vec![4, 5], Value::Null));
    let filtered = ok(&tools, "list_memories", json!({"filter": {"batch": 1}}));
    assert_eq!((ids(&filtered), filtered["total"].clone()), (vec![4, 5], json!(2)));

    assert_eq!(ok(&tools, "forget", json!({"ids": [1, 99]}))["removed"], json!(1));
    assert_eq!(ok(&tools, "forget", json!({"filter": {"batch": 1}}))["removed"], json!(2));
    assert_eq!(c.ids(), vec![0, 2, 3]);

    let cols = ok(&tools, "list_collections", json!({}));
    assert_eq!(
        cols,
        json!({"collections": [{"name": "notes", "count": 3, "dimension": 32}], "default_collection": "notes"})
    );
    let info = ok(&tools, "collection_info", json!({}));
    assert_eq!(
        (info["name"].clone(), info["count"].clone(), info["metric"].clone()),
        (json!("notes"), json!(3), json!("cosine"))
    );
}

#[test]
fn named_collections_are_created_by_remember_and_required_by_reads() {
    let (client, tools) = tools();
    client.create_collection("three", CollectionConfig::new(3)).expect("created");
    ok(&tools, "remember", json!({"text": "work item", "collection": "work"}));
    assert_eq!(client.collection("work").expect("created on first use").len(), 1);
    assert_eq!(ids(&ok(&tools, "recall", json!({"query": "work item", "collection": "work"}))), vec![0]);
    // A collection of another dimension: the library's own message.
    let e = call(&tools, "remember", json!({"text": "x", "collection": "three"})).expect_err("dimension");
    assert!(e.contains("dimension") || e.contains("model"), "{e}");
    // Reads of the default collection before it exists find nothing; forget removes nothing.
    assert_eq!(ok(&tools, "recall", json!({"query": "x"}))["memories"], json!([]));
    assert_eq!(ok(&tools, "list_memories", json!({}))["total"], json!(0));
    assert_eq!(ok(&tools, "forget", json!({"ids": [0]}))["removed"], json!(0));
    assert!(MemoryTools::new(client, "bad name!").is_err(), "an invalid default collection is refused");
}

#[test]
fn expiring_memories_carry_their_expiry() {
    let (client, tools) = tools();
    ok(&tools, "remember", json!({"text": "short lived", "ttl_seconds": 3600}));
    let listed = ok(&tools, "list_memories", json!({}));
    let at = listed["memories"][0]["expires_at"].as_str().expect("an RFC 3339 expiry");
    let ms = vectorlite::parse_rfc3339_ms(at).expect("parses");
    let stored = client.collection("notes").expect("notes").get(0).expect("0").expires_at;
    assert_eq!(Some(ms), stored);
}

#[test]
fn bad_calls_are_tool_errors_and_change_nothing() {
    let (client, tools) = tools();
    ok(&tools, "remember", json!({"text": ["one", "two"], "metadata": {"user": "ann"}}));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("recall", json!({}), "query"),
        ("recall", json!({"query": ""}), "empty"),
        ("recall", json!({"query": "x", "k": 0}), "out of range"),
        ("recall", json!({"query": "x", "k": MAX_MEMORIES + 1}), "out of range"),
        ("recall", json!({"query": "x", "k": -1}), "invalid"),
        ("recall", json!({"query": "x", "k": "5"}), "invalid"),
        ("recall", json!({"query": "x", "filter": {"$nope": 1}}), "filter"),
        ("recall", json!({"query": "x", "filter": [1]}), "filter"),
        ("recall", json!({"query": "x", "collection": "missing"}), "missing"),
        ("recall", json!({"query": "x", "top_k": 3}), "unknown field"),
        ("recall", json!({"query": 7}), "invalid"),
        ("recall", json!({"query": "x", "mode": "fuzzy"}), "mode"),
        ("remember", json!({}), "text"),
        ("remember", json!({"text": ""}), "empty"),
        ("remember", json!({"text": ["ok", "  "]}), "empty"),
        ("remember", json!({"text": []}), "empty"),
        ("remember", json!({"text": "x", "metadata": 5}), "metadata"),
        ("remember", json!({"text": ["a", "b"], "metadata": [{}]}), "metadata"),
        ("remember", json!({"text": "x", "metadata": {"deep": nested(200)}}), "metadata"),
        ("remember", json!({"text": "x", "ttl_seconds": -1}), "ttl_seconds"),
        ("remember", json!({"text": "x", "collection": "bad name!"}), "name"),
        ("forget", json!({}), "ids"),
        ("forget", json!({"ids": [0], "filter": {"user": "ann"}}), "not both"),
        ("forget", json!({"filter": {}}), "every memory"),
        ("forget", json!({"filter": {"$or": 3}}), "filter"),
        ("forget", json!({"ids": [-1]}), "invalid"),
        ("list_memories", json!({"limit": 0}), "out of range"),
        ("list_memories", json!({"limit": 1000}), "out of range"),
        ("list_memories", json!({"filter": "user"}), "filter"),
        ("list_collections", json!({"x": 1}), "unknown field"),
        ("collection_info", json!({"collection": "missing"}), "missing"),
    ];
    for (name, args, expected) in &cases {
        let e = call(&tools, name, args.clone()).expect_err(&format!("{name}({args}) should fail"));
        assert!(e.to_lowercase().contains(expected), "{name}({args}): '{e}' does not mention '{expected}'");
    }
    assert_eq!(client.list_collections(), vec!["notes".to_owned()]);
    assert_eq!(client.collection("notes").expect("notes").ids(), vec![0, 1], "no bad call changed anything");
    assert!(tools.call("no_such_tool", None).is_none(), "an unknown tool is the protocol's error");
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |v, _| json!({ "a": v }))
}
