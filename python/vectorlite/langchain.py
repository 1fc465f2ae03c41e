"""LangChain: :class:`VectorLiteVectorStore`, a ``langchain_core`` ``VectorStore`` over a
vectorlite collection (in process, durable, or on a server through ``HttpClient``).

>>> from vectorlite.langchain import VectorLiteVectorStore
>>> store = VectorLiteVectorStore.from_texts(["tea in the morning", "rain on friday"], embedding=None)  # doctest: +SKIP
>>> store.similarity_search("what does the user drink?", k=1)  # doctest: +SKIP

Document ids are strings, as LangChain has them: each maps to a record id (a 62-bit hash of
the string) and is kept beside the metadata, so ``get_by_ids`` and ``delete`` take the strings
given, and adding a document again under its id replaces it. Without an ``embedding``, texts
are embedded by vectorlite's built-in model.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Callable

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

import vectorlite

# Where a document's string id is kept in the record's metadata (and taken out on the way back).
ID_KEY = "_langchain_id"


def record_id(doc_id: str) -> int:
    """The record id of a LangChain document id: 62 bits of its BLAKE2b hash (below 2^62, so
    the collection's own id counter keeps room after it)."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 62) - 1)


class VectorLiteVectorStore(VectorStore):
    """A LangChain vector store on a vectorlite collection.

    Args:
        collection_name: the collection (created on first write with the embedding's dimension).
        embedding: any LangChain ``Embeddings``; ``None`` uses vectorlite's built-in model.
        client: a ``vectorlite.Client`` or ``HttpClient``; default an in-memory client, or a
            durable one in ``path``.
        metric: the collection's metric when it is created (cosine, euclidean, dot, manhattan).
    """

    def __init__(
        self,
        collection_name: str = "langchain",
        embedding: Embeddings | None = None,
        client: Any = None,
        path: str | None = None,
        metric: str = "cosine",
        **collection_kwargs: Any,
    ) -> None:
        self._embedding = embedding
        self._client = client if client is not None else vectorlite.Client(path)
        self._name = collection_name
        self._metric = metric
        self._collection_kwargs = collection_kwargs
        self._collection: Any = None
        if collection_name in self._client.list_collections():
            self._collection = self._client.get_collection(collection_name)

    @property
    def embeddings(self) -> Embeddings | None:
        return self._embedding

    @property
    def client(self) -> Any:
        """The vectorlite client underneath."""
        return self._client

    def _get_collection(self, dimension: int | None) -> Any:
        if self._collection is None:
            self._collection = self._client.get_or_create_collection(
                self._name, dimension, self._metric, **self._collection_kwargs
            )
        return self._collection

    # -- writes ----------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        if not texts:
            return []
        doc_ids = [i if i else str(uuid.uuid4()) for i in (ids or [None] * len(texts))]
        metas = []
        for i, doc_id in enumerate(doc_ids):
            meta = dict(metadatas[i]) if metadatas and metadatas[i] else {}
            meta[ID_KEY] = doc_id
            metas.append(meta)
        record_ids = [record_id(i) for i in doc_ids]
        if self._embedding is not None:
            vectors = np.asarray(self._embedding.embed_documents(texts), dtype=np.float32)
            collection = self._get_collection(vectors.shape[1])
            collection.upsert(vectors=vectors, texts=texts, metadatas=metas, ids=record_ids)
        else:
            self._get_collection(None).upsert(texts=texts, metadatas=metas, ids=record_ids)
        return doc_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if ids is None or self._collection is None:
            return True
        self._collection.delete(ids=[record_id(i) for i in ids])
        return True

    # -- reads -----------------------------------------------------------------------------

    @staticmethod
    def _document(text: str | None, metadata: dict | None) -> Document:
        meta = dict(metadata or {})
        doc_id = meta.pop(ID_KEY, None)
        return Document(page_content=text or "", metadata=meta, id=doc_id)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        if self._collection is None:
            return []
        records = self._collection.get(ids=[record_id(i) for i in ids])
        return [self._document(r.text, r.metadata) for r in records]

    def _query_vector(self, query: str) -> list[float] | None:
        return None if self._embedding is None else self._embedding.embed_query(query)

    def _search(self, query: str | None, vector: Any, k: int, filter: dict | None, include: list[str]) -> list[Any]:
        if self._collection is None or k <= 0:
            return []
        if vector is None and query is not None:
            vector = self._query_vector(query)
        if vector is not None:
            return self._collection.query(vector=vector, k=k, where=filter, include=include)
        return self._collection.query(text=query, k=k, where=filter, include=include)

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        hits = self._search(query, None, k, filter, ["text", "metadata"])
        return [(self._document(h.text, h.metadata), float(h.score)) for h in hits]

    def similarity_search(self, query: str, k: int = 4, filter: dict | None = None, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict | None = None, **kwargs: Any
    ) -> list[Document]:
        hits = self._search(None, embedding, k, filter, ["text", "metadata"])
        return [self._document(h.text, h.metadata) for h in hits]

    def similarity_search_by_vector_with_score(
        self, embedding: list[float], k: int = 4, filter: dict | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        hits = self._search(None, embedding, k, filter, ["text", "metadata"])
        return [(self._document(h.text, h.metadata), float(h.score)) for h in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # Scores are similarities (cosine, dot) or negated distances (euclidean, manhattan).
        if self._metric in ("euclidean", "l2", "manhattan", "l1"):
            return lambda score: 1.0 / (1.0 - score)
        return lambda score: (score + 1.0) / 2.0

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        hits = self._search(None, embedding, max(fetch_k, k), filter, ["text", "metadata", "vector"])
        if not hits:
            return []
        chosen = maximal_marginal_relevance(
            np.asarray(embedding, dtype=np.float32),
            [h.vector for h in hits],
            k=min(k, len(hits)),
            lambda_mult=lambda_mult,
        )
        return [self._document(hits[i].text, hits[i].metadata) for i in chosen]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        vector = self._query_vector(query)
        if vector is None:
            if self._collection is None:
                return []
            vector = self._collection.embed([query])[0]
        return self.max_marginal_relevance_search_by_vector(vector, k, fetch_k, lambda_mult, filter, **kwargs)

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> VectorLiteVectorStore:
        store = cls(embedding=embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store


__all__ = ["ID_KEY", "VectorLiteVectorStore", "record_id"]
