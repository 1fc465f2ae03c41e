"""Hand-offs with nothing lost: vectorlite -> Arrow / Parquet -> vectorlite (bit-identical
vectors, equal text and metadata), -> LanceDB -> vectorlite and -> Qdrant (local mode) ->
vectorlite, with the same exact neighbours and filter results on both sides."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from qdrant_client import QdrantClient, models

import vectorlite
from vectorlite import arrow, handoff

N, DIM = 3_000, 16
USERS = ["ann", "bob", "çelik", "dörte"]


def make(client, name: str, metric: str = "cosine"):
    rng = np.random.default_rng(5)
    c = client.create_collection(name, dimension=DIM, metric=metric, index="flat")
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    metas = [
        None if i % 17 == 0 else {"user": USERS[i % 4], "n": i, "tags": ["x", str(i % 3)], "loc": {"city": "Oslo"}}
        for i in range(N)
    ]
    texts = [None if i % 11 == 0 else f"note {i}: café ☕ 東京 — ERR-{i}" for i in range(N)]
    ids = [i * 7 + 3 for i in range(N)]
    arrow.write_rows(c, vectors, texts, metas, ids)
    return c


def assert_same_records(a, b, bit_exact: bool = True) -> None:
    ida, va, ta, ma = arrow.columns(a)
    idb, vb, tb, mb = arrow.columns(b)
    assert len(ida) == N
    assert np.array_equal(ida, idb)
    assert va.dtype == vb.dtype == np.float32
    if bit_exact:
        assert np.array_equal(va.view(np.uint32), vb.view(np.uint32)), "vectors are bit-identical"
    else:
        # Qdrant normalises cosine vectors itself, in its own rounding: the last bit may differ.
        assert np.abs(va - vb).max() < 1e-6
    assert ta == tb
    assert ma == mb
    assert (a.dimension, a.metric) == (b.dimension, b.metric)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_arrow_and_parquet_round_trips(tmp_path, metric):
    client = vectorlite.Client()
    c = make(client, "src", metric)
    table = c.to_arrow()
    assert table.column_names == ["id", "vector", "text", "metadata"]
    assert table.schema.field("id").type == pa.uint64()
    assert table.schema.field("vector").type == pa.list_(pa.float32(), DIM)
    assert table.num_rows == N
    back = arrow.from_arrow(vectorlite.Client(), "back", table)
    assert_same_records(c, back)
    c.to_parquet(tmp_path / "c.parquet")
    assert_same_records(c, arrow.read_parquet(vectorlite.Client(), "pq", tmp_path / "c.parquet"))
    # Flattened columns for engines that filter on columns; nested values as JSON text.
    flat = c.to_arrow(include=["metadata"], flatten=["user", "loc"])
    assert flat.column_names == ["id", "metadata", "meta_user", "meta_loc"]
    assert flat.column("meta_user")[1].as_py() == "bob" and flat.column("meta_loc")[1].as_py() == '{"city": "Oslo"}'
    # add_arrow into an existing collection, in batches, with progress.
    seen = []
    target = vectorlite.Client().create_collection("t", dimension=DIM, metric=metric, index="flat")
    ids = target.add_arrow(table, batch_size=1_000, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (N, N) and len(seen) == 3 and ids == table.column("id").to_pylist()
    with pytest.raises(ValueError):
        c.to_arrow(include=["vectors"])


def test_lancedb_round_trip_with_the_same_neighbours_and_filters(tmp_path):
    client = vectorlite.Client()
    c = make(client, "src")
    uri = str(tmp_path / "lance")
    report = handoff.to_lancedb(c, uri, "memories")
    assert report.records == N and report.notes == []
    back = handoff.from_lancedb(vectorlite.Client(), "back", uri, "memories")
    assert_same_records(c, back)
    rng = np.random.default_rng(9)
    checked = 0
    for q in rng.normal(size=(20, DIM)).astype(np.float32):
        ours = [h.id for h in c.query(vector=q, k=10)]
        assert handoff.lancedb_search(uri, "memories", q, 10, "cosine") == ours
        filtered = [h.id for h in c.query(vector=q, k=10, where={"user": "bob"})]
        assert handoff.lancedb_search(uri, "memories", q, 10, "cosine", where="meta_user = 'bob'") == filtered
        checked += 2
    assert checked == 40


def test_qdrant_round_trip_with_the_same_neighbours_and_filters():
    client = vectorlite.Client()
    c = make(client, "src")
    q = QdrantClient(":memory:")
    report = handoff.to_qdrant(c, q, "memories", batch_size=700)
    assert report.records == N and any("nested" in n for n in report.notes)
    assert q.count("memories").count == N
    back = handoff.from_qdrant(q, "memories", vectorlite.Client(), "back")
    assert_same_records(c, back, bit_exact=False)
    rng = np.random.default_rng(3)
    filters = [
        ({"user": "ann"}, models.FieldCondition(key="user", match=models.MatchValue(value="ann"))),
        ({"n": {"$gte": 2500}}, models.FieldCondition(key="n", range=models.Range(gte=2500))),
    ]
    for where, condition in filters:
        flt = models.Filter(must=[condition])
        assert q.count("memories", count_filter=flt, exact=True).count == c.count(where=where)
        for v in rng.normal(size=(10, DIM)).astype(np.float32):
            theirs = q.query_points("memories", query=v.tolist(), limit=10, query_filter=flt).points
            assert [p.id for p in theirs] == [h.id for h in c.query(vector=v, k=10, where=where)]
