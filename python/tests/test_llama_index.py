"""LlamaIndex: a real VectorStoreIndex round trip (mock embedding) through
vectorlite.llama_index.VectorLiteVectorStore: add, retrieve with MetadataFilters, delete by
document, and reopen a durable store."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from vectorlite.llama_index import VectorLiteVectorStore, to_where


class KeywordEmbedding(MockEmbedding):
    """A mock embedding that tells topics apart: one axis per keyword."""

    def _vector(self, text: str) -> list[float]:
        words = ["tea", "bank", "rain", "oslo"]
        return [1.0 if w in text.lower() else 0.01 for w in words] + [0.1] * (self.embed_dim - len(words))

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


def nodes() -> list[TextNode]:
    return [
        TextNode(text="The user drinks green tea", id_="n1", metadata={"user": "ann", "year": 2024}),
        TextNode(text="The bank called about the loan", id_="n2", metadata={"user": "bob", "year": 2023}),
        TextNode(text="Rain is expected tomorrow", id_="n3", metadata={"user": "ann", "year": 2022}),
    ]


def build(store: VectorLiteVectorStore) -> VectorStoreIndex:
    ctx = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex(nodes(), storage_context=ctx, embed_model=KeywordEmbedding(embed_dim=8))


def test_index_round_trip_with_filters_and_delete():
    store = VectorLiteVectorStore(collection_name="li")
    index = build(store)
    hits = index.as_retriever(similarity_top_k=1).retrieve("what tea does the user drink?")
    assert [h.node.node_id for h in hits] == ["n1"]
    assert hits[0].node.get_content() == "The user drinks green tea"
    assert hits[0].node.metadata == {"user": "ann", "year": 2024}
    ann_old = MetadataFilters(
        filters=[
            MetadataFilter(key="user", value="ann"),
            MetadataFilter(key="year", value=2023, operator=FilterOperator.LT),
        ]
    )
    hits = index.as_retriever(similarity_top_k=3, filters=ann_old).retrieve("tea")
    assert [h.node.node_id for h in hits] == ["n3"]
    either = MetadataFilters(
        filters=[MetadataFilter(key="user", value="bob"), MetadataFilter(key="year", value=2022)],
        condition=FilterCondition.OR,
    )
    assert {h.node.node_id for h in index.as_retriever(similarity_top_k=3, filters=either).retrieve("bank")} == {
        "n2",
        "n3",
    }

    only = VectorStoreQuery(
        query_embedding=KeywordEmbedding(embed_dim=8)._vector("bank"), similarity_top_k=3, node_ids=["n1", "n3"]
    )
    assert {n.node_id for n in store.query(only).nodes} == {"n1", "n3"}
    assert [n.node_id for n in store.get_nodes(node_ids=["n2"])] == ["n2"]

    # Nodes without a source document have no ref_doc_id: delete them by id.
    store.delete_nodes(node_ids=["n1"])
    assert next(h.node.node_id for h in index.as_retriever(similarity_top_k=3).retrieve("tea")) != "n1"
    store.clear()
    assert index.as_retriever(similarity_top_k=3).retrieve("tea") == []


def test_delete_by_document_and_a_durable_store(tmp_path):
    from llama_index.core import Document

    path = str(tmp_path / "db")
    store = VectorLiteVectorStore(collection_name="docs", path=path)
    ctx = StorageContext.from_defaults(vector_store=store)
    docs = [Document(text="Tea every morning", doc_id="d1"), Document(text="The bank is closed", doc_id="d2")]
    from llama_index.core.node_parser import SentenceSplitter

    index = VectorStoreIndex.from_documents(
        docs,
        storage_context=ctx,
        embed_model=KeywordEmbedding(embed_dim=8),
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0, tokenizer=str.split)],
    )
    index.delete_ref_doc("d1")
    hits = index.as_retriever(similarity_top_k=5).retrieve("tea")
    assert [h.node.ref_doc_id for h in hits] == ["d2"]
    store.client.close()
    again = VectorLiteVectorStore(collection_name="docs", path=path)
    retriever = VectorStoreIndex.from_vector_store(again, embed_model=KeywordEmbedding(embed_dim=8)).as_retriever()
    assert [h.node.get_content() for h in retriever.retrieve("bank")] == ["The bank is closed"]


def test_filters_translate_and_unsupported_ones_are_errors():
    f = MetadataFilters(filters=[MetadataFilter(key="a", value=[1, 2], operator=FilterOperator.IN)])
    assert to_where(f) == {"a": {"$in": [1, 2]}}
    nested = MetadataFilters(filters=[f, MetadataFilter(key="b", value="x", operator=FilterOperator.NE)])
    assert to_where(nested) == {"$and": [{"a": {"$in": [1, 2]}}, {"b": {"$ne": "x"}}]}
    bad = MetadataFilters(filters=[MetadataFilter(key="a", value="x", operator=FilterOperator.TEXT_MATCH)])
    import vectorlite

    with pytest.raises(vectorlite.InvalidFilterError):
        to_where(bad)
