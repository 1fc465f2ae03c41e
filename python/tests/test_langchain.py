"""LangChain's own standard vector-store suite (from the langchain-tests package, unmodified),
run against vectorlite.langchain.VectorLiteVectorStore, plus what the suite does not cover:
filters, scores, MMR and from_texts."""

from __future__ import annotations

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import VectorStoreIntegrationTests

import vectorlite
from vectorlite.langchain import VectorLiteVectorStore


class TestVectorLiteStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self):
        yield VectorLiteVectorStore(embedding=self.get_embeddings())


class TestVectorLiteDurableStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, tmp_path):
        client = vectorlite.Client(str(tmp_path / "db"))
        yield VectorLiteVectorStore(embedding=self.get_embeddings(), client=client)
        client.close()


def test_filters_scores_and_mmr():
    embedding = DeterministicFakeEmbedding(size=16)
    docs = [
        Document(page_content="apple pie", metadata={"kind": "food", "n": 1}),
        Document(page_content="apple tart", metadata={"kind": "food", "n": 2}),
        Document(page_content="green apple", metadata={"kind": "fruit", "n": 3}),
    ]
    store = VectorLiteVectorStore.from_documents(docs, embedding=embedding)
    hits = store.similarity_search_with_score("apple pie", k=3)
    assert hits[0][0].page_content == "apple pie"
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [d.page_content for d in store.similarity_search("apple pie", k=3, filter={"kind": "fruit"})] == [
        "green apple"
    ]
    assert store.similarity_search("apple pie", k=3, filter={"n": {"$gte": 2}})[0].metadata["n"] >= 2
    mmr = store.max_marginal_relevance_search("apple pie", k=2, fetch_k=3, lambda_mult=0.1)
    assert len(mmr) == 2 and mmr[0].page_content == "apple pie"
    relevance = store.similarity_search_with_relevance_scores("apple pie", k=1)
    assert 0.0 <= relevance[0][1] <= 1.0
    assert store.delete([]) is True


def test_the_built_in_model_when_no_embedding_is_given(model_dir):
    client = vectorlite.Client(model_dir=model_dir)
    store = VectorLiteVectorStore.from_texts(
        ["The user prefers green tea in the morning", "The bank meeting moved to Friday"],
        client=client,
        ids=["tea", "bank"],
    )
    assert store.similarity_search("what does the user drink?", k=1)[0].id == "tea"
    assert [d.page_content for d in store.max_marginal_relevance_search("morning drink", k=1)] == [
        "The user prefers green tea in the morning"
    ]
