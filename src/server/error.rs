//! `ApiError`: the single mapping from library errors (and request-validation failures) to
//! HTTP answers. Every failure is `{"error": {"code", "message"}}` with a code from
//! [`ErrorCode`], whose one table gives its status. 4xx are the caller's to fix and are not
//! logged; 5xx are logged and their details stay in the log. Messages never carry the server's
//! absolute paths.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::api::{ErrorBody, ErrorDetail};
use crate::error::Error;
pub use crate::error::ErrorCode;
#[cfg(test)]
use crate::persist::PersistenceError;

impl ErrorCode {
    /// The HTTP status of this code: the one table.
    pub fn status(self) -> StatusCode {
        use ErrorCode as C;
        use StatusCode as S;
        match self {
            C::BadRequest => S::BAD_REQUEST,
            C::Unauthorized => S::UNAUTHORIZED,
            C::NotFound | C::IdNotFound | C::CollectionNotFound | C::FileNotFound => S::NOT_FOUND,
            C::MethodNotAllowed => S::METHOD_NOT_ALLOWED,
            C::Timeout => S::REQUEST_TIMEOUT,
            C::PayloadTooLarge | C::BatchTooLarge => S::PAYLOAD_TOO_LARGE,
            C::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            C::IdExists | C::CollectionExists | C::DatabaseLocked => S::CONFLICT,
            C::EmptyBatch
            | C::InvalidParameter
            | C::InvalidQuery
            | C::InvalidPath
            | C::DimensionMismatch
            | C::NonFiniteValue
            | C::VectorOutOfRange
            | C::ZeroVector
            | C::InvalidK
            | C::InvalidMetadata
            | C::InvalidCollectionName
            | C::InvalidFilter
            | C::MetricMismatch
            | C::EmbedderMismatch
            | C::IdSpaceExhausted
            | C::CapacityExceeded
            | C::BadFile => S::UNPROCESSABLE_ENTITY,
            C::NoEmbeddingModel | C::Recovering => S::SERVICE_UNAVAILABLE,
            C::EmbeddingFailed | C::IoError | C::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: a code (which fixes the status) and a message for humans.
#[derive(Debug)]
pub struct ApiError {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// 400: the request is not well-formed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 422 `invalid_parameter`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }

    /// The same code with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The answer for a body that is not the JSON a route expects.
    pub fn from_json_error(e: &serde_json::Error) -> Self {
        Self::bad_request(format!("invalid JSON body: {e}"))
    }

    /// The answer for an error a layer produced with a bare status (405, 408, 413 ...).
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            s if s.is_client_error() => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        };
        let message = match code {
            ErrorCode::Timeout => {
                "the request timed out; a write it carried may still have been applied: retry \
                 writes with explicit ids (upsert), which makes them idempotent"
                    .to_owned()
            }
            _ => status.canonical_reason().unwrap_or("error").to_owned(),
        };
        Self::new(code, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        let mut message = e.to_string();
        if let Error::Persistence(p) = &e {
            // Name the file, not where the server keeps it.
            let full = p.path().display().to_string();
            let short = p.path().file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if !full.is_empty() {
                message = message.replace(&full, &short);
            }
        }
        Self { code, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() && self.code != ErrorCode::Recovering {
            tracing::error!(code = %self.code.name(), "{}", self.message);
            "internal error; see the server log".to_owned()
        } else {
            self.message
        };
        let body = ErrorBody { error: ErrorDetail { code: self.code, message } };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every library error variant, with the code and status it must answer with.
    #[test]
    fn every_library_error_maps_to_its_documented_code_and_status() {
        let io = |kind| {
            Error::Persistence(PersistenceError::Io {
                path: "/srv/data/notes.vlc".into(),
                source: std::io::Error::new(kind, "x"),
            })
        };
        let p = |e| Error::Persistence(e);
        let path = || std::path::PathBuf::from("/srv/data/collections/notes.vlc");
        use ErrorCode as C;
        let cases: Vec<(Error, C, u16)> = vec![
            (Error::DimensionMismatch { expected: 3, actual: 2 }, C::DimensionMismatch, 422),
            (Error::NonFiniteValue { position: 0, value: f32::NAN }, C::NonFiniteValue, 422),
            (Error::VectorOutOfRange { norm: 1e20, max: 1e18 }, C::VectorOutOfRange, 422),
            (Error::ZeroVector, C::ZeroVector, 422),
            (Error::InvalidK { k: 0, max: 10 }, C::InvalidK, 422),
            (Error::InvalidParameter { name: "m", reason: "x".into() }, C::InvalidParameter, 422),
            (Error::InvalidMetadata { found: "a string" }, C::InvalidMetadata, 422),
            (Error::InvalidCollectionName { name: "a b".into() }, C::InvalidCollectionName, 422),
            (
                Error::Filter(crate::FilterError { path: "a".into(), message: "x".into() }),
                C::InvalidFilter,
                422,
            ),
            (
                Error::MetricMismatch {
                    expected: crate::SimilarityMetric::Cosine,
                    actual: crate::SimilarityMetric::Euclidean,
                },
                C::MetricMismatch,
                422,
            ),
            (
                Error::EmbedderMismatch { collection: "c".into(), expected: "a".into(), found: "b".into() },
                C::EmbedderMismatch,
                422,
            ),
            (Error::IdSpaceExhausted, C::IdSpaceExhausted, 422),
            (Error::CapacityExceeded { capacity: 1 }, C::CapacityExceeded, 422),
            (Error::IdNotFound { id: 1 }, C::IdNotFound, 404),
            (Error::CollectionNotFound { name: "x".into() }, C::CollectionNotFound, 404),
            (Error::IdExists { id: 1 }, C::IdExists, 409),
            (Error::CollectionExists { name: "x".into() }, C::CollectionExists, 409),
            (Error::NoEmbedder { collection: "x".into() }, C::NoEmbeddingModel, 503),
            (Error::ModelNotFound { searched: vec![] }, C::NoEmbeddingModel, 503),
            (Error::Embedding { message: "boom".into() }, C::EmbeddingFailed, 500),
            (io(std::io::ErrorKind::NotFound), C::FileNotFound, 404),
            (io(std::io::ErrorKind::PermissionDenied), C::IoError, 500),
            (p(PersistenceError::NotACollectionFile { path: path() }), C::BadFile, 422),
            (p(PersistenceError::NewerFormat { path: path(), version: 9 }), C::BadFile, 422),
            (p(PersistenceError::Truncated { path: path(), section: "ids", offset: 4 }), C::BadFile, 422),
            (
                p(PersistenceError::Corrupt { path: path(), section: "ids", offset: 4, reason: "x".into() }),
                C::BadFile,
                422,
            ),
            (p(PersistenceError::Locked { path: path(), pid: Some(7) }), C::DatabaseLocked, 409),
        ];
        for (e, code, status) in cases {
            let shown = e.to_string();
            let api = ApiError::from(e);
            assert_eq!((api.code, api.status().as_u16()), (code, status), "{shown}");
            assert!(!api.message.contains("/srv/data"), "an absolute path leaked: {}", api.message);
            assert!(!api.message.is_empty());
        }
    }

    /// Every code has a distinct snake_case name, a status in the 4xx or 5xx range, and the
    /// statuses the README documents.
    #[test]
    fn every_code_has_a_distinct_name_and_an_error_status() {
        let mut names = HashSet::new();
        for code in ErrorCode::ALL {
            let name = code.name();
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
            let status = code.status();
            assert!(status.is_client_error() || status.is_server_error(), "{name}: {status}");
            assert!(names.insert(name), "a code twice");
        }
        assert_eq!(ErrorCode::DatabaseLocked.name(), "database_locked");
        assert_eq!(ErrorCode::Recovering.status(), StatusCode::SERVICE_UNAVAILABLE);
        // Statuses produced by layers come back to their codes.
        for code in [
            ErrorCode::MethodNotAllowed,
            ErrorCode::Timeout,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::NotFound,
            ErrorCode::Unauthorized,
        ] {
            assert_eq!(ApiError::from_status(code.status()).code, code);
        }
        assert!(
            ApiError::from_status(StatusCode::REQUEST_TIMEOUT)
                .message
                .contains("may still have been applied")
        );
    }
}
