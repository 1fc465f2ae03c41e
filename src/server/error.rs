//! `ApiError`: the single mapping from library errors to HTTP statuses, and the JSON error
//! body `{"error": {"code", "message"}}` every failure is answered with. 4xx are the caller's
//! to fix and are not logged; 5xx are logged and their details stay in the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::api::{ErrorBody, ErrorDetail};
use crate::error::Error;
use crate::persist::PersistenceError;

/// An error answer: status, a stable machine-readable code, and a message for humans.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, such as `dimension_mismatch`.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with the given parts.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// 400: the request is not well-formed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422: well-formed but invalid content.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let (status, code) = match &e {
            Error::DimensionMismatch { .. } => (S::UNPROCESSABLE_ENTITY, "dimension_mismatch"),
            Error::NonFiniteValue { .. } => (S::UNPROCESSABLE_ENTITY, "non_finite_value"),
            Error::ZeroVector => (S::UNPROCESSABLE_ENTITY, "zero_vector"),
            Error::InvalidK { .. } => (S::UNPROCESSABLE_ENTITY, "invalid_k"),
            Error::InvalidParameter { .. } => (S::UNPROCESSABLE_ENTITY, "invalid_parameter"),
            Error::InvalidMetadata { .. } => (S::UNPROCESSABLE_ENTITY, "invalid_metadata"),
            Error::InvalidCollectionName { .. } => (S::UNPROCESSABLE_ENTITY, "invalid_collection_name"),
            Error::Filter(_) => (S::UNPROCESSABLE_ENTITY, "invalid_filter"),
            Error::MetricMismatch { .. } => (S::UNPROCESSABLE_ENTITY, "metric_mismatch"),
            Error::EmbedderMismatch { .. } => (S::UNPROCESSABLE_ENTITY, "embedder_mismatch"),
            Error::IdSpaceExhausted => (S::UNPROCESSABLE_ENTITY, "id_space_exhausted"),
            Error::CapacityExceeded { .. } => (S::UNPROCESSABLE_ENTITY, "capacity_exceeded"),
            Error::IdNotFound { .. } => (S::NOT_FOUND, "id_not_found"),
            Error::CollectionNotFound { .. } => (S::NOT_FOUND, "collection_not_found"),
            Error::IdExists { .. } => (S::CONFLICT, "id_exists"),
            Error::CollectionExists { .. } => (S::CONFLICT, "collection_exists"),
            Error::NoEmbedder { .. } => (S::SERVICE_UNAVAILABLE, "no_embedding_model"),
            Error::ModelNotFound { .. } => (S::SERVICE_UNAVAILABLE, "no_embedding_model"),
            Error::Embedding { .. } => (S::INTERNAL_SERVER_ERROR, "embedding_failed"),
            Error::Persistence(p) => match p {
                PersistenceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    (S::NOT_FOUND, "file_not_found")
                }
                PersistenceError::Io { .. } => (S::INTERNAL_SERVER_ERROR, "io_error"),
                PersistenceError::NotACollectionFile { .. }
                | PersistenceError::NewerFormat { .. }
                | PersistenceError::Truncated { .. }
                | PersistenceError::Corrupt { .. } => (S::UNPROCESSABLE_ENTITY, "bad_file"),
                PersistenceError::Locked { .. } => (S::CONFLICT, "database_locked"),
            },
        };
        Self { status, code, message: e.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error() {
            tracing::error!(code = self.code, "{}", self.message);
            "internal error; see the server log".to_owned()
        } else {
            self.message
        };
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message } };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_the_documented_statuses() {
        let cases = [
            (Error::ZeroVector, 422),
            (Error::InvalidK { k: 0, max: 10 }, 422),
            (Error::IdNotFound { id: 1 }, 404),
            (Error::CollectionNotFound { name: "x".into() }, 404),
            (Error::CollectionExists { name: "x".into() }, 409),
            (Error::IdExists { id: 1 }, 409),
            (Error::NoEmbedder { collection: "x".into() }, 503),
            (Error::Embedding { message: "boom".into() }, 500),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status.as_u16(), status);
        }
    }
}
