//! The HTTP API: every route and every error status through the router in process, and the
//! real binary over loopback (restart, SIGTERM, hostile input).

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vectorlite::server::{AppState, ServerConfig, router};
use vectorlite::{HashEmbedder, VectorLiteClient};

fn app(dir: &Path, with_embedder: bool, api_key: Option<&str>) -> Router {
    let client = if with_embedder {
        VectorLiteClient::with_embedder(Arc::new(HashEmbedder::new(8)))
    } else {
        VectorLiteClient::new()
    };
    let state = AppState::new(Arc::new(client), dir, api_key.map(str::to_owned)).unwrap();
    let mut config = ServerConfig::new(dir);
    config.body_limit = 64 << 10;
    router(state, &config).expect("a valid configuration")
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    body: impl Into<String>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app.clone().oneshot(req.body(Body::from(body.into())).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{method} {uri}: body is not JSON: {bytes:?}"));
    (status, value)
}

async fn call(app: &Router, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    send(app, method, uri, body, &[]).await
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {v}"))
}

#[tokio::test]
async fn collections_records_and_search_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, None);
    let (s, v) = call(&app, "GET", "/health", Value::Null).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));

    let create =
        json!({"name": "docs", "dimension": 3, "metric": "euclidean", "index": {"type": "hnsw", "m": 8}});
    let (s, v) = call(&app, "POST", "/collections", create.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["info"]["index"], json!({"type": "hnsw", "m": 8, "ef_construction": 200, "ef_search": 48}));
    assert_eq!(call(&app, "POST", "/collections", create).await.0, StatusCode::CONFLICT);
    let (s, v) = call(&app, "POST", "/collections", json!({"name": "bad name", "dimension": 3})).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_collection_name"));
    let (s, v) = call(&app, "POST", "/collections", json!({"name": "x"})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter"),
        "no dimension and no model"
    );
    // On-disk rows: int8 with rescoring keeps its f32 rows in a mapped file; f16 has none.
    let on_disk = json!({"name": "mapped", "dimension": 3, "vector_storage": "int8", "on_disk": true});
    let (s, v) = call(&app, "POST", "/collections", on_disk).await;
    assert_eq!(
        (s, &v["info"]["on_disk"], &v["info"]["rescore"]),
        (StatusCode::CREATED, &json!(true), &json!(true)),
        "{v}"
    );
    let (s, v) =
        call(&app, "POST", "/collections/mapped/vectors", json!({"vectors": [{"vector": [1.0, 2.0, 3.0]}]}))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = call(&app, "GET", "/collections/mapped", Value::Null).await;
    assert!(v["info"]["disk_bytes"].as_u64().is_some_and(|b| b >= 12), "{v}");
    let bad = json!({"name": "nope", "dimension": 3, "vector_storage": "f16", "on_disk": true});
    let (s, v) = call(&app, "POST", "/collections", bad).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter"), "{v}");
    assert_eq!(call(&app, "DELETE", "/collections/mapped", Value::Null).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/collections", Value::Null).await.1["collections"], json!(["docs"]));

    let (s, v) = call(
        &app,
        "POST",
        "/collections/docs/vectors",
        json!({"vector": [0.0, 0.0, 1.0], "text": "a", "metadata": {"t": 1}}),
    )
    .await;
    assert_eq!(
        (s, &v["id"], &v["ids"], &v["message"]),
        (StatusCode::OK, &json!(0), &Value::Null, &json!("1 record written"))
    );
    let batch = json!({"vectors": [
        {"id": 10, "vector": [1.0, 0.0, 0.0], "metadata": {"t": 2}},
        {"id": 11, "vector": [0.0, 1.0, 0.0], "metadata": {"t": 2}}
    ]});
    assert_eq!(
        call(&app, "POST", "/collections/docs/vectors", batch.clone()).await.1["ids"],
        json!([10, 11])
    );
    assert_eq!(call(&app, "POST", "/collections/docs/vectors", batch.clone()).await.0, StatusCode::CONFLICT);
    let mut upsert = batch;
    upsert["upsert"] = json!(true);
    assert_eq!(call(&app, "POST", "/collections/docs/vectors", upsert).await.0, StatusCode::OK);
    let mixed = json!({"vectors": [{"id": 1, "vector": [1.0, 1.0, 1.0]}, {"vector": [1.0, 1.0, 1.0]}]});
    assert_eq!(
        call(&app, "POST", "/collections/docs/vectors", mixed).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (s, v) = call(&app, "GET", "/collections/docs/vectors/10", Value::Null).await;
    assert_eq!((s, &v["vector"]), (StatusCode::OK, &json!([1.0, 0.0, 0.0])));
    assert_eq!(
        call(&app, "PATCH", "/collections/docs/vectors/10", json!({"metadata": {"t": 3}})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "GET", "/collections/docs/vectors/10", Value::Null).await.1["metadata"],
        json!({"t": 3})
    );

    let search = json!({"vector": [1.0, 0.1, 0.0], "k": 2, "filter": {"t": {"$gte": 2}}, "include": ["metadata", "vector"]});
    let (s, v) = call(&app, "POST", "/collections/docs/search", search).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(), [10, 11]);
    assert!(results[0]["vector"].is_array() && results[0].get("text").is_none());
    let (_, v) = call(
        &app,
        "POST",
        "/collections/docs/search",
        json!({"vector": [0.0, 0.0, 1.0], "k": 1, "where": {"t": 1}}),
    )
    .await;
    assert_eq!(v["results"][0]["text"], "a");

    assert_eq!(call(&app, "DELETE", "/collections/docs/vectors/10", Value::Null).await.0, StatusCode::OK);
    let (s, v) = call(&app, "GET", "/collections/docs/vectors/10", Value::Null).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "id_not_found"));
    let (s, v) = call(&app, "GET", "/collections/docs", Value::Null).await;
    assert_eq!((s, v["info"]["count"].as_u64()), (StatusCode::OK, Some(2)));
    assert_eq!(call(&app, "DELETE", "/collections/docs", Value::Null).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/collections/docs", Value::Null).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_gets_4xx_json_and_never_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, None);
    call(&app, "POST", "/collections", json!({"name": "c", "dimension": 2})).await;
    let cases: Vec<(&str, &str, String, StatusCode, &str)> = vec![
        (
            "POST",
            "/collections/c/vectors",
            "{\"vector\": [1.0,".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/collections/c/vectors",
            json!({"vector": "nope"}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/collections/c/vectors",
            json!({"vector": [1.0]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dimension_mismatch",
        ),
        (
            "POST",
            "/collections/c/vectors",
            json!({"vector": [0.0, 0.0]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "zero_vector",
        ),
        (
            "POST",
            "/collections/c/vectors",
            json!({"vector": [1.0, 1.0], "metadata": [1]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_metadata",
        ),
        (
            "POST",
            "/collections/c/vectors",
            json!({"vectors": []}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_batch",
        ),
        (
            "POST",
            "/collections/nope/vectors",
            json!({"vector": [1.0, 1.0]}).to_string(),
            StatusCode::NOT_FOUND,
            "collection_not_found",
        ),
        (
            "POST",
            "/collections/c/search",
            json!({"vector": [1.0, 1.0], "k": 0}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_k",
        ),
        (
            "POST",
            "/collections/c/search",
            json!({"vector": [1.0, 1.0], "k": 10001}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_k",
        ),
        (
            "POST",
            "/collections/c/search",
            json!({"vector": [1.0, 1.0], "filter": {"a": {"$bad": 1}}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_filter",
        ),
        (
            "POST",
            "/collections/c/search",
            json!({"k": 3}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
        ),
        (
            "POST",
            "/collections/c/search",
            json!({"vector": [1.0, 1.0], "include": ["secrets"]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
        ),
        (
            "POST",
            "/collections/c/search",
            json!({"text": "hello"}).to_string(),
            StatusCode::SERVICE_UNAVAILABLE,
            "no_embedding_model",
        ),
        (
            "POST",
            "/collections/c/text",
            json!({"text": "hello"}).to_string(),
            StatusCode::SERVICE_UNAVAILABLE,
            "no_embedding_model",
        ),
        ("GET", "/collections/c/vectors/abc", String::new(), StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/collections/c/vectors/99", String::new(), StatusCode::NOT_FOUND, "id_not_found"),
        ("GET", "/no/such/route", String::new(), StatusCode::NOT_FOUND, "not_found"),
        ("PUT", "/collections", String::new(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (
            "POST",
            "/collections/c/vectors",
            format!("{{\"vector\": [{}]}}", vec!["1.0"; 40_000].join(",")),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "POST",
            "/collections/c/search",
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (method, uri, body, status, want) in cases {
        let (s, v) = send(&app, method, uri, body, &[]).await;
        assert_eq!((s, code(&v)), (status, want), "{method} {uri}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let too_many = json!({"vectors": (0..10_001).map(|_| json!({"vector": [1, 1]})).collect::<Vec<_>>()});
    let app_big = {
        let client = Arc::new(VectorLiteClient::new());
        let state = AppState::new(client, dir.path(), None).unwrap();
        router(state, &ServerConfig::new(dir.path())).expect("a valid configuration")
    };
    call(&app_big, "POST", "/collections", json!({"name": "c", "dimension": 2})).await;
    let (s, v) = call(&app_big, "POST", "/collections/c/vectors", too_many).await;
    assert_eq!((s, code(&v)), (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"));
}

#[tokio::test]
async fn text_routes_and_the_0_1_request_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), true, None);
    // 0.1.x create: no dimension (the model's), index_type.
    let (s, v) = call(&app, "POST", "/collections", json!({"name": "notes", "index_type": "flat"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["info"]["dimension"], 8);
    let (s, v) = call(
        &app,
        "POST",
        "/collections/notes/text",
        json!({"text": "the cat sat on the mat", "metadata": {"k": "pet"}}),
    )
    .await;
    assert_eq!((s, v["id"].as_u64()), (StatusCode::OK, Some(0)));
    let (_, v) = call(
        &app,
        "POST",
        "/collections/notes/text",
        json!({"texts": [{"text": "stock prices fell"}, {"text": "rain tomorrow"}]}),
    )
    .await;
    assert_eq!(v["ids"], json!([1, 2]));
    let (s, v) =
        call(&app, "POST", "/collections/notes/search/text", json!({"query": "a cat on a mat", "k": 1}))
            .await;
    assert_eq!((s, v["results"][0]["id"].as_u64()), (StatusCode::OK, Some(0)), "{v}");
    let (_, v) = call(
        &app,
        "POST",
        "/collections/notes/search",
        json!({"text": "the cat sat", "k": 1, "filter": {"k": "pet"}}),
    )
    .await;
    assert_eq!(v["results"][0]["text"], "the cat sat on the mat");

    call(&app, "POST", "/collections", json!({"name": "raw", "dimension": 2, "index_type": "hnsw"})).await;
    let (s, _) = call(&app, "POST", "/collections/raw/vector", json!({"id": 4, "values": [0.5, 0.5]})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = call(
        &app,
        "POST",
        "/collections/raw/search/vector",
        json!({"query": [0.5, 0.4], "k": 1, "similarity_metric": "cosine"}),
    )
    .await;
    assert_eq!(v["results"][0]["id"], 4);

    let (s, v) = call(&app, "POST", "/collections/raw/save", json!({"file_path": "raw.vlc"})).await;
    assert_eq!((s, &v["file_path"]), (StatusCode::OK, &json!("raw.vlc")), "{v}");
    assert!(dir.path().join("raw.vlc").exists());
    let (s, v) = call(
        &app,
        "POST",
        "/collections/load",
        json!({"file_path": "raw.vlc", "collection_name": "restored"}),
    )
    .await;
    assert_eq!((s, &v["collection_name"]), (StatusCode::OK, &json!("restored")), "{v}");
    assert_eq!(call(&app, "GET", "/collections/restored/vectors/4", Value::Null).await.0, StatusCode::OK);
    assert_eq!(
        call(
            &app,
            "POST",
            "/collections/load",
            json!({"file_path": "raw.vlc", "collection_name": "restored"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (s, v) = call(&app, "POST", "/collections/load", json!({"file": "missing.vlc"})).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "file_not_found"));
    std::fs::write(dir.path().join("junk.vlc"), b"not a collection").unwrap();
    let (s, v) = call(&app, "POST", "/collections/load", json!({"file": "junk.vlc"})).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "bad_file"));
    // Regression (hardening issue, defect 11): 4xx messages named the server's absolute paths.
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("junk.vlc"), "{message}");
    let root = dir.path().canonicalize().unwrap();
    assert!(!message.contains(root.to_str().unwrap()), "{message}");
}

/// Regression (hardening issue, defect 11): a collection named `load` could not be read or
/// deleted, because `/collections/load` is also the 0.1.x load route.
#[tokio::test]
async fn a_collection_named_load_is_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, None);
    assert_eq!(
        call(&app, "POST", "/collections", json!({"name": "load", "dimension": 2})).await.0,
        StatusCode::CREATED
    );
    call(&app, "POST", "/collections/load/vectors", json!({"vector": [1.0, 2.0]})).await;
    let (s, v) = call(&app, "GET", "/collections/load", Value::Null).await;
    assert_eq!((s, &v["info"]["count"]), (StatusCode::OK, &json!(1)), "{v}");
    assert_eq!(call(&app, "DELETE", "/collections/load", Value::Null).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/collections/load", Value::Null).await.0, StatusCode::NOT_FOUND);
}

/// Regression (hardening issue, defect 11): CORS allowed `*` headers, which does not cover
/// `Authorization`, so browser calls with a Bearer key failed their preflight.
#[tokio::test]
async fn cors_preflight_allows_the_authorization_header() {
    let dir = tempfile::tempdir().unwrap();
    let client = Arc::new(VectorLiteClient::new());
    let state = AppState::new(client, dir.path(), Some("k".into())).unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.cors_origins = vec!["https://agent.example".into()];
    let app = router(state, &config).expect("a valid configuration");
    let req = Request::builder()
        .method("OPTIONS")
        .uri("/collections")
        .header("origin", "https://agent.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let allowed =
        res.headers().get("access-control-allow-headers").map(|v| v.to_str().unwrap().to_ascii_lowercase());
    assert!(allowed.as_deref().is_some_and(|h| h.contains("authorization")), "{allowed:?}");
    let origin = res.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(origin.as_deref(), Some("https://agent.example"));
}

/// Regression (hardening issue, defect 12): while the log replays after a restart, `/health`
/// answers (with "recovering") and other routes say 503 instead of hanging.
#[tokio::test]
async fn health_answers_while_the_database_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::starting(dir.path(), None).unwrap();
    let app = router(state.clone(), &ServerConfig::new(dir.path())).expect("a valid configuration");
    let (s, v) = call(&app, "GET", "/health", Value::Null).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("recovering")));
    let (s, v) = call(&app, "GET", "/collections", Value::Null).await;
    assert_eq!((s, code(&v)), (StatusCode::SERVICE_UNAVAILABLE, "recovering"));
    state.set_client(Arc::new(VectorLiteClient::new()));
    assert_eq!(call(&app, "GET", "/health", Value::Null).await.1["status"], "ok");
    assert_eq!(call(&app, "GET", "/collections", Value::Null).await.0, StatusCode::OK);
}

#[tokio::test]
async fn files_outside_the_data_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, None);
    call(&app, "POST", "/collections", json!({"name": "c", "dimension": 2})).await;
    std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
    for file in ["../escape.vlc", "/tmp/abs.vlc", "a/../../b.vlc", "link/x.vlc", "./x.vlc", ""] {
        let (s, v) = call(&app, "POST", "/collections/c/save", json!({"file": file})).await;
        assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_path"), "{file:?}");
        let (s, _) = call(&app, "POST", "/collections/load", json!({"file": file})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{file:?}");
    }
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing was written outside");
    // Nor over the database's own files.
    // Regression (hardening issue, defect 4): compared with case, so on case-insensitive
    // filesystems `WAL/...` or `Manifest.json` wrote over the database's own files.
    for file in [
        "manifest.json",
        "wal/00000000000000000001.log",
        "collections/c.vlc",
        "LOCK",
        "config.json",
        "Manifest.json",
        "WAL/00000000000000000001.log",
        "Collections/c.vlc",
        "lock",
        "CONFIG.JSON",
    ] {
        let (s, v) = call(&app, "POST", "/collections/c/save", json!({"file": file})).await;
        assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_path"), "{file:?}");
    }
    assert_eq!(call(&app, "POST", "/collections/c/save", json!({"file": "ok.vlc"})).await.0, StatusCode::OK);
    assert!(dir.path().join("ok.vlc").exists());
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_records_by_collection() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, None);
    call(&app, "POST", "/collections", json!({"name": "c", "dimension": 2})).await;
    call(
        &app,
        "POST",
        "/collections/c/vectors",
        json!({"vectors": [{"vector": [1, 1]}, {"vector": [1, 2]}]}),
    )
    .await;
    for _ in 0..3 {
        call(&app, "POST", "/collections/c/search", json!({"vector": [1, 1], "k": 1})).await;
    }
    call(&app, "GET", "/collections/c/vectors/77", Value::Null).await;
    let res = app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_owned()
    };
    assert!(line("vectorlite_http_requests_total{method=\"POST\",route=\"/collections/{name}/search\",status=\"200\"}").ends_with(" 3"));
    assert!(line("vectorlite_http_requests_total{method=\"GET\",route=\"/collections/{name}/vectors/{id}\",status=\"404\"}").ends_with(" 1"));
    assert!(line("vectorlite_http_request_duration_seconds_count{method=\"POST\",route=\"/collections/{name}/search\"}").ends_with(" 3"));
    assert!(line("vectorlite_collection_records{collection=\"c\"}").ends_with(" 2"));
}

#[tokio::test]
async fn the_api_key_guards_every_route_but_health() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, Some("s3cret"));
    assert_eq!(send(&app, "GET", "/health", "", &[]).await.0, StatusCode::OK);
    let (s, v) = send(&app, "GET", "/collections", "", &[]).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    assert_eq!(
        send(&app, "GET", "/collections", "", &[("authorization", "Bearer wrong")]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, "GET", "/collections", "", &[("authorization", "Bearer s3cret")]).await.0,
        StatusCode::OK
    );
    assert_eq!(send(&app, "GET", "/collections", "", &[("x-api-key", "s3cret")]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn whole_database_save_and_load_routes() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, None);
    call(&app, "POST", "/collections", json!({"name": "c", "dimension": 2, "metric": "euclidean"})).await;
    call(&app, "POST", "/collections/c/vectors", json!({"vector": [1.0, 2.0]})).await;
    assert_eq!(call(&app, "POST", "/save", Value::Null).await.0, StatusCode::OK);
    assert!(dir.path().join("manifest.json").exists());
    call(&app, "DELETE", "/collections/c", Value::Null).await;
    let (s, v) = call(&app, "POST", "/load", Value::Null).await;
    assert_eq!((s, &v["collections"]), (StatusCode::OK, &json!(["c"])));
    assert_eq!(
        call(&app, "GET", "/collections/c/vectors/0", Value::Null).await.1["vector"],
        json!([1.0, 2.0])
    );
}

/// Starts the real binary on a free loopback port; returns the child and its base URL.
#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = vectorlite::server::openapi_document();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the API in the code; regenerate it with \
         `UPDATE_OPENAPI=1 cargo test openapi` and review the diff"
    );
}

#[tokio::test]
async fn the_served_openapi_document_describes_routes_that_exist() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false, None);
    let (s, doc) = call(&app, "GET", "/openapi.json", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    let served: Value = serde_json::from_str(&vectorlite::server::openapi_document()).unwrap();
    assert_eq!(doc, served);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let operations: usize = paths.values().map(|ops| ops.as_object().unwrap().len()).sum();
    assert!(operations >= 18, "only {operations} operations documented");
    for (path, ops) in paths {
        let uri = path.replace("{name}", "nope").replace("{id}", "1");
        for method in ops.as_object().unwrap().keys() {
            let req = Request::builder().method(method.to_uppercase().as_str()).uri(&uri);
            let res = app.clone().oneshot(req.body(Body::from("{}")).unwrap()).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            // Any answer but the router's own "no such route" or "wrong method" means it exists.
            assert!(
                body["error"]["code"] != "not_found" && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed ({status} {body})"
            );
        }
    }
}

/// A body over the limit is answered 413 as soon as its length is seen; the client may still be
/// writing it and see the connection close first. Either way it was refused.
fn assert_refused_as_too_large(sent: reqwest::Result<reqwest::blocking::Response>) {
    match sent {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request(), "not a refusal: {e}"),
    }
}

fn start_server(data_dir: &Path) -> (std::process::Child, String) {
    start_server_with(data_dir, &["--no-embeddings".as_ref()])
}

/// Starts `vectorlite serve` on a free loopback port; returns it and its base URL.
fn start_server_with(data_dir: &Path, args: &[&std::ffi::OsStr]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vectorlite"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    wait_until_ready(&url);
    (child, url)
}

/// The server listens before its database has opened; waits until `/health` says "ok".
fn wait_until_ready(url: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let health: Option<Value> =
            reqwest::blocking::get(format!("{url}/health")).ok().and_then(|r| r.json().ok());
        match health {
            Some(h) if h["status"] == "ok" => return,
            Some(h) => assert_eq!(h["status"], "recovering", "{h}"),
            None => {}
        }
        assert!(std::time::Instant::now() < deadline, "the server did not become ready");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn terminate(mut child: std::process::Child) -> std::process::ExitStatus {
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap()
}

#[test]
fn the_binary_serves_survives_bad_input_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = start_server(dir.path());
    // No pooled connections: the server closes the one a refused oversized upload came on, and
    // a pooled client could pick it for the next request before noticing (a client-side race).
    let http = reqwest::blocking::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let post = |path: &str, body: Value| http.post(format!("{url}{path}")).json(&body).send().unwrap();
    assert_eq!(post("/collections", json!({"name": "mem", "dimension": 3, "index": "hnsw"})).status(), 201);
    let batch: Vec<Value> =
        (0..300).map(|i| json!({"vector": [1.0, i as f32, 2.0], "metadata": {"i": i}})).collect();
    assert_eq!(post("/collections/mem/vectors", json!({"vectors": batch})).status(), 200);
    // Hostile input: malformed, deeply nested, huge; the server answers 4xx and stays up.
    let raw = |body: String| {
        http.post(format!("{url}/collections/mem/search"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    };
    assert_eq!(raw("{".into()).status(), 400);
    assert_eq!(
        raw(format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000))).status().as_u16() / 100,
        4
    );
    let huge = http
        .post(format!("{url}/collections/mem/search"))
        .header("content-type", "application/json")
        .body("x".repeat(40 << 20))
        .send();
    assert_refused_as_too_large(huge);
    assert_eq!(post("/collections/mem/text", json!({"text": "no model here"})).status(), 503);
    assert_eq!(http.get(format!("{url}/health")).send().unwrap().status(), 200);

    let status = terminate(child);
    assert!(status.success(), "SIGTERM exits 0 after saving: {status:?}");
    let (child, url) = start_server(dir.path());
    let r: Value =
        reqwest::blocking::get(format!("{url}/collections/mem/vectors/299")).unwrap().json().unwrap();
    assert_eq!(r["metadata"], json!({"i": 299}));
    let info: Value = reqwest::blocking::get(format!("{url}/collections/mem")).unwrap().json().unwrap();
    assert_eq!(info["info"]["count"], 300);
    assert!(terminate(child).success());
}

/// Writers hammer the real binary until `stop` ends it; returns the data dir, the ids whose
/// writes were acknowledged, and how the server exited.
fn writes_until_stopped(
    stop_server: impl FnOnce(std::process::Child) -> std::process::ExitStatus,
) -> (tempfile::TempDir, Vec<u64>, std::process::ExitStatus) {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = start_server(dir.path());
    let http = reqwest::blocking::Client::new();
    let created = http.post(format!("{url}/collections")).json(&json!({"name": "w", "dimension": 4})).send();
    assert_eq!(created.unwrap().status(), 201);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let (url, stop) = (url.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut acked = Vec::new();
                for i in 0.. {
                    let id = t * 1_000_000 + i;
                    let body =
                        json!({"id": id, "vector": [1.0, t as f32, i as f32, 0.5], "metadata": {"i": i}});
                    match http.post(format!("{url}/collections/w/vectors")).json(&body).send() {
                        Ok(r) if r.status() == 200 => acked.push(id),
                        // Refused or cut off by the shutdown: not acknowledged, so not promised.
                        _ => break,
                    }
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let status = stop_server(child);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<u64> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(acked.len() >= 20, "the writers got going ({} writes)", acked.len());
    (dir, acked, status)
}

fn assert_all_present(dir: &Path, acked: &[u64]) {
    let back = VectorLiteClient::open(dir, Default::default()).unwrap();
    let w = back.collection("w").unwrap();
    for id in acked {
        let r = w.get(*id).unwrap_or_else(|_| panic!("acknowledged record {id} was lost"));
        assert_eq!(r.metadata, Some(json!({"i": id % 1_000_000})));
    }
}

#[test]
fn sigterm_during_writes_keeps_every_acknowledged_write() {
    let (dir, acked, status) = writes_until_stopped(terminate);
    assert!(status.success(), "SIGTERM exits 0 after a checkpoint: {status:?}");
    assert!(dir.path().join("manifest.json").exists(), "the shutdown checkpointed");
    assert_all_present(dir.path(), &acked);
}

#[test]
fn sigkill_during_writes_keeps_every_acknowledged_write() {
    let kill = |mut child: std::process::Child| {
        child.kill().unwrap();
        child.wait().unwrap()
    };
    let (dir, acked, _) = writes_until_stopped(kill);
    assert_all_present(dir.path(), &acked);
}

#[cfg(feature = "embed")]
#[test]
fn the_binary_answers_every_route_and_error_status_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    let flags = ["--model-dir".as_ref(), model.as_os_str(), "--api-key".as_ref(), "sesame".as_ref()];
    let (child, url) =
        start_server_with(dir.path(), &[&flags[..], &["--body-limit-mb".as_ref(), "1".as_ref()]].concat());
    let http = reqwest::blocking::Client::new();
    let call = |method: &str, path: &str, body: Option<Value>, key: Option<&str>| {
        let mut req = http.request(method.parse().unwrap(), format!("{url}{path}"));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().unwrap();
        let status = res.status().as_u16();
        let text = res.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    };
    let steps: Vec<(&str, &str, Option<Value>, u16)> = vec![
        ("GET", "/metrics", None, 200),
        ("GET", "/openapi.json", None, 200),
        ("POST", "/collections", Some(json!({"name": "v", "dimension": 3, "metric": "euclidean"})), 201),
        ("POST", "/collections", Some(json!({"name": "v", "dimension": 3})), 409),
        ("POST", "/collections", Some(json!({"name": "../x", "dimension": 3})), 422),
        ("POST", "/collections", Some(json!({"name": "notes"})), 201),
        ("GET", "/collections", None, 200),
        ("GET", "/collections/v", None, 200),
        ("GET", "/collections/nope", None, 404),
        (
            "POST",
            "/collections/v/vectors",
            Some(json!({"vectors": [{"id": 1, "vector": [1, 0, 0]}, {"id": 2, "vector": [0, 1, 0]}]})),
            200,
        ),
        ("POST", "/collections/v/vectors", Some(json!({"id": 1, "vector": [1, 0, 0]})), 409),
        ("POST", "/collections/v/vectors", Some(json!({"id": 1, "vector": [1, 1, 0], "upsert": true})), 200),
        ("POST", "/collections/v/vectors", Some(json!({"vector": [1, 0]})), 422),
        ("POST", "/collections/v/vectors", Some(json!({"vector": "not numbers"})), 400),
        ("POST", "/collections/v/vector", Some(json!({"id": 3, "values": [0.0, 0.0, 1.0]})), 200),
        ("GET", "/collections/v/vectors/3", None, 200),
        ("GET", "/collections/v/vectors/99", None, 404),
        ("PATCH", "/collections/v/vectors/3", Some(json!({"metadata": {"a": 1}})), 200),
        ("PATCH", "/collections/v/vectors/3", Some(json!({"metadata": [1]})), 422),
        (
            "POST",
            "/collections/v/search",
            Some(json!({"vector": [0, 0, 1], "k": 2, "filter": {"a": 1}})),
            200,
        ),
        ("POST", "/collections/v/search", Some(json!({"vector": [0, 0, 1], "k": 100_000})), 422),
        ("POST", "/collections/v/search", Some(json!({"vector": [0, 0, 1], "filter": {"$bad": 1}})), 422),
        ("POST", "/collections/v/search/vector", Some(json!({"query": [0, 0, 1], "k": 1})), 200),
        ("DELETE", "/collections/v/vectors/2", None, 200),
        ("POST", "/collections/notes/text", Some(json!({"text": "the user drinks green tea"})), 200),
        ("POST", "/collections/notes/text", Some(json!({"texts": [{"text": "the office is in Oslo"}]})), 200),
        (
            "POST",
            "/collections/notes/search",
            Some(json!({"text": "what does the user drink?", "k": 1})),
            200,
        ),
        ("POST", "/collections/notes/search/text", Some(json!({"query": "which city?", "k": 1})), 200),
        ("POST", "/collections/v/text", Some(json!({"text": "3 dimensions, not 384"})), 422),
        ("POST", "/collections/v/save", Some(json!({"file": "v.vlc"})), 200),
        ("POST", "/collections/v/save", Some(json!({"file": "../escape.vlc"})), 422),
        ("POST", "/collections/load", Some(json!({"file": "v.vlc", "name": "v2"})), 200),
        ("POST", "/collections/load", Some(json!({"file": "missing.vlc", "name": "v3"})), 404),
        ("POST", "/save", None, 200),
        ("POST", "/load", None, 200),
        ("DELETE", "/collections/v2", None, 200),
        ("PUT", "/collections", None, 405),
    ];
    for (method, path, body, expected) in steps {
        let (status, answer) = call(method, path, body, Some("sesame"));
        assert_eq!(status, expected, "{method} {path}: {answer}");
        if status >= 400 {
            assert!(answer["error"]["code"].is_string(), "{method} {path}: {answer}");
        }
    }
    let (_, hits) =
        call("POST", "/collections/notes/search", Some(json!({"text": "tea?", "k": 1})), Some("sesame"));
    assert_eq!(hits["results"][0]["text"], "the user drinks green tea");
    assert_eq!(call("GET", "/collections", None, None).0, 401);
    assert_eq!(call("GET", "/collections", None, Some("wrong")).0, 401);
    assert_eq!(call("GET", "/health", None, None).0, 200);
    let huge = json!({"vector": vec![0.5; 300_000]});
    let sent = http.post(format!("{url}/collections/v/search")).bearer_auth("sesame").json(&huge).send();
    assert_refused_as_too_large(sent);
    assert_eq!(call("GET", "/health", None, None).0, 200);
    assert!(terminate(child).success());
}

/// The memory routes: scroll, count, delete, get, batch search, update, expiry, dedup,
/// thresholds and recency, with their shapes and errors.
#[tokio::test]
async fn memory_routes_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), true, None);
    let (s, v) =
        call(&app, "POST", "/collections", json!({"name": "m", "dimension": 8, "default_ttl_seconds": 3600}))
            .await;
    assert_eq!((s, &v["info"]["default_ttl_seconds"]), (StatusCode::CREATED, &json!(3600)), "{v}");
    let texts = json!({"texts": [
        {"text": "order 4032 shipped", "metadata": {"user": "ann", "kind": "order"}},
        {"text": "user likes green tea", "metadata": {"user": "ann", "kind": "pref"}},
        {"text": "meeting moved to friday", "metadata": {"user": "bob", "kind": "event"}, "ttl_seconds": 60},
        {"text": "never forget this", "metadata": {"user": "bob"}, "expires_at": "2999-01-01T00:00:00Z"}
    ]});
    let (s, v) = call(&app, "POST", "/collections/m/text", texts).await;
    assert_eq!(
        (s, &v["ids"], &v["message"]),
        (StatusCode::OK, &json!([0, 1, 2, 3]), &json!("4 records written")),
        "{v}"
    );

    // Scroll: pages by cursor, include, filter.
    let (s, v) = call(&app, "POST", "/collections/m/scroll", json!({"limit": 3})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["records"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(v["next_after_id"], 2);
    assert!(v["records"][0]["text"].is_string() && v["records"][0]["vector"].is_null());
    assert!(v["records"][0]["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')), "the default TTL: {v}");
    assert_eq!(v["records"][3]["expires_at"], Value::Null);
    let (_, v) =
        call(&app, "POST", "/collections/m/scroll", json!({"after_id": 2, "include": ["vector"]})).await;
    assert_eq!((v["records"][0]["id"].as_u64(), v["next_after_id"].clone()), (Some(3), Value::Null));
    assert_eq!(
        (v["records"][0]["vector"].as_array().map(Vec::len), v["records"][0]["text"].clone()),
        (Some(8), Value::Null)
    );
    assert_eq!(
        call(&app, "POST", "/collections/m/scroll", Value::Null).await.1["records"].as_array().unwrap().len(),
        4
    );
    let (s, v) = call(&app, "POST", "/collections/m/scroll", json!({"limit": 10001})).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter"));

    // Count.
    assert_eq!(
        call(&app, "POST", "/collections/m/count", json!({"filter": {"user": "ann"}})).await.1,
        json!({"count": 2})
    );
    assert_eq!(call(&app, "POST", "/collections/m/count", Value::Null).await.1, json!({"count": 4}));
    let (s, v) = call(&app, "POST", "/collections/m/count", json!({"filter": {"user": {"$bad": 1}}})).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_filter"));

    // Get many.
    let (_, v) = call(&app, "POST", "/collections/m/get", json!({"ids": [3, 99, 0]})).await;
    assert_eq!(
        v["records"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(),
        [3, 0]
    );
    assert_eq!(v["missing"], json!([99]));

    // Search: min_score, decay, batch.
    let (s, v) = call(
        &app,
        "POST",
        "/collections/m/search",
        json!({"text": "order 4032 shipped", "k": 4, "min_score": 0.99}),
    )
    .await;
    assert_eq!((s, v["results"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{v}");
    let (_, v) = call(
        &app,
        "POST",
        "/collections/m/search",
        json!({"text": "tea", "k": 2, "decay": {"half_life_seconds": 3600}}),
    )
    .await;
    assert!(v["results"][0]["similarity"].is_number(), "{v}");
    let batch = json!({"queries": [
        {"text": "green tea", "k": 1},
        {"text": "friday", "k": 2, "filter": {"user": "bob"}},
        {"vector": [1, 0, 0, 0, 0, 0, 0, 0], "k": 1, "include": ["vector"]}
    ]});
    let (s, v) = call(&app, "POST", "/collections/m/search/batch", batch).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!((results.len(), results[0][0]["id"].as_u64()), (3, Some(1)));
    assert!(results[1].as_array().unwrap().iter().all(|h| h["metadata"]["user"] == "bob"));
    assert!(results[2][0]["vector"].is_array());
    let (s, v) =
        call(&app, "POST", "/collections/m/search/batch", json!({"queries": [{"text": "x"}, {"k": 2}]}))
            .await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_query"));
    assert!(v["error"]["message"].as_str().unwrap().starts_with("query 1:"), "{v}");
    let (s, v) = call(&app, "POST", "/collections/m/search/batch", json!({"queries": []})).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "empty_batch"));

    // Update in place.
    let (s, v) = call(
        &app,
        "PUT",
        "/collections/m/vectors/1",
        json!({"text": "user likes black coffee", "metadata": {"user": "ann"}}),
    )
    .await;
    assert_eq!((s, &v["id"]), (StatusCode::OK, &json!(1)), "{v}");
    let (_, v) = call(&app, "GET", "/collections/m/vectors/1", Value::Null).await;
    assert_eq!(
        (v["text"].as_str(), v["metadata"].clone()),
        (Some("user likes black coffee"), json!({"user": "ann"}))
    );
    let (_, v) =
        call(&app, "POST", "/collections/m/search", json!({"text": "user likes black coffee", "k": 1})).await;
    assert_eq!(v["results"][0]["id"], 1, "re-embedded");
    assert_eq!(
        call(&app, "PUT", "/collections/m/vectors/77", json!({"metadata": null})).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, v) = call(&app, "PUT", "/collections/m/vectors/1", json!({})).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter"));

    // Dedup on add.
    let dup = json!({"text": "user likes black coffee", "metadata": {"user": "ann"}, "dedup": {"min_score": 0.95, "filter": {"user": "ann"}}});
    let (s, v) = call(&app, "POST", "/collections/m/text", dup).await;
    assert_eq!(
        (s, &v["id"], &v["records"]),
        (StatusCode::OK, &json!(1), &json!([{"id": 1, "merged": true}])),
        "{v}"
    );
    let (s, v) = call(
        &app,
        "POST",
        "/collections/m/vectors",
        json!({"id": 5, "vector": [1, 0, 0, 0, 0, 0, 0, 0], "dedup": {"min_score": 0.9}}),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter"), "dedup assigns ids");

    // Expiry on write: bad values.
    for bad in [
        json!({"vector": [1, 1, 1, 1, 1, 1, 1, 1], "ttl_seconds": -1}),
        json!({"vector": [1, 1, 1, 1, 1, 1, 1, 1], "expires_at": "soon"}),
        json!({"vector": [1, 1, 1, 1, 1, 1, 1, 1], "ttl_seconds": 5, "expires_at": "2999-01-01T00:00:00Z"}),
    ] {
        let (s, v) = call(&app, "POST", "/collections/m/vectors", bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
    }

    // Delete by ids, by filter, both; neither is refused.
    assert_eq!(
        call(&app, "POST", "/collections/m/delete", json!({"ids": [0, 99]})).await.1,
        json!({"deleted": 1})
    );
    assert_eq!(
        call(&app, "POST", "/collections/m/delete", json!({"ids": [1, 2], "filter": {"user": "bob"}}))
            .await
            .1,
        json!({"deleted": 1})
    );
    assert_eq!(
        call(&app, "POST", "/collections/m/delete", json!({"filter": {"user": "ann"}})).await.1,
        json!({"deleted": 1})
    );
    let (s, v) = call(&app, "POST", "/collections/m/delete", json!({})).await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter"));
    assert_eq!(call(&app, "POST", "/collections/m/count", Value::Null).await.1, json!({"count": 1}));
    assert_eq!(call(&app, "POST", "/collections/nope/count", Value::Null).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keyword_hybrid_document_filters_and_mmr_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), true, None);
    let (s, v) =
        call(&app, "POST", "/collections", json!({"name": "k", "dimension": 8, "text": {"stemming": true}}))
            .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let texts = json!({"texts": [
        {"text": "payment failed with ERR-4032", "metadata": {"user": "ann"}},
        {"text": "payments are running fine", "metadata": {"user": "bob"}},
        {"text": "ERR-4032 seen again", "metadata": {"user": "bob"}}
    ]});
    assert_eq!(call(&app, "POST", "/collections/k/text", texts).await.0, StatusCode::OK);
    let (s, v) =
        call(&app, "POST", "/collections/k/search", json!({"mode": "keyword", "text": "ERR-4032", "k": 5}))
            .await;
    assert_eq!((s, &v["mode"]), (StatusCode::OK, &json!("keyword")), "{v}");
    let ids: Vec<u64> = v["results"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{v}");
    assert_eq!(v["results"][0]["sources"]["keyword_rank"], 1);
    let body = json!({"mode": "keyword", "text": "payment", "where": {"user": "bob"}});
    let (_, v) = call(&app, "POST", "/collections/k/search", body).await;
    assert_eq!(v["results"][0]["id"], 1, "stemmed and filtered: {v}");
    let body = json!({"mode": "hybrid", "text": "ERR-4032 payment", "k": 3,
        "where_document": {"$not_contains": "again"}, "hybrid": {"fusion": "rrf", "rrf_k": 10}});
    let (s, v) = call(&app, "POST", "/collections/k/search", body).await;
    assert_eq!((s, &v["mode"]), (StatusCode::OK, &json!("hybrid")), "{v}");
    let hits = v["results"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{v}");
    assert!(hits.iter().all(|h| h["id"] != 2) && hits[0]["sources"]["vector_rank"].is_u64(), "{v}");
    let body = json!({"text": "payment", "k": 2, "mmr": {"lambda": 0.5, "fetch_k": 3}});
    let (s, v) = call(&app, "POST", "/collections/k/search", body).await;
    assert_eq!((s, v["results"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{v}");
    let batch =
        json!({"queries": [{"mode": "keyword", "text": "ERR-4032", "k": 1}, {"text": "payment", "k": 1}]});
    let (s, v) = call(&app, "POST", "/collections/k/search/batch", batch).await;
    assert_eq!((s, v["results"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{v}");
    for (bad, expected) in [
        (json!({"mode": "keyword", "vector": [0.0, 1.0]}), "invalid_query"),
        (json!({"mode": "fuzzy", "text": "x"}), "invalid_query"),
        (json!({"mode": "hybrid"}), "invalid_query"),
        (json!({"text": "x", "hybrid": {}}), "invalid_query"),
        (json!({"mode": "hybrid", "text": "x", "hybrid": {"fusion": "max"}}), "bad_request"),
        (json!({"text": "x", "where_document": {"$regex": "("}}), "invalid_filter"),
        (json!({"text": "x", "mmr": {"lambda": 3}}), "invalid_parameter"),
    ] {
        let (s, v) = call(&app, "POST", "/collections/k/search", bad.clone()).await;
        assert!(s.is_client_error() && code(&v) == expected, "{bad}: {s} {v}");
    }
}
