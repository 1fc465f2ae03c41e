"""``HttpClient``: the API of :class:`vectorlite.Client` over a running ``vectorlite serve``, for
several processes sharing one database. Standard library only (``urllib``); vectors come back
as float32 numpy arrays, errors as the same :mod:`vectorlite.errors` classes.
"""

from __future__ import annotations

import datetime as _dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from typing_extensions import Self

from ._vectorlite import QueryResult, Record
from .errors import ServerError, VectorLiteError, error_for_code

_MAX_PAGE = 10_000
_MAX_BATCH = 10_000


def _ms(rfc3339: str | None) -> int | None:
    if not rfc3339:
        return None
    return int(_dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def _vectors(vectors: Any) -> list[list[float]]:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise error_for_code(
            "invalid_parameter", f"vectors: a {array.ndim}-dimensional array; give one vector or a 2-D batch"
        )
    return array.tolist()


def _include(include: Iterable[str] | None) -> list[str] | None:
    return None if include is None else list(include)


class HttpClient:
    """A client of a vectorlite server at ``url`` (``http://127.0.0.1:3001``), with the same
    methods as :class:`vectorlite.Client`."""

    def __init__(self, url: str = "http://127.0.0.1:3001", api_key: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    # -- transport -------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if self.api_key:
            request.add_header("authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                detail = json.loads(raw)["error"]
                code, message = str(detail["code"]), str(detail["message"])
            except (ValueError, KeyError, TypeError):
                raise ServerError(f"HTTP {e.code}: {raw[:200]!r}", "internal") from None
            raise error_for_code(code, message) from None
        except (urllib.error.URLError, OSError) as e:
            raise ServerError(f"cannot reach {self.url}: {e}", "internal") from None
        return json.loads(payload) if payload else None

    # -- collections -----------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        dimension: int | None = None,
        metric: str = "cosine",
        index: str = "hnsw",
        *,
        default_ttl_seconds: int | None = None,
        vector_storage: str = "f32",
        rescore: bool = True,
        on_disk: bool = False,
        **hnsw_params: int,
    ) -> HttpCollection:
        spec: Any = index if not hnsw_params else {"type": index, **hnsw_params}
        body: dict[str, Any] = {"name": name, "metric": metric, "index": spec}
        if dimension is not None:
            body["dimension"] = dimension
        if default_ttl_seconds is not None:
            body["default_ttl_seconds"] = default_ttl_seconds
        if vector_storage != "f32" or not rescore:
            body["vector_storage"] = vector_storage
            body["rescore"] = rescore
        if on_disk:
            body["on_disk"] = on_disk
        info = self._request("POST", "/collections", body)["info"]
        return HttpCollection(self, name, info)

    def get_collection(self, name: str) -> HttpCollection:
        info = self._request("GET", f"/collections/{urllib.parse.quote(name, safe='')}")["info"]
        return HttpCollection(self, name, info)

    def get_or_create_collection(
        self, name: str, dimension: int | None = None, metric: str = "cosine", index: str = "hnsw", **kwargs: Any
    ) -> HttpCollection:
        try:
            return self.get_collection(name)
        except KeyError:
            return self.create_collection(name, dimension, metric, index, **kwargs)

    def list_collections(self) -> list[str]:
        return list(self._request("GET", "/collections")["collections"])

    def delete_collection(self, name: str) -> None:
        self._request("DELETE", f"/collections/{urllib.parse.quote(name, safe='')}")

    def __contains__(self, name: str) -> bool:
        return name in self.list_collections()

    def checkpoint(self) -> None:
        self._request("POST", "/save")

    def close(self) -> None:
        """Nothing to release: the server owns the database."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"HttpClient({self.url!r})"


class HttpCollection:
    """A collection on a server, with the methods of :class:`vectorlite.Collection`."""

    def __init__(self, client: HttpClient, name: str, info: dict[str, Any]) -> None:
        self._client = client
        self.name = name
        self.dimension: int = info["dimension"]
        self.metric: str = info["metric"]
        self._path = f"/collections/{urllib.parse.quote(name, safe='')}"

    def _call(self, method: str, suffix: str, body: Any = None) -> Any:
        return self._client._request(method, self._path + suffix, body)

    def info(self) -> dict[str, Any]:
        return dict(self._call("GET", "")["info"])

    def __len__(self) -> int:
        return self.count()

    # -- writes ----------------------------------------------------------------------------

    def _write(
        self,
        vectors: Any,
        texts: Sequence[str] | None,
        metadatas: Sequence[Any] | None,
        ids: Sequence[int] | None,
        ttl_seconds: float | None,
        upsert: bool,
    ) -> list[int]:
        rows = _vectors(vectors) if vectors is not None else None
        n = len(rows) if rows is not None else len(texts) if texts is not None else 0
        if rows is None and texts is None:
            raise error_for_code("invalid_parameter", "give vectors, texts, or both")
        for what, seq in (("texts", texts), ("metadatas", metadatas), ("ids", ids)):
            if seq is not None and len(seq) != n:
                raise error_for_code("invalid_parameter", f"{n} vectors but {len(seq)} {what}")
        out: list[int] = []
        for start in range(0, n, _MAX_BATCH):
            records = []
            for i in range(start, min(n, start + _MAX_BATCH)):
                r: dict[str, Any] = {}
                if rows is not None:
                    r["vector"] = rows[i]
                if texts is not None:
                    r["text"] = texts[i]
                if metadatas is not None and metadatas[i] is not None:
                    r["metadata"] = metadatas[i]
                if ids is not None:
                    r["id"] = int(ids[i])
                if ttl_seconds is not None:
                    r["ttl_seconds"] = ttl_seconds
                records.append(r)
            if rows is not None:
                answer = self._call("POST", "/vectors", {"vectors": records, "upsert": upsert})
            else:
                answer = self._call("POST", "/text", {"texts": records, "upsert": upsert})
            out.extend(answer["ids"])
        return out

    def add(
        self,
        vectors: Any = None,
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Any] | None = None,
        ids: Sequence[int] | None = None,
        *,
        ttl_seconds: float | None = None,
    ) -> list[int]:
        return self._write(vectors, texts, metadatas, ids, ttl_seconds, upsert=False)

    def upsert(
        self,
        vectors: Any = None,
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Any] | None = None,
        ids: Sequence[int] | None = None,
        *,
        ttl_seconds: float | None = None,
    ) -> list[int]:
        if ids is None:
            raise error_for_code("invalid_parameter", "upsert needs ids")
        return self._write(vectors, texts, metadatas, ids, ttl_seconds, upsert=True)

    def update_metadata(self, id: int, metadata: dict[str, Any] | None) -> None:
        self._call("PATCH", f"/vectors/{int(id)}", {"metadata": metadata})

    def update(
        self,
        id: int,
        *,
        vector: Any = None,
        text: str | None = None,
        metadata: Any = ...,
        ttl_seconds: float | None = None,
    ) -> None:
        body: dict[str, Any] = {}
        if vector is not None:
            body["vector"] = _vectors(vector)[0]
        if text is not None:
            body["text"] = text
        if metadata is not ...:
            body["metadata"] = metadata
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        self._call("PUT", f"/vectors/{int(id)}", body)

    # -- reads -----------------------------------------------------------------------------

    @staticmethod
    def _record(r: dict[str, Any]) -> Record:
        vector = r.get("vector")
        return Record(
            r["id"],
            r.get("text"),
            r.get("metadata"),
            None if vector is None else np.asarray(vector, dtype=np.float32),
            _ms(r.get("expires_at")),
            _ms(r.get("updated_at")),
        )

    def get(
        self,
        ids: Sequence[int] | None = None,
        where: dict[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include: Iterable[str] | None = None,
    ) -> list[Record]:
        inc = _include(include)
        if ids is not None:
            found = self._call("POST", "/get", {"ids": [int(i) for i in ids], "include": inc or ["text", "metadata"]})[
                "records"
            ]
            if where is not None:
                passing = {r.id for r in self._scroll_all(where, ["text"])}
                found = [r for r in found if r["id"] in passing]
            records = [self._record(r) for r in found][offset:]
            return records if limit is None else records[:limit]
        out: list[Record] = []
        after, skip, left = None, offset, (limit if limit is not None else float("inf"))
        while left > 0:
            body: dict[str, Any] = {"limit": int(min(left, _MAX_PAGE)), "offset": skip}
            if where is not None:
                body["filter"] = where
            if after is not None:
                body["after_id"] = after
            if inc is not None:
                body["include"] = inc
            page = self._call("POST", "/scroll", body)
            skip = 0
            out.extend(self._record(r) for r in page["records"])
            left -= len(page["records"])
            after = page["next_after_id"]
            if after is None:
                break
        return out

    def _scroll_all(self, where: dict[str, Any], include: list[str]) -> list[Record]:
        return self.get(where=where, include=include)

    def count(self, where: dict[str, Any] | None = None) -> int:
        return int(self._call("POST", "/count", {} if where is None else {"filter": where})["count"])

    def delete(self, ids: Sequence[int] | None = None, where: dict[str, Any] | None = None) -> int:
        body: dict[str, Any] = {}
        if ids is not None:
            body["ids"] = [int(i) for i in ids]
        if where is not None:
            body["filter"] = where
        if not body:
            raise error_for_code("invalid_parameter", "give ids, where, or both (where={} deletes every record)")
        return int(self._call("POST", "/delete", body)["deleted"])

    @staticmethod
    def _hit(h: dict[str, Any]) -> QueryResult:
        vector = h.get("vector")
        return QueryResult(
            h["id"],
            h["score"],
            h.get("text"),
            h.get("metadata"),
            None if vector is None else np.asarray(vector, dtype=np.float32),
            h.get("similarity"),
            h.get("sources"),
        )

    def query(
        self,
        vector: Any = None,
        vectors: Any = None,
        text: str | None = None,
        texts: Sequence[str] | None = None,
        k: int = 10,
        where: dict[str, Any] | None = None,
        ef: int | None = None,
        include: Iterable[str] | None = None,
        min_score: float | None = None,
        *,
        mode: str = "vector",
        where_document: dict[str, Any] | None = None,
        mmr: dict[str, Any] | None = None,
        hybrid: dict[str, Any] | None = None,
    ) -> list[QueryResult] | list[list[QueryResult]]:
        options: dict[str, Any] = {"k": k}
        for key, value in (
            ("filter", where),
            ("ef", ef),
            ("include", _include(include)),
            ("min_score", min_score),
            ("where_document", where_document),
            ("mmr", mmr),
            ("hybrid", hybrid),
        ):
            if value is not None:
                options[key] = value
        if mode != "vector":
            # The server checks the combination (keyword: text alone; hybrid: text, maybe a vector).
            options["mode"] = mode
            if vectors is not None:
                raise error_for_code("invalid_query", f"mode={mode!r} takes text (or texts), not vectors")
            if vector is not None:
                options["vector"] = _vectors(vector)[0]
            if texts is not None:
                answers = self._call("POST", "/search/batch", {"queries": [{"text": t, **options} for t in texts]})
                return [[self._hit(h) for h in hits] for hits in answers["results"]]
            return [self._hit(h) for h in self._call("POST", "/search", {"text": text, **options})["results"]]
        given = [x is not None for x in (vector, vectors, text, texts)]
        if sum(given) != 1:
            raise error_for_code("invalid_parameter", "give exactly one of vector, vectors, text, texts")
        if vector is not None:
            rows = _vectors(vector)
            if len(rows) != 1:
                raise error_for_code("invalid_parameter", "vector: give one vector (use vectors= for many)")
            return [self._hit(h) for h in self._call("POST", "/search", {"vector": rows[0], **options})["results"]]
        if text is not None:
            return [self._hit(h) for h in self._call("POST", "/search", {"text": text, **options})["results"]]
        queries = (
            [{"vector": v, **options} for v in _vectors(vectors)]
            if vectors is not None
            else [{"text": t, **options} for t in texts or []]
        )
        answers = self._call("POST", "/search/batch", {"queries": queries})["results"]
        return [[self._hit(h) for h in hits] for hits in answers]

    def to_arrow(self, include: Iterable[str] | None = None, flatten: Any = None) -> Any:
        """The collection as a ``pyarrow.Table`` (see :func:`vectorlite.arrow.to_arrow`)."""
        from . import arrow

        return arrow.to_arrow(self, include, flatten)

    def add_arrow(self, table: Any, batch_size: int = 10_000, progress: Any = None) -> list[int]:
        """Adds (with an ``id`` column: upserts) a ``pyarrow.Table``'s rows in batches."""
        from . import arrow

        return arrow.add_arrow(self, table, batch_size, progress)

    def to_parquet(self, path: Any, include: Iterable[str] | None = None, flatten: Any = None) -> None:
        """Writes the collection to a Parquet file."""
        from . import arrow

        arrow.to_parquet(self, path, include, flatten)

    def save(self, path: str) -> None:
        """Saves the collection to a file in the server's data directory (``path`` relative to it)."""
        self._call("POST", "/save", {"file": path})

    def __repr__(self) -> str:
        return f"HttpCollection(name={self.name!r}, dimension={self.dimension}, metric={self.metric})"


__all__ = ["HttpClient", "HttpCollection", "VectorLiteError"]
