"""vectorlite: a fast, embeddable vector database for AI agents, in this process.

>>> import vectorlite
>>> client = vectorlite.Client()                      # in memory; Client(path="./data") is durable
>>> notes = client.create_collection("notes", dimension=3)
>>> notes.add(vectors=[[1, 0, 0], [0, 1, 0]], texts=["tea", "rain"], metadatas=[{"k": 1}, {"k": 2}])
[0, 1]
>>> [r.text for r in notes.query(vector=[0.9, 0.1, 0], k=1)]
['tea']

``HttpClient`` offers the same API over a running ``vectorlite serve``.
"""

from __future__ import annotations

from . import errors
from ._vectorlite import Client, Collection, QueryResult, Record, __version__
from .errors import (
    AlreadyExistsError,
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptDataError,
    DatabaseLockedError,
    DimensionMismatchError,
    EmbeddingError,
    IdExistsError,
    IdNotFoundError,
    InvalidFilterError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidVectorError,
    NoEmbeddingModelError,
    NotFoundError,
    StorageError,
    VectorLiteError,
)
from .http import HttpClient, HttpCollection

__all__ = [
    "AlreadyExistsError",
    "Client",
    "Collection",
    "CollectionExistsError",
    "CollectionNotFoundError",
    "CorruptDataError",
    "DatabaseLockedError",
    "DimensionMismatchError",
    "EmbeddingError",
    "HttpClient",
    "HttpCollection",
    "IdExistsError",
    "IdNotFoundError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidVectorError",
    "NoEmbeddingModelError",
    "NotFoundError",
    "QueryResult",
    "Record",
    "StorageError",
    "VectorLiteError",
    "__version__",
    "errors",
]
