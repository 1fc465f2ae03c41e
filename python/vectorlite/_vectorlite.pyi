"""Type stubs of the native module (see vectorlite/__init__.py for the documentation)."""

from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Literal, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import Self, TypeAlias

__version__: str

Vectors = npt.ArrayLike
Where: TypeAlias = dict[str, Any]
Include: TypeAlias = Iterable[Literal["text", "metadata", "vector"]]
Mode: TypeAlias = Literal["vector", "keyword", "hybrid"]

class Record:
    """A stored record."""

    id: int
    text: str | None
    metadata: dict[str, Any] | None
    vector: npt.NDArray[np.float32] | None
    expires_at: int | None
    updated_at: int | None
    def __init__(
        self,
        id: int,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        vector: npt.NDArray[np.float32] | None = None,
        expires_at: int | None = None,
        updated_at: int | None = None,
    ) -> None: ...

class QueryResult:
    """One search hit; `score` is higher-is-better."""

    id: int
    score: float
    text: str | None
    metadata: dict[str, Any] | None
    vector: npt.NDArray[np.float32] | None
    similarity: float | None
    sources: dict[str, Any] | None
    """Keyword and hybrid modes: `vector_rank`, `vector_score`, `keyword_rank`, `keyword_score`."""
    def __init__(
        self,
        id: int,
        score: float,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        vector: npt.NDArray[np.float32] | None = None,
        similarity: float | None = None,
        sources: dict[str, Any] | None = None,
    ) -> None: ...

class Collection:
    """One collection of a Client."""

    @property
    def name(self) -> str: ...
    @property
    def dimension(self) -> int: ...
    @property
    def metric(self) -> str: ...
    def __len__(self) -> int: ...
    def info(self) -> dict[str, Any]: ...
    def add(
        self,
        vectors: Vectors | None = None,
        texts: Sequence[str] | None = None,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[int] | None = None,
        *,
        ttl_seconds: float | None = None,
    ) -> list[int]: ...
    def upsert(
        self,
        vectors: Vectors | None = None,
        texts: Sequence[str] | None = None,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[int] | None = None,
        *,
        ttl_seconds: float | None = None,
    ) -> list[int]: ...
    def get(
        self,
        ids: Sequence[int] | None = None,
        where: Where | None = None,
        limit: int | None = None,
        offset: int = 0,
        include: Include | None = None,
    ) -> list[Record]: ...
    def delete(self, ids: Sequence[int] | None = None, where: Where | None = None) -> int: ...
    def count(self, where: Where | None = None) -> int: ...
    @overload
    def query(
        self,
        vector: Vectors,
        vectors: None = None,
        text: None = None,
        texts: None = None,
        k: int = 10,
        where: Where | None = None,
        ef: int | None = None,
        include: Include | None = None,
        min_score: float | None = None,
        *,
        mode: Mode = "vector",
        where_document: dict[str, Any] | None = None,
        mmr: dict[str, Any] | None = None,
        hybrid: dict[str, Any] | None = None,
    ) -> list[QueryResult]: ...
    @overload
    def query(
        self,
        vector: None = None,
        vectors: None = None,
        *,
        text: str,
        k: int = 10,
        where: Where | None = None,
        ef: int | None = None,
        include: Include | None = None,
        min_score: float | None = None,
        mode: Mode = "vector",
        where_document: dict[str, Any] | None = None,
        mmr: dict[str, Any] | None = None,
        hybrid: dict[str, Any] | None = None,
    ) -> list[QueryResult]: ...
    @overload
    def query(
        self,
        vector: None = None,
        *,
        vectors: Vectors,
        k: int = 10,
        where: Where | None = None,
        ef: int | None = None,
        include: Include | None = None,
        min_score: float | None = None,
        mode: Mode = "vector",
        where_document: dict[str, Any] | None = None,
        mmr: dict[str, Any] | None = None,
        hybrid: dict[str, Any] | None = None,
    ) -> list[list[QueryResult]]: ...
    @overload
    def query(
        self,
        vector: None = None,
        vectors: None = None,
        text: None = None,
        *,
        texts: Sequence[str],
        k: int = 10,
        where: Where | None = None,
        ef: int | None = None,
        include: Include | None = None,
        min_score: float | None = None,
        mode: Mode = "vector",
        where_document: dict[str, Any] | None = None,
        mmr: dict[str, Any] | None = None,
        hybrid: dict[str, Any] | None = None,
    ) -> list[list[QueryResult]]: ...
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...
    def _columns(
        self,
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32], list[str | None], list[dict[str, Any] | None]]: ...
    def to_arrow(self, include: Iterable[str] | None = None, flatten: Sequence[str] | bool | None = None) -> Any:
        """The collection as a pyarrow.Table (see vectorlite.arrow.to_arrow)."""
    def add_arrow(
        self, table: Any, batch_size: int = 10_000, progress: Callable[[int, int], None] | None = None
    ) -> list[int]:
        """Adds (with an id column: upserts) a pyarrow.Table's rows in batches; returns the ids."""
    def to_parquet(
        self, path: Any, include: Iterable[str] | None = None, flatten: Sequence[str] | bool | None = None
    ) -> None:
        """Writes the collection to a Parquet file."""
    def update_metadata(self, id: int, metadata: dict[str, Any] | None) -> None: ...
    def update(
        self,
        id: int,
        *,
        vector: Vectors | None = None,
        text: str | None = None,
        metadata: dict[str, Any] | None = ...,
        ttl_seconds: float | None = None,
    ) -> None: ...
    def save(self, path: str | PathLike[str]) -> None: ...
    @staticmethod
    def load(path: str | PathLike[str]) -> Collection: ...

class Client:
    """A vectorlite database in this process (in memory, or durable in `path`)."""

    def __init__(
        self,
        path: str | PathLike[str] | None = None,
        *,
        model_dir: str | PathLike[str] | None = None,
        embedding_function: Callable[[list[str]], Vectors] | Any | None = None,
        model_id: str | None = None,
        sync: str = "batch",
    ) -> None: ...
    @property
    def path(self) -> Path | None: ...
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
    ) -> Collection: ...
    def get_collection(self, name: str) -> Collection: ...
    def get_or_create_collection(
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
    ) -> Collection: ...
    def list_collections(self) -> list[str]: ...
    def delete_collection(self, name: str) -> None: ...
    def __contains__(self, name: str) -> bool: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: object) -> bool: ...
    def save(self, path: str | PathLike[str]) -> None: ...
    def load_collection(
        self,
        path: str | PathLike[str],
        mode: Literal["create", "override", "merge"] = "create",
        name: str | None = None,
    ) -> Collection: ...
