"""LlamaIndex: :class:`VectorLiteVectorStore`, a ``BasePydanticVectorStore`` over a vectorlite
collection, for ``VectorStoreIndex`` and its retrievers.

>>> from llama_index.core import StorageContext, VectorStoreIndex  # doctest: +SKIP
>>> from vectorlite.llama_index import VectorLiteVectorStore  # doctest: +SKIP
>>> store = VectorLiteVectorStore(collection_name="docs", path="./data")  # doctest: +SKIP
>>> index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store))  # doctest: +SKIP

Node ids map to record ids as in the LangChain adapter (a 62-bit hash), and the node (minus
its text and embedding) is kept in the record's metadata, so queries rebuild whole nodes.
``MetadataFilters`` become vectorlite filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

import vectorlite

from .errors import error_for_code
from .langchain import record_id as _record_id_impl

# The node id, kept in the record's metadata (the node itself is in `_node_content`).
NODE_ID_KEY = "_node_id"

_OPERATORS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.CONTAINS: "$contains",
}


def record_id(node_id: str) -> int:
    """The record id of a node id (see :func:`vectorlite.langchain.record_id`)."""
    return _record_id_impl(node_id)


def to_where(filters: MetadataFilters | None) -> dict | None:
    """A vectorlite filter from LlamaIndex ``MetadataFilters`` (nested ones included)."""
    if filters is None or not filters.filters:
        return None
    parts: list[dict] = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            nested = to_where(f)
            if nested is not None:
                parts.append(nested)
            continue
        assert isinstance(f, MetadataFilter)
        if f.operator == FilterOperator.IS_EMPTY:
            parts.append({f.key: {"$exists": False}})
            continue
        op = _OPERATORS.get(f.operator)
        if op is None:
            raise error_for_code("invalid_filter", f"the filter operator {f.operator.value!r} is not supported")
        parts.append({f.key: {op: f.value}})
    if len(parts) == 1 and filters.condition != FilterCondition.NOT:
        return parts[0]
    if filters.condition == FilterCondition.OR:
        return {"$or": parts}
    if filters.condition == FilterCondition.NOT:
        return {"$not": {"$and": parts}}
    return {"$and": parts}


class VectorLiteVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store on a vectorlite collection (in memory, durable in ``path``, or
    through a given ``client``, which may be an ``HttpClient``)."""

    stores_text: bool = True
    flat_metadata: bool = False
    collection_name: str = "llama_index"
    metric: str = "cosine"

    _client: Any = PrivateAttr()
    _collection: Any = PrivateAttr(default=None)

    def __init__(
        self,
        collection_name: str = "llama_index",
        path: str | None = None,
        client: Any = None,
        metric: str = "cosine",
        **kwargs: Any,
    ) -> None:
        super().__init__(collection_name=collection_name, metric=metric, **kwargs)
        self._client = client if client is not None else vectorlite.Client(path)
        if collection_name in self._client.list_collections():
            self._collection = self._client.get_collection(collection_name)

    @classmethod
    def class_name(cls) -> str:
        return "VectorLiteVectorStore"

    @property
    def client(self) -> Any:
        return self._client

    def _get_collection(self, dimension: int) -> Any:
        if self._collection is None:
            self._collection = self._client.get_or_create_collection(self.collection_name, dimension, self.metric)
        return self._collection

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        vectors = np.asarray([n.get_embedding() for n in nodes], dtype=np.float32)
        texts = [n.get_content(metadata_mode=MetadataMode.NONE) for n in nodes]
        metadatas = []
        for n in nodes:
            meta = node_to_metadata_dict(n, remove_text=True, flat_metadata=self.flat_metadata)
            meta[NODE_ID_KEY] = n.node_id  # for queries restricted to node ids
            metadatas.append(meta)
        ids = [record_id(n.node_id) for n in nodes]
        self._get_collection(vectors.shape[1]).upsert(vectors=vectors, texts=texts, metadatas=metadatas, ids=ids)
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        if self._collection is not None:
            self._collection.delete(where={"ref_doc_id": ref_doc_id})

    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **kwargs: Any
    ) -> None:
        if self._collection is None or (node_ids is None and filters is None):
            return
        ids = None if node_ids is None else [record_id(i) for i in node_ids]
        self._collection.delete(ids=ids, where=to_where(filters))

    def clear(self) -> None:
        if self._collection is not None:
            self._collection.delete(where={})

    @staticmethod
    def _node(text: str | None, metadata: dict | None) -> BaseNode:
        node = metadata_dict_to_node(dict(metadata or {}))
        node.set_content(text or "")
        return node

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        if self._collection is None:
            return []
        ids = None if node_ids is None else [record_id(i) for i in node_ids]
        records = self._collection.get(ids=ids, where=to_where(filters))
        return [self._node(r.text, r.metadata) for r in records]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if self._collection is None or query.query_embedding is None:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        where = to_where(query.filters)
        if query.node_ids:
            only = {NODE_ID_KEY: {"$in": list(query.node_ids)}}
            where = only if where is None else {"$and": [where, only]}
        hits = self._collection.query(vector=query.query_embedding, k=query.similarity_top_k, where=where)
        nodes = [self._node(h.text, h.metadata) for h in hits]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[float(h.score) for h in hits], ids=[n.node_id for n in nodes]
        )


__all__ = ["VectorLiteVectorStore", "record_id", "to_where"]
