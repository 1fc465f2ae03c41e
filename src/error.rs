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
