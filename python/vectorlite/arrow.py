"""Arrow and Parquet in and out: a collection as a ``pyarrow.Table`` and back.

Columns: ``id`` (uint64), ``vector`` (fixed-size list of float32, built from the collection's
contiguous vector buffer without per-row copies), ``text`` (utf8), ``metadata`` (the JSON
object as a string, so nothing is lost whatever its shape) and, when asked, flattened
metadata columns named ``meta_<key>`` (scalars as Arrow types them, anything else as JSON
text) for engines that filter on columns. The table's schema metadata records the collection's
metric and dimension, which ``from_arrow`` uses. Needs ``pyarrow`` (``pip install
"./python[arrow]"``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .errors import InvalidInputError

#: Every column ``to_arrow`` can write besides ``id``.
ALL = ("vector", "text", "metadata")

#: Schema metadata keys.
METRIC_KEY = b"vectorlite.metric"
DIMENSION_KEY = b"vectorlite.dimension"


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('Arrow support needs pyarrow: pip install "./python[arrow]"') from e
    return pyarrow


def columns(collection: Any) -> tuple[np.ndarray, np.ndarray, list[str | None], list[dict[str, Any] | None]]:
    """``(ids, vectors, texts, metadatas)`` of every record, in id order."""
    if hasattr(collection, "_columns"):
        return collection._columns()
    # A collection over HTTP: page through it.
    ids: list[int] = []
    vectors: list[np.ndarray] = []
    texts: list[str | None] = []
    metas: list[dict[str, Any] | None] = []
    offset = 0
    while True:
        page = collection.get(limit=10_000, offset=offset, include=["vector", "text", "metadata"])
        for r in page:
            ids.append(r.id)
            vectors.append(np.asarray(r.vector, dtype=np.float32))
            texts.append(r.text)
            metas.append(r.metadata)
        if len(page) < 10_000:
            break
        offset += len(page)
    matrix = np.stack(vectors) if vectors else np.zeros((0, collection.dimension), dtype=np.float32)
    return np.asarray(ids, dtype=np.uint64), matrix, texts, metas


def _flattened(pa: Any, metas: list[dict[str, Any] | None], keys: Sequence[str]) -> dict[str, Any]:
    """One column per key: scalars as Arrow infers them; anything else as JSON text."""
    out = {}
    for key in keys:
        values = [None if m is None else m.get(key) for m in metas]
        try:
            if any(isinstance(v, (dict, list)) for v in values):
                raise TypeError("not scalar")
            out[f"meta_{key}"] = pa.array(values)
        except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
            out[f"meta_{key}"] = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
    return out


def to_arrow(collection: Any, include: Iterable[str] | None = None, flatten: Any = None) -> Any:
    """The collection as a ``pyarrow.Table``. ``include``: any of ``vector``, ``text``,
    ``metadata`` (default all); ``flatten``: metadata keys to add as their own columns, or
    ``True`` for every top-level key."""
    pa = _pa()
    wanted = tuple(ALL if include is None else include)
    unknown = set(wanted) - set(ALL)
    if unknown:
        raise InvalidInputError(f"cannot include {sorted(unknown)}; use {', '.join(ALL)}", "invalid_parameter")
    ids, vectors, texts, metas = columns(collection)
    data: dict[str, Any] = {"id": pa.array(ids, pa.uint64())}
    dim = int(collection.dimension)
    if "vector" in wanted:
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
        data["vector"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    if "text" in wanted:
        data["text"] = pa.array(texts, pa.string())
    if "metadata" in wanted:
        data["metadata"] = pa.array(
            [None if m is None else json.dumps(m, ensure_ascii=False, sort_keys=True) for m in metas], pa.string()
        )
    if flatten:
        keys = sorted({k for m in metas if m for k in m}) if flatten is True else list(flatten)
        data.update(_flattened(pa, metas, keys))
    schema_meta = {METRIC_KEY: str(collection.metric).encode(), DIMENSION_KEY: str(dim).encode()}
    return pa.table(data).replace_schema_metadata(schema_meta)


def _vectors(pa: Any, column: Any) -> np.ndarray:
    """A (fixed-size) list column of numbers as a 2-D float32 array."""
    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if column.null_count:
        raise InvalidInputError("the vector column has nulls", "invalid_parameter")
    if pa.types.is_fixed_size_list(column.type):
        dim = column.type.list_size
        values = column.flatten().to_numpy(zero_copy_only=False)
        return values.astype(np.float32, copy=False).reshape(-1, dim)
    rows = column.to_pylist()
    return np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, 0), dtype=np.float32)


def _metadata(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        parsed = json.loads(value)
        if parsed is not None and not isinstance(parsed, dict):
            raise InvalidInputError(f"metadata must be a JSON object, got {value[:60]!r}", "invalid_metadata")
        return parsed
    raise InvalidInputError(f"metadata must be a JSON object or a string holding one, got {type(value).__name__}")


def add_arrow(
    collection: Any,
    table: Any,
    batch_size: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Writes the rows of ``table`` (columns as ``to_arrow`` makes them; ``vector`` may be
    missing when ``text`` is there and the collection has a model) in batches of
    ``batch_size``. With an ``id`` column rows are upserted under their ids, otherwise added.
    ``progress(done, total)`` is called after each batch. Returns the ids."""
    pa = _pa()
    if batch_size < 1:
        raise InvalidInputError("batch_size must be at least 1", "invalid_parameter")
    names = set(table.column_names)
    if "vector" not in names and "text" not in names:
        raise InvalidInputError("the table needs a vector or a text column", "invalid_parameter")
    total = table.num_rows
    written: list[int] = []
    for start in range(0, total, batch_size):
        part = table.slice(start, batch_size)
        vectors = _vectors(pa, part.column("vector")) if "vector" in names else None
        texts = part.column("text").to_pylist() if "text" in names else None
        metas = [_metadata(m) for m in part.column("metadata").to_pylist()] if "metadata" in names else None
        ids = [int(i) for i in part.column("id").to_pylist()] if "id" in names else None
        written += write_rows(collection, vectors, texts, metas, ids)
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return written


