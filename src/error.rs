//! The library's error type. Every fallible public call returns [`Error`]; narrower errors
//! (like [`FilterError`]) fold into it so callers match on one enum.

pub use crate::filter::FilterError;
pub use crate::persist::PersistenceError;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a vectorlite call. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length differs from the collection's dimension.
    #[error("vector has {actual} dimensions but the collection expects {expected}")]
    DimensionMismatch {
        /// The collection's dimension.
        expected: usize,
        /// The length of the vector that was passed.
        actual: usize,
    },
    /// A vector contains NaN or an infinity.
    #[error("vector value at position {position} is {value}; only finite numbers are allowed")]
    NonFiniteValue {
        /// Index of the first bad value.
        position: usize,
        /// The bad value, for the message.
        value: f32,
    },
    /// A vector's L2 norm is so large that distances to it would overflow `f32`.
    #[error("vector norm {norm:e} is larger than {max:e}; scale the vector down")]
    VectorOutOfRange {
        /// The vector's norm.
        norm: f64,
        /// The largest norm accepted ([`crate::MAX_NORM`]).
        max: f64,
    },
    /// A zero vector has no direction, so cosine similarity is undefined for it.
    #[error("zero vector cannot be used with the cosine metric; pass a vector with a non-zero norm")]
    ZeroVector,
    /// `k` must be between 1 and [`crate::MAX_K`].
    #[error("k = {k} is out of range; use 1 to {max}")]
    InvalidK {
        /// The requested k.
        k: usize,
        /// The largest allowed k.
        max: usize,
    },
    /// A configuration or call parameter is out of its allowed range.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it was rejected and what is allowed.
        reason: String,
    },
    /// Metadata must be a JSON object (or absent).
    #[error("metadata must be a JSON object, got {found}")]
    InvalidMetadata {
        /// The JSON type that was passed instead.
        found: &'static str,
    },
    /// Collections with different metrics cannot be merged.
    #[error("cannot merge a {actual:?} collection into a {expected:?} one")]
    MetricMismatch {
        /// The target's metric.
        expected: crate::SimilarityMetric,
        /// The source's metric.
        actual: crate::SimilarityMetric,
    },
    /// The embedding model failed (a file it needs, or the computation).
    #[error("embedding failed: {message}")]
    Embedding {
        /// What went wrong.
        message: String,
    },
    /// No embedding model was found where it was looked for.
    #[error(
        "embedding model not found (looked in {searched:?}); run scripts/fetch-model.sh or pass --model-dir / set VECTORLITE_MODEL_DIR"
    )]
    ModelNotFound {
        /// The directories tried, in order.
        searched: Vec<std::path::PathBuf>,
    },
    /// A text call on a collection that has no embedding model attached.
    #[error(
        "collection '{collection}' has no embedding model; create the client with VectorLiteClient::with_embedder"
    )]
    NoEmbedder {
        /// The collection.
        collection: String,
    },
    /// The embedder does not fit the collection (another model or another dimension).
    #[error("collection '{collection}' holds vectors of {expected}, but the embedder is {found}")]
    EmbedderMismatch {
        /// The collection.
        collection: String,
        /// The model id and dimension the collection was filled with.
        expected: String,
        /// The embedder's model id and dimension.
        found: String,
    },
    /// No record has this id.
    #[error("no record with id {id}")]
    IdNotFound {
        /// The missing id.
        id: u64,
    },
    /// `insert` was given an id that is already taken; use `upsert` to replace it.
    #[error("id {id} already exists; use upsert to replace it")]
    IdExists {
        /// The taken id.
        id: u64,
    },
    /// Every id up to `u64::MAX` has been handed out.
    #[error("the collection has used up its id space")]
    IdSpaceExhausted,
    /// A collection holds at most `u32::MAX - 1` vector slots.
    #[error("the collection is full ({capacity} slots); delete records or compact it")]
    CapacityExceeded {
        /// The slot limit.
        capacity: usize,
    },
    /// No collection has this name.
    #[error("collection '{name}' does not exist")]
    CollectionNotFound {
        /// The unknown name.
        name: String,
    },
    /// A collection with this name exists already.
    #[error("collection '{name}' already exists")]
    CollectionExists {
        /// The taken name.
        name: String,
    },
    /// Collection names are 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    #[error("invalid collection name '{name}': use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")]
    InvalidCollectionName {
        /// The rejected name.
        name: String,
    },
    /// The metadata filter could not be parsed.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A file could not be saved or loaded.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
}

