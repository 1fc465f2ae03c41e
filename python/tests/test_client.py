"""The in-process client: every call, every error class, the durable path, numpy in and out,
threads sharing a collection, and the built-in model."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vectorlite
from vectorlite import errors


@pytest.fixture()
def client():
    c = vectorlite.Client()
    yield c
    c.close()


def points(client, name="p", metric="euclidean", index="flat", **kw):
    col = client.create_collection(name, dimension=2, metric=metric, index=index, **kw)
    col.add(
        vectors=np.array([[i, 1] for i in range(10)], dtype=np.float32),
        texts=[f"t{i}" for i in range(10)],
        metadatas=[{"user": ["ann", "bob", "cy"][i % 3], "i": i} for i in range(10)],
    )
    return col


def test_collections_lifecycle(client):
    c = client.create_collection("a", dimension=4, metric="dot", index="hnsw", m=8, ef_search=32)
    assert (c.name, c.dimension, c.metric) == ("a", 4, "dot")
    assert c.info()["index"] == {"type": "hnsw", "m": 8, "ef_construction": 200, "ef_search": 32}
    assert client.list_collections() == ["a"]
    assert "a" in client and "b" not in client
    assert client.get_collection("a").name == "a"
    assert client.get_or_create_collection("a").dimension == 4
    assert client.get_or_create_collection("b", dimension=3).dimension == 3
    client.delete_collection("b")
    assert client.list_collections() == ["a"]
    assert repr(c).startswith('Collection(name="a"')


@pytest.mark.parametrize(
    "call, error, also",
    [
        (lambda c: c.get_collection("nope"), errors.CollectionNotFoundError, KeyError),
        (lambda c: c.delete_collection("nope"), errors.CollectionNotFoundError, KeyError),
        (lambda c: c.create_collection("bad name", dimension=2), errors.InvalidInputError, ValueError),
        (lambda c: c.create_collection("x", dimension=0), errors.InvalidInputError, ValueError),
        (lambda c: c.create_collection("x", dimension=2, metric="hamming"), errors.InvalidInputError, ValueError),
        (lambda c: c.create_collection("x", dimension=2, index="ivf"), errors.InvalidInputError, ValueError),
        (lambda c: c.create_collection("x", dimension=2, index="flat", m=4), errors.InvalidInputError, ValueError),
        (lambda c: c.create_collection("x", dimension=2, mm=4), errors.InvalidInputError, ValueError),
        (lambda c: c.create_collection("x", dimension=2, default_ttl_seconds=0), errors.InvalidInputError, ValueError),
        (lambda c: c.create_collection("x", dimension=2, vector_storage="int4"), errors.InvalidInputError, ValueError),
        (
            lambda c: c.create_collection("x", dimension=2, metric="l1", vector_storage="int8"),
            errors.InvalidInputError,
            ValueError,
        ),
        (
            lambda c: c.create_collection("x", dimension=2, metric="dot", vector_storage="f16").add(
                vectors=[[1.0, 1e6]]
            ),
            errors.InvalidInputError,
            ValueError,
        ),
    ],
)
def test_client_errors(client, call, error, also):
    with pytest.raises(error) as info:
        call(client)
    assert isinstance(info.value, also) and isinstance(info.value, vectorlite.VectorLiteError)
    assert str(info.value)


def test_on_disk_needs_full_precision_rows(client):
    for storage, rescore in [("f16", True), ("int8", False)]:
        with pytest.raises(vectorlite.InvalidInputError, match="on_disk"):
            client.create_collection("x", dimension=4, vector_storage=storage, rescore=rescore, on_disk=True)


@pytest.mark.parametrize(
    "storage, rescore, on_disk",
    [("f16", True, False), ("int8", True, False), ("int8", False, False), ("int8", True, True), ("f32", True, True)],
)
def test_compressed_storage_answers_like_f32(client, storage, rescore, on_disk, tmp_path):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(500, 16)).astype(np.float32)
    exact = client.create_collection("exact", dimension=16, index="flat")
    exact.add(vectors=vectors)
    c = client.create_collection("c", dimension=16, vector_storage=storage, rescore=rescore, on_disk=on_disk)
    c.add(vectors=vectors)
    info = c.info()
    assert (info["vector_storage"], info["rescore"], info["on_disk"]) == (storage, rescore, on_disk)
    assert (info["disk_bytes"] >= 500 * 16 * 4) == on_disk
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    hits = 0
    for q in queries:
        want = {r.id for r in exact.query(q, k=10)}
        hits += len(want & {r.id for r in c.query(q, k=10)})
    assert hits >= (0.85 if not rescore else 0.9) * 200
    path = tmp_path / "c.vlc"
    c.save(path)
    loaded = vectorlite.Collection.load(path)
    assert (loaded.info()["vector_storage"], loaded.info()["rescore"]) == (storage, rescore)
    assert loaded.info()["on_disk"] == on_disk
    assert [r.id for r in loaded.query(queries[0], k=10)] == [r.id for r in c.query(queries[0], k=10)]


def test_collection_exists(client):
    client.create_collection("a", dimension=2)
    with pytest.raises(errors.CollectionExistsError):
        client.create_collection("a", dimension=2)


def test_add_get_count_delete(client):
    col = points(client)
    assert len(col) == col.count() == 10
    assert col.count(where={"user": "ann"}) == 4
    got = col.get(ids=[3, 99, 1])
    assert [r.id for r in got] == [3, 1]
    assert (got[0].text, got[0].metadata, got[0].vector) == ("t3", {"user": "ann", "i": 3}, None)
    assert [r.id for r in col.get(where={"user": "bob"})] == [1, 4, 7]
    assert [r.id for r in col.get(limit=3, offset=2)] == [2, 3, 4]
    with_vectors = col.get(ids=[2], include=["vector"])[0]
    assert with_vectors.text is None and with_vectors.vector.dtype == np.float32
    assert with_vectors.vector.tolist() == [2.0, 1.0]
    assert [r.id for r in col.get(ids=[0, 1, 3], where={"user": "ann"})] == [0, 3]
    assert col.delete(ids=[0, 1, 42]) == 2
    assert col.delete(where={"user": "cy"}) == 3
    assert col.delete(ids=[3, 4], where={"user": "ann"}) == 1
    assert [r.id for r in col.get()] == [4, 6, 7, 9]
    with pytest.raises(errors.InvalidInputError):
        col.delete()


def test_add_with_ids_upsert_and_updates(client):
    col = client.create_collection("u", dimension=2, metric="euclidean", index="flat")
    assert col.add(vectors=[[1, 1], [2, 2]], ids=[10, 20]) == [10, 20]
    with pytest.raises(errors.IdExistsError):
        col.add(vectors=[[3, 3]], ids=[10])
    assert col.upsert(vectors=[[5, 5]], metadatas=[{"v": 2}], ids=[10]) == [10]
    assert col.get(ids=[10], include=["vector", "metadata"])[0].vector.tolist() == [5.0, 5.0]
    assert col.add(vectors=[[0, 0]]) == [21], "fresh ids continue after the given ones"
    col.update_metadata(20, {"k": "v"})
    assert col.get(ids=[20])[0].metadata == {"k": "v"}
    col.update_metadata(20, None)
    assert col.get(ids=[20])[0].metadata is None
    col.update(20, vector=[9, 9], text="moved", metadata={"m": 1})
    r = col.get(ids=[20], include=["vector", "text", "metadata"])[0]
    assert (r.vector.tolist(), r.text, r.metadata) == ([9.0, 9.0], "moved", {"m": 1})
    with pytest.raises(errors.IdNotFoundError):
        col.update(77, metadata=None)
    with pytest.raises(errors.IdNotFoundError):
        col.update_metadata(77, {})
    with pytest.raises(errors.InvalidInputError):
        col.upsert(vectors=[[1, 1]])


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"vectors": [[1, 2, 3]]}, errors.DimensionMismatchError),
        ({"vectors": [[float("nan"), 1]]}, errors.InvalidVectorError),
        ({"vectors": [[1e30, 1e30]]}, errors.InvalidVectorError),
        ({"vectors": [[1, 2]], "metadatas": [[1, 2]]}, errors.InvalidMetadataError),
        ({"vectors": [[1, 2]], "metadatas": [{"a": float("inf")}]}, errors.InvalidInputError),
        ({"vectors": [[1, 2]], "metadatas": [{1: "a"}]}, errors.InvalidInputError),
        ({"vectors": [[1, 2]], "metadatas": [{"a": object()}]}, errors.InvalidInputError),
        ({"vectors": [[1, 2]], "metadatas": [{"a": 2**70}]}, errors.InvalidInputError),
        ({"vectors": [[1, 2], [3, 4]], "texts": ["one"]}, errors.InvalidInputError),
        ({"vectors": [[1, 2]], "ids": [1, 2]}, errors.InvalidInputError),
        ({"vectors": [[1, "x"]]}, errors.InvalidInputError),
        ({"vectors": [[1, 2], [3]]}, errors.InvalidInputError),
        ({"vectors": np.zeros((2, 2, 2))}, errors.InvalidInputError),
        ({}, errors.InvalidInputError),
        ({"vectors": [[1, 2]], "ttl_seconds": -1}, errors.InvalidInputError),
    ],
)
def test_bad_writes_raise_and_change_nothing(client, kwargs, error):
    col = client.create_collection("c", dimension=2, metric="euclidean")
    with pytest.raises(error):
        col.add(**kwargs)
    assert col.count() == 0


def test_deep_metadata_is_refused_not_a_crash(client):
    col = client.create_collection("c", dimension=2, metric="euclidean")
    deep: dict = {}
    cursor = deep
    for _ in range(500):
        cursor["d"] = {}
        cursor = cursor["d"]
    with pytest.raises(errors.InvalidInputError):
        col.add(vectors=[[1, 2]], metadatas=[deep])
    with pytest.raises(errors.InvalidInputError):
        col.query(vector=[1, 2], where=deep)


def test_query_forms_filters_and_thresholds(client):
    col = points(client)
    hits = col.query(vector=np.array([0, 1], dtype=np.float32), k=3)
    assert [h.id for h in hits] == [0, 1, 2]
    assert hits[0].score == 0.0 and hits[1].score == pytest.approx(-1.0)
    assert (hits[0].text, hits[0].metadata, hits[0].vector) == ("t0", {"user": "ann", "i": 0}, None)
    assert [h.id for h in col.query(vector=[0, 1], k=3, where={"user": "bob"})] == [1, 4, 7]
    assert [h.id for h in col.query(vector=[0, 1], k=10, min_score=1.5)] == [0, 1]
    batch = col.query(vectors=np.array([[9, 1], [0, 1]]), k=1, include=["vector"])
    assert [[h.id for h in hs] for hs in batch] == [[9], [0]]
    assert batch[0][0].vector.tolist() == [9.0, 1.0] and batch[0][0].text is None
    assert repr(hits[0]).startswith("QueryResult(id=0")
    with pytest.raises(errors.InvalidInputError):
        col.query(k=3)
    with pytest.raises(errors.InvalidInputError):
        col.query(vector=[1, 1], text="x")
    with pytest.raises(errors.InvalidInputError):
        col.query(vector=[1, 1], k=0)
    with pytest.raises(errors.InvalidFilterError):
        col.query(vector=[1, 1], where={"a": {"$bogus": 1}})
    with pytest.raises(errors.DimensionMismatchError):
        col.query(vector=[1, 1, 1])


def test_expiry(client):
    col = client.create_collection("t", dimension=2, metric="euclidean", default_ttl_seconds=3600)
    col.add(vectors=[[1, 1]])
    col.add(vectors=[[2, 2]], ttl_seconds=0)
    r = col.get(ids=[0])[0]
    assert r.expires_at is not None and r.updated_at is not None
    assert r.expires_at - r.updated_at == 3_600_000
    assert col.count() == 1, "a zero TTL is expired at once"


def test_durable_database_survives_reopen(tmp_path):
    path = str(tmp_path / "db")
    with vectorlite.Client(path) as c:
        col = c.create_collection("mem", dimension=3, metric="cosine")
        col.add(vectors=np.eye(3, dtype=np.float32), metadatas=[{"i": i} for i in range(3)])
        with pytest.raises(errors.DatabaseLockedError):
            vectorlite.Client(path)
    c = vectorlite.Client(path)
    assert str(c.path) == path
    col = c.get_collection("mem")
    assert col.count() == 3
    assert col.query(vector=[0, 0, 1], k=1)[0].metadata == {"i": 2}
    c.checkpoint()
    c.close()
    with pytest.raises(errors.ClosedError):
        c.list_collections()
    assert repr(c) == "Client(closed)"


def test_save_and_load_a_collection_file(client, tmp_path):
    col = points(client, index="hnsw")
    file = str(tmp_path / "p.vlc")
    col.save(file)
    loaded = vectorlite.Collection.load(file)
    assert loaded.count() == 10 and loaded.name == "p"
    assert client.load_collection(file, name="copy").count() == 10
    with pytest.raises(errors.CollectionExistsError):
        client.load_collection(file)
    assert client.load_collection(file, mode="override").count() == 10
    (tmp_path / "junk.vlc").write_bytes(b"not a collection")
    with pytest.raises(errors.CorruptDataError):
        vectorlite.Collection.load(str(tmp_path / "junk.vlc"))
    with pytest.raises(errors.NotFoundError):
        vectorlite.Collection.load(str(tmp_path / "missing.vlc"))


def test_threads_share_a_collection_with_the_gil_released(client):
    col = client.create_collection("t", dimension=8, metric="euclidean", index="hnsw")
    rng = np.random.default_rng(3)
    col.add(vectors=rng.random((2_000, 8), dtype=np.float32))
    failures: list[BaseException] = []
    found: list[int] = []

    def search(seed: int):
        local = np.random.default_rng(seed)
        try:
            n = 0
            for _ in range(200):
                n += len(col.query(vector=local.random(8, dtype=np.float32), k=5))
            found.append(n)
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    def write(start: int):
        try:
            for i in range(start, start + 200):
                col.add(vectors=[[float(i)] * 8], ids=[100_000 + i])
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    threads = [threading.Thread(target=search, args=(s,)) for s in range(3)]
    threads += [threading.Thread(target=write, args=(s,)) for s in (0, 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert col.count() == 2_400
    assert found == [200 * 5] * 3


def test_text_with_the_built_in_model(model_dir):
    c = vectorlite.Client(model_dir=model_dir)
    notes = c.create_collection("notes")  # the model's dimension
    assert notes.dimension == 384
    notes.add(
        texts=["The user prefers green tea in the morning", "The user lives in Oslo", "Meeting moved to Friday"],
        metadatas=[{"kind": "pref"}, {"kind": "fact"}, {"kind": "event"}],
    )
    assert notes.query(text="what does the user drink?", k=1)[0].text.startswith("The user prefers green tea")
    assert notes.query(text="where is home?", k=1, where={"kind": "fact"})[0].metadata == {"kind": "fact"}
    batch = notes.query(texts=["tea", "friday"], k=1)
    assert [b[0].metadata["kind"] for b in batch] == ["pref", "event"]
    assert notes.embed(["tea"]).shape == (1, 384)
    notes.update(0, text="The user now prefers coffee")
    assert notes.query(text="coffee", k=1)[0].id == 0


def test_a_custom_embedding_function():
    calls = []

    def embed(texts):
        calls.append(len(texts))
        return [[float(len(t)), 1.0] for t in texts]

    c = vectorlite.Client(embedding_function=embed, model_id="length-v1")
    col = c.create_collection("c", metric="euclidean")
    assert col.dimension == 2
    col.add(texts=["a", "abcd"])
    assert col.query(text="abc", k=1)[0].text == "abcd"
    assert calls

    def broken(texts):
        raise RuntimeError("offline")

    c2 = vectorlite.Client(embedding_function=broken)
    with pytest.raises(errors.EmbeddingError):
        c2.create_collection("x")


def test_a_missing_model_is_a_clear_error(tmp_path):
    c = vectorlite.Client(model_dir=str(tmp_path / "nothing-here"))
    with pytest.raises(errors.NoEmbeddingModelError) as info:
        c.create_collection("notes")
    assert "nothing-here" in str(info.value)
    col = c.create_collection("v", dimension=2)  # vectors work without a model
    with pytest.raises(errors.NoEmbeddingModelError):
        col.add(texts=["hello"])
    assert col.count() == 0


HYBRID_TEXTS = [
    "Payment failed with ERR-4032 at checkout",
    "The card was declined again, error ERR-4032",
    "The user prefers green tea in the morning",
    "Invoice 7781 was paid in full",
]


def check_keyword_hybrid_and_mmr(notes) -> None:
    """The same checks for the in-process and the HTTP client."""
    hits = notes.query(text="ERR-4032", k=5, mode="keyword")
    assert sorted(h.id for h in hits) == [0, 1], hits
    assert hits[0].sources["keyword_rank"] == 1 and hits[0].sources["vector_rank"] is None
    only = notes.query(text="ERR-4032", k=5, mode="keyword", where_document={"$contains": "declined"})
    assert [h.id for h in only] == [1]
    mixed = notes.query(text="invoice 7781 payment", k=2, mode="hybrid", hybrid={"fusion": "rrf", "rrf_k": 10})
    assert mixed[0].id == 3 and mixed[0].sources["keyword_rank"] == 1, mixed
    assert mixed[0].sources["vector_rank"] is not None
    weighted = notes.query(text="tea", k=1, mode="hybrid", hybrid={"fusion": "weighted", "vector_weight": 0.2})
    assert weighted[0].id == 2
    batch = notes.query(texts=["ERR-4032", "tea"], k=1, mode="keyword")
    assert [b[0].id for b in batch] in ([0, 2], [1, 2])
    no_err = notes.query(text="payment problem", k=4, where_document={"$not_contains": "ERR"})
    assert {h.id for h in no_err} == {2, 3}
    diverse = notes.query(text="ERR-4032 payment failed", k=2, mmr={"lambda": 0.3, "fetch_k": 4})
    assert len(diverse) == 2 and {h.id for h in diverse} != {0, 1}, "MMR skips the near-duplicate"
    for bad in (
        {"mode": "fuzzy"},
        {"mode": "keyword", "hybrid": {}},
        {"mode": "hybrid", "hybrid": {"fusion": "max"}},
        {"where_document": {"$regex": "("}},
        {"mmr": {"lambda": 3}},
    ):
        with pytest.raises(ValueError):
            notes.query(text="x", **bad)


def test_keyword_hybrid_document_filters_and_mmr(model_dir):
    c = vectorlite.Client(model_dir=model_dir)
    notes = c.create_collection("notes")
    notes.add(texts=HYBRID_TEXTS)
    check_keyword_hybrid_and_mmr(notes)
    with pytest.raises(ValueError):
        notes.query(vector=np.zeros(384, dtype=np.float32) + 1, k=1, mode="keyword")
