//! Collection configuration: dimension, similarity metric and index type. Plain serde data with
//! defaults; validation lives here so every entry point checks the same rules.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest dimension a collection accepts.
pub const MAX_DIMENSION: usize = 65_536;

/// How two vectors are compared. Scores are always "higher is better":
///
/// | metric | score |
/// |---|---|
/// | `Cosine` | cosine similarity in [-1, 1] (vectors are stored L2-normalised) |
/// | `DotProduct` | inner product |
/// | `Euclidean` | negated L2 distance |
/// | `Manhattan` | negated L1 distance |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SimilarityMetric {
    /// Cosine similarity; zero vectors are rejected.
    #[default]
    #[serde(alias = "Cosine")]
    Cosine,
    /// Euclidean (L2) distance, negated.
    #[serde(alias = "Euclidean", alias = "l2")]
    Euclidean,
    /// Inner product.
    #[serde(rename = "dot", alias = "DotProduct", alias = "dotproduct", alias = "dot_product")]
    DotProduct,
    /// Manhattan (L1) distance, negated.
    #[serde(alias = "Manhattan", alias = "l1")]
    Manhattan,
}

/// HNSW graph parameters (Malkov & Yashunin 2016).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct HnswParams {
    /// Links per node on the upper layers; layer 0 keeps `2 * m`. Default 16.
    pub m: usize,
    /// Beam width while building; higher builds a better graph, slower. Default 200.
    pub ef_construction: usize,
    /// Default beam width while searching (overridable per query); clamped up to `k`.
    /// Default 48, which reaches recall@10 >= 0.95 on the benchmark data.
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { m: 16, ef_construction: 200, ef_search: 48 }
    }
}

/// The index a collection searches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum IndexType {
    /// Exact brute-force scan: perfect recall, linear time.
    Flat,
    /// Approximate search over a hierarchical navigable small-world graph.
    HNSW(HnswParams),
}

impl Default for IndexType {
    fn default() -> Self {
        IndexType::HNSW(HnswParams::default())
    }
}

/// Everything fixed at collection creation.
///
/// ```
/// use vectorlite::{CollectionConfig, IndexType, SimilarityMetric};
/// let config = CollectionConfig::new(384)
///     .with_metric(SimilarityMetric::Euclidean)
///     .with_index(IndexType::Flat);
/// assert_eq!(config.dimension, 384);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Length of every vector, 1 to [`MAX_DIMENSION`].
    pub dimension: usize,
    /// Similarity metric; default cosine.
    #[serde(default)]
    pub metric: SimilarityMetric,
    /// Index type; default HNSW with [`HnswParams::default`].
    #[serde(default)]
    pub index: IndexType,
}

impl CollectionConfig {
    /// A config with the given dimension, cosine metric and default HNSW.
    pub fn new(dimension: usize) -> Self {
        Self { dimension, metric: SimilarityMetric::default(), index: IndexType::default() }
    }

    /// Replaces the metric.
    pub fn with_metric(mut self, metric: SimilarityMetric) -> Self {
        self.metric = metric;
        self
    }

    /// Replaces the index type.
    pub fn with_index(mut self, index: IndexType) -> Self {
        self.index = index;
        self
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return Err(invalid("dimension", format!("{} is not in 1..={MAX_DIMENSION}", self.dimension)));
        }
        if let IndexType::HNSW(p) = self.index {
            if !(2..=128).contains(&p.m) {
                return Err(invalid("m", format!("{} is not in 2..=128", p.m)));
            }
            if !(1..=4096).contains(&p.ef_construction) {
                return Err(invalid("ef_construction", format!("{} is not in 1..=4096", p.ef_construction)));
            }
            if !(1..=crate::collection::MAX_K).contains(&p.ef_search) {
                return Err(invalid(
                    "ef_search",
                    format!("{} is not in 1..={}", p.ef_search, crate::collection::MAX_K),
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

/// Checks a collection name against `[A-Za-z0-9_-]{1,64}`; names double as file names later.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::InvalidCollectionName { name: name.to_owned() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_allowed_alphabet() {
        for good in ["a", "memories_2024", "A-b_c", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "../x", "é", "a.b", &"x".repeat(65)] {
            assert!(matches!(validate_name(bad), Err(Error::InvalidCollectionName { .. })), "{bad}");
        }
    }

    #[test]
    fn config_ranges_are_checked() {
        assert!(CollectionConfig::new(384).validate().is_ok());
        assert!(CollectionConfig::new(0).validate().is_err());
        assert!(CollectionConfig::new(MAX_DIMENSION + 1).validate().is_err());
        let bad_m = IndexType::HNSW(HnswParams { m: 1, ..Default::default() });
        assert!(CollectionConfig::new(8).with_index(bad_m).validate().is_err());
        let bad_ef = IndexType::HNSW(HnswParams { ef_search: 0, ..Default::default() });
        assert!(CollectionConfig::new(8).with_index(bad_ef).validate().is_err());
    }

    #[test]
    fn metric_names_parse_from_json() {
        let m: SimilarityMetric = serde_json::from_str("\"dot\"").unwrap();
        assert_eq!(m, SimilarityMetric::DotProduct);
        let m: SimilarityMetric = serde_json::from_str("\"Euclidean\"").unwrap();
        assert_eq!(m, SimilarityMetric::Euclidean);
        let c: CollectionConfig = serde_json::from_str(r#"{"dimension": 3}"#).unwrap();
        assert_eq!(c, CollectionConfig::new(3));
    }
}