def write_rows(
    collection: Any,
    vectors: np.ndarray | None,
    texts: list[str | None] | None,
    metas: list[dict[str, Any] | None] | None,
    ids: list[int] | None,
) -> list[int]:
    """Adds the rows (upserts them under ``ids`` when given). Rows with and without text go
    in separate calls, since a call takes texts for all of its rows or for none."""
    n = len(ids) if ids is not None else len(vectors) if vectors is not None else len(texts or [])
    if texts is not None and any(t is None for t in texts):
        if vectors is None:
            raise InvalidInputError("rows without a vector need a text to embed", "invalid_parameter")
        written = [0] * n
        for has_text in (True, False):
            rows = [i for i in range(n) if (texts[i] is not None) == has_text]
            if rows:
                got = write_rows(
                    collection,
                    vectors[rows],
                    [texts[i] for i in rows] if has_text else None,
                    None if metas is None else [metas[i] for i in rows],
                    None if ids is None else [ids[i] for i in rows],
                )
                for i, record_id in zip(rows, got):
                    written[i] = record_id
        return written
    if ids is not None:
        return list(collection.upsert(vectors=vectors, texts=texts, metadatas=metas, ids=ids))
    return list(collection.add(vectors=vectors, texts=texts, metadatas=metas))


def from_arrow(client: Any, name: str, table: Any, metric: str | None = None, **create: Any) -> Any:
    """A new collection ``name`` in ``client`` holding ``table``'s rows; its dimension comes
    from the vector column, its metric from the table's schema metadata (or ``metric``)."""
    pa = _pa()
    meta = table.schema.metadata or {}
    if metric is None:
        metric = meta.get(METRIC_KEY, b"cosine").decode()
    dimension = None
    if "vector" in table.column_names:
        vtype = table.schema.field("vector").type
        dimension = vtype.list_size if pa.types.is_fixed_size_list(vtype) else len(table.column("vector")[0].as_py())
    collection = client.create_collection(name, dimension=dimension, metric=metric, **create)
    add_arrow(collection, table)
    return collection


def to_parquet(collection: Any, path: Any, include: Iterable[str] | None = None, flatten: Any = None) -> None:
    """Writes ``to_arrow(collection, ...)`` to a Parquet file."""
    import pyarrow.parquet as pq

    pq.write_table(to_arrow(collection, include, flatten), path)


def read_parquet(client: Any, name: str, path: Any, **create: Any) -> Any:
    """A new collection ``name`` from a Parquet file written by ``to_parquet`` (or any file with
    the same columns)."""
    import pyarrow.parquet as pq

    return from_arrow(client, name, pq.read_table(path), **create)