/// A stable, machine-readable name for every kind of failure: what the HTTP API answers in
/// `error.code`, what MCP tool errors and Python exceptions are chosen by. One home for them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not well-formed JSON, or a path parameter is malformed.
    BadRequest,
    /// Missing or wrong API key.
    Unauthorized,
    /// No such route.
    NotFound,
    /// The route does not take this method.
    MethodNotAllowed,
    /// The request took longer than the server's timeout (a write may still have landed).
    Timeout,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// More records in one request than the server accepts.
    BatchTooLarge,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// A batch with nothing in it.
    EmptyBatch,
    /// A request parameter is out of range or inconsistent.
    InvalidParameter,
    /// A search names neither (or both) of a vector and a text.
    InvalidQuery,
    /// A file path leaves the data directory or names the database's own files.
    InvalidPath,
    /// A vector's length differs from the collection's dimension.
    DimensionMismatch,
    /// A vector holds NaN or an infinity.
    NonFiniteValue,
    /// A vector's norm is too large to compare safely.
    VectorOutOfRange,
    /// A zero vector under the cosine metric.
    ZeroVector,
    /// `k` out of range.
    InvalidK,
    /// Metadata is not a JSON object, or too deep or too large.
    InvalidMetadata,
    /// A collection name outside `[A-Za-z0-9_-]{1,64}`.
    InvalidCollectionName,
    /// The metadata filter does not parse.
    InvalidFilter,
    /// Merging collections of different metrics.
    MetricMismatch,
    /// The collection holds another model's vectors.
    EmbedderMismatch,
    /// The collection has handed out every id.
    IdSpaceExhausted,
    /// The collection is full.
    CapacityExceeded,
    /// No record with this id.
    IdNotFound,
    /// No collection with this name.
    CollectionNotFound,
    /// No such file in the data directory.
    FileNotFound,
    /// The id is taken.
    IdExists,
    /// The collection name is taken.
    CollectionExists,
    /// The database directory is open in another process.
    DatabaseLocked,
    /// A file is damaged, truncated, or not a collection file.
    BadFile,
    /// Text calls without an embedding model.
    NoEmbeddingModel,
    /// The server is still replaying its log after a restart.
    Recovering,
    /// The embedding model failed.
    EmbeddingFailed,
    /// A read or write of the data directory failed.
    IoError,
    /// Anything else that is the server's fault.
    Internal,
}

impl ErrorCode {
    /// Every code, for the table test and the docs.
    pub const ALL: [ErrorCode; 36] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Timeout,
        Self::PayloadTooLarge,
        Self::BatchTooLarge,
        Self::UnsupportedMediaType,
        Self::EmptyBatch,
        Self::InvalidParameter,
        Self::InvalidQuery,
        Self::InvalidPath,
        Self::DimensionMismatch,
        Self::NonFiniteValue,
        Self::VectorOutOfRange,
        Self::ZeroVector,
        Self::InvalidK,
        Self::InvalidMetadata,
        Self::InvalidCollectionName,
        Self::InvalidFilter,
        Self::MetricMismatch,
        Self::EmbedderMismatch,
        Self::IdSpaceExhausted,
        Self::CapacityExceeded,
        Self::IdNotFound,
        Self::CollectionNotFound,
        Self::FileNotFound,
        Self::IdExists,
        Self::CollectionExists,
        Self::DatabaseLocked,
        Self::BadFile,
        Self::NoEmbeddingModel,
        Self::Recovering,
        Self::EmbeddingFailed,
        Self::IoError,
        Self::Internal,
    ];

    /// The code's name as it appears in answers (its serde name).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

impl Error {
    /// This error's code: one exhaustive match, so a new variant needs a decision.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Error::DimensionMismatch { .. } => C::DimensionMismatch,
            Error::NonFiniteValue { .. } => C::NonFiniteValue,
            Error::VectorOutOfRange { .. } => C::VectorOutOfRange,
            Error::ZeroVector => C::ZeroVector,
            Error::InvalidK { .. } => C::InvalidK,
            Error::InvalidParameter { .. } => C::InvalidParameter,
            Error::InvalidMetadata { .. } => C::InvalidMetadata,
            Error::InvalidCollectionName { .. } => C::InvalidCollectionName,
            Error::Filter(_) => C::InvalidFilter,
            Error::MetricMismatch { .. } => C::MetricMismatch,
            Error::EmbedderMismatch { .. } => C::EmbedderMismatch,
            Error::IdSpaceExhausted => C::IdSpaceExhausted,
            Error::CapacityExceeded { .. } => C::CapacityExceeded,
            Error::IdNotFound { .. } => C::IdNotFound,
            Error::CollectionNotFound { .. } => C::CollectionNotFound,
            Error::IdExists { .. } => C::IdExists,
            Error::CollectionExists { .. } => C::CollectionExists,
            Error::NoEmbedder { .. } | Error::ModelNotFound { .. } => C::NoEmbeddingModel,
            Error::Embedding { .. } => C::EmbeddingFailed,
            Error::Persistence(p) => match p {
                PersistenceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    C::FileNotFound
                }
                PersistenceError::Io { .. } => C::IoError,
                PersistenceError::NotACollectionFile { .. }
                | PersistenceError::NewerFormat { .. }
                | PersistenceError::Truncated { .. }
                | PersistenceError::Corrupt { .. } => C::BadFile,
                PersistenceError::Locked { .. } => C::DatabaseLocked,
            },
        }
    }
}
