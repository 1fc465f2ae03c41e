"""HttpClient against the real `vectorlite serve` binary: the same calls and error classes as
the in-process client, the API key, and several clients sharing one database."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import serving

import vectorlite
from vectorlite import errors


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_dir):
    with serving(tmp_path_factory.mktemp("served"), model_dir, "--api-key", "sekret") as url:
        yield url


@pytest.fixture()
def client(server):
    return vectorlite.HttpClient(server, api_key="sekret")


def test_the_api_key_is_required(server):
    with pytest.raises(vectorlite.VectorLiteError) as info:
        vectorlite.HttpClient(server).list_collections()
    assert info.value.code == "unauthorized"


def test_collections_and_records_over_http(client):
    col = client.create_collection("h1", dimension=2, metric="euclidean", index="hnsw", m=8)
    assert (col.dimension, col.metric) == (2, "euclidean")
    assert col.info()["index"]["m"] == 8
    assert "h1" in client.list_collections() and "h1" in client
    assert col.add(
        vectors=np.array([[i, 1] for i in range(5)], dtype=np.float32), metadatas=[{"i": i} for i in range(5)]
    ) == [0, 1, 2, 3, 4]
    assert col.add(vectors=[[9, 9]], ids=[100], texts=["nine"]) == [100]
    assert col.upsert(vectors=[[8, 8]], ids=[100], texts=["eight"]) == [100]
    assert col.count() == 6 and len(col) == 6
    assert col.count(where={"i": {"$gte": 3}}) == 2
    hits = col.query(vector=[0, 1], k=2)
    assert [h.id for h in hits] == [0, 1] and hits[0].metadata == {"i": 0}
    batch = col.query(vectors=[[4, 1], [8, 8]], k=1, include=["vector", "text"])
    assert [b[0].id for b in batch] == [4, 100]
    assert batch[1][0].text == "eight" and batch[1][0].vector.tolist() == [8.0, 8.0]
    assert [r.id for r in col.get(ids=[100, 4, 55])] == [100, 4]
    assert [r.id for r in col.get(where={"i": {"$lt": 2}})] == [0, 1]
    assert [r.id for r in col.get(limit=2, offset=1)] == [1, 2]
    col.update_metadata(0, {"i": 10})
    col.update(1, vector=[7, 7], metadata={"moved": True})
    assert col.get(ids=[1], include=["vector", "metadata"])[0].vector.tolist() == [7.0, 7.0]
    assert col.delete(ids=[0, 1]) == 2
    assert col.delete(where={"i": 2}) == 1
    assert col.count() == 3
    client.delete_collection("h1")
    assert "h1" not in client.list_collections()


@pytest.mark.parametrize(
    "call, error, also",
    [
        (lambda c: c.get_collection("nope"), errors.CollectionNotFoundError, KeyError),
        (lambda c: c.create_collection("bad name", dimension=2), errors.InvalidInputError, ValueError),
        (
            lambda c: c.get_or_create_collection("e", dimension=2).add(vectors=[[1, 2, 3]]),
            errors.DimensionMismatchError,
            ValueError,
        ),
        (
            lambda c: (
                c.get_or_create_collection("e", dimension=2).add(vectors=[[1, 2]], ids=[5])
                and c.get_collection("e").add(vectors=[[1, 2]], ids=[5])
            ),
            errors.IdExistsError,
            vectorlite.VectorLiteError,
        ),
        (
            lambda c: c.get_or_create_collection("e", dimension=2).query(vector=[1, 1], where={"a": {"$bad": 1}}),
            errors.InvalidFilterError,
            ValueError,
        ),
        (
            lambda c: c.get_or_create_collection("e", dimension=2).update_metadata(999, {}),
            errors.IdNotFoundError,
            KeyError,
        ),
    ],
)
def test_the_same_error_classes_as_in_process(client, call, error, also):
    with pytest.raises(error) as info:
        call(client)
    assert isinstance(info.value, also)


def test_text_and_a_second_client_on_the_same_database(client, server):
    notes = client.get_or_create_collection("notes")
    notes.add(
        texts=["The user prefers green tea", "The bank meeting is on Friday"], metadatas=[{"k": "pref"}, {"k": "event"}]
    )
    other = vectorlite.HttpClient(server, api_key="sekret").get_collection("notes")
    assert other.query(text="what does the user drink?", k=1)[0].metadata == {"k": "pref"}
    assert [b[0].metadata["k"] for b in other.query(texts=["tea", "friday"], k=1)] == ["pref", "event"]
    client.checkpoint()


def test_an_unreachable_server_is_a_server_error():
    with pytest.raises(errors.ServerError):
        vectorlite.HttpClient("http://127.0.0.1:9", timeout=2).list_collections()


def test_keyword_hybrid_document_filters_and_mmr_over_http(client):
    from test_client import HYBRID_TEXTS, check_keyword_hybrid_and_mmr

    notes = client.create_collection("hybrid")
    notes.add(texts=HYBRID_TEXTS)
    check_keyword_hybrid_and_mmr(notes)


def test_arrow_round_trip_over_http(client):
    col = client.create_collection("arrowed", dimension=3, metric="euclidean", index="flat")
    col.add(vectors=np.eye(3, dtype=np.float32), texts=["a", "b", "c"], metadatas=[{"i": 0}, None, {"i": 2}])
    table = col.to_arrow()
    assert table.column("id").to_pylist() == [0, 1, 2] and table.column("text").to_pylist() == ["a", "b", "c"]
    copy = client.create_collection("arrowed2", dimension=3, metric="euclidean", index="flat")
    assert copy.add_arrow(table) == [0, 1, 2]
    assert [r.metadata for r in copy.get(ids=[0, 1, 2])] == [{"i": 0}, None, {"i": 2}]
