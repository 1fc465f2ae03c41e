"""Hand a collection to LanceDB or Qdrant when one machine is not enough, and take one back.

Both directions keep ids, vectors (float32, as stored: L2-normalised under cosine; bit for bit
through Arrow, Parquet and LanceDB, while Qdrant normalises cosine vectors again in its own
rounding, so their last bit may differ), text and metadata. Metadata travels whole as JSON; what the target cannot hold natively is reported in
the returned :class:`Report`, never dropped.

=============  ======================  =================================================
vectorlite     LanceDB                 Qdrant
=============  ======================  =================================================
id (u64)       ``id`` uint64 column    point id (unsigned integer)
vector         ``vector`` fixed list   the collection's single unnamed vector
text           ``text`` column         payload ``text``
metadata       ``metadata`` JSON text  payload keys (a key named ``text`` -> ``_meta_text``)
               and ``meta_<key>`` cols
cosine         metric "cosine"         ``Distance.COSINE``
euclidean      metric "l2"             ``Distance.EUCLID``
dot            metric "dot"            ``Distance.DOT``
manhattan      (searched as l2)        ``Distance.MANHATTAN``
=============  ======================  =================================================

The same calls take a LanceDB object-store URI (``s3://bucket/path``) or a ``QdrantClient``
connected to a cluster URL; the tests use a local directory and ``QdrantClient(":memory:")``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import arrow
from .errors import InvalidInputError

LANCE_METRIC = {"cosine": "cosine", "euclidean": "l2", "dot": "dot", "manhattan": "l2"}
QDRANT_DISTANCE = {"cosine": "Cosine", "euclidean": "Euclid", "dot": "Dot", "manhattan": "Manhattan"}
#: Payload key of the record's text in Qdrant, and where a metadata key of that name goes.
TEXT_KEY = "text"
MOVED_TEXT_KEY = "_meta_text"


@dataclass
class Report:
    """What a hand-off moved, and what it had to carry in another form."""

    records: int = 0
    notes: list[str] = field(default_factory=list)


def to_lancedb(collection: Any, db_uri: str, table_name: str, mode: str = "create") -> Report:
    """Writes the collection to a LanceDB table (``mode``: "create" or "overwrite")."""
    import lancedb

    # Scalar metadata keys also as their own columns, which LanceDB filters can name.
    table = arrow.to_arrow(collection, flatten=True)
    db = lancedb.connect(db_uri)
    db.create_table(table_name, data=table, mode=mode)
    report = Report(records=table.num_rows)
    if str(collection.metric) == "manhattan":
        report.notes.append("LanceDB has no manhattan metric: search it with l2 (the ranking differs)")
    return report


def from_lancedb(client: Any, name: str, db_uri: str, table_name: str, metric: str | None = None) -> Any:
    """A new collection ``name`` from a LanceDB table written by :func:`to_lancedb` (or any
    table with ``vector`` and optional ``id``, ``text``, ``metadata`` columns)."""
    import lancedb

    table = lancedb.connect(db_uri).open_table(table_name).to_arrow()
    return arrow.from_arrow(client, name, table, metric=metric)


def lancedb_search(
    db_uri: str, table_name: str, vector: Any, k: int, metric: str, where: str | None = None
) -> list[int]:
    """Exact top-``k`` ids from a LanceDB table (no ANN index: a flat scan), optionally with a
    SQL filter on the ``meta_<key>`` columns, for comparisons."""
    import lancedb

    table = lancedb.connect(db_uri).open_table(table_name)
    query = table.search(np.asarray(vector, dtype=np.float32)).distance_type(LANCE_METRIC[metric]).limit(k)
    if where is not None:
        query = query.where(where, prefilter=True)
    return [int(i) for i in query.to_arrow().column("id").to_pylist()]


def _payload(text: str | None, metadata: dict[str, Any] | None, notes: set[str]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if key == TEXT_KEY:
            notes.add(f"a metadata key '{TEXT_KEY}' is stored as '{MOVED_TEXT_KEY}' (the text has that key)")
            key = MOVED_TEXT_KEY
        if isinstance(value, (dict, list)):
            notes.add("nested metadata is kept as JSON payload; Qdrant filters reach it by nested keys")
        payload[key] = value
    if text is not None:
        payload[TEXT_KEY] = text
    return payload


def _retry(call: Any, attempts: int = 5) -> Any:
    for attempt in range(attempts):
        try:
            return call()
        except Exception:  # network errors of any client library; the last one is re-raised
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)
    return None


def to_qdrant(collection: Any, client: Any, collection_name: str, batch_size: int = 512) -> Report:
    """Creates ``collection_name`` in Qdrant with the collection's dimension and distance and
    upserts every record (batched, retried) as a point: id, vector, payload = metadata + text."""
    from qdrant_client import models

    metric = str(collection.metric)
    ids, vectors, texts, metas = arrow.columns(collection)
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(
            size=int(collection.dimension), distance=getattr(models.Distance, QDRANT_DISTANCE[metric].upper())
        ),
    )
    notes: set[str] = set()
    for start in range(0, len(ids), batch_size):
        points = [
            models.PointStruct(id=int(ids[i]), vector=vectors[i].tolist(), payload=_payload(texts[i], metas[i], notes))
            for i in range(start, min(start + batch_size, len(ids)))
        ]
        _retry(lambda points=points: client.upsert(collection_name, points=points, wait=True))
    return Report(records=len(ids), notes=sorted(notes))


def from_qdrant(client: Any, collection_name: str, target: Any, name: str, batch_size: int = 512) -> Any:
    """A new collection ``name`` in ``target`` (a vectorlite client) from a Qdrant collection
    with a single unnamed vector: ids (unsigned integers), vectors and payload (``text`` becomes
    the record's text, the rest its metadata)."""
    info = client.get_collection(collection_name)
    params = info.config.params.vectors
    by_distance = {v.upper(): k for k, v in QDRANT_DISTANCE.items()}
    distance = str(getattr(params.distance, "value", params.distance)).upper()
    if distance not in by_distance:
        raise InvalidInputError(f"Qdrant distance {distance} has no vectorlite metric", "invalid_parameter")
    out = target.create_collection(name, dimension=int(params.size), metric=by_distance[distance])
    offset = None
    while True:
        points, offset = client.scroll(
            collection_name, limit=batch_size, offset=offset, with_payload=True, with_vectors=True
        )
        if points:
            ids, vectors, texts, metas = [], [], [], []
            for p in points:
                if not isinstance(p.id, int):
                    raise InvalidInputError(f"point id {p.id!r} is not an unsigned integer", "invalid_parameter")
                payload = dict(p.payload or {})
                text = payload.pop(TEXT_KEY, None)
                if MOVED_TEXT_KEY in payload:
                    payload[TEXT_KEY] = payload.pop(MOVED_TEXT_KEY)
                ids.append(p.id)
                vectors.append(p.vector)
                texts.append(text)
                metas.append(payload or None)
            has_text = any(t is not None for t in texts)
            arrow.write_rows(out, np.asarray(vectors, dtype=np.float32), texts if has_text else None, metas, ids)
        if offset is None:
            return out


def describe(report: Report) -> str:
    """One line per note, for logs."""
    return json.dumps({"records": report.records, "notes": report.notes})
