//! Shared helpers: configs, seeded data, and a brute-force reference search.

use vectorlite::dataset::{Recipe, Vectors, clustered};
use vectorlite::{Collection, CollectionConfig, HnswParams, IndexType, NewRecord, SimilarityMetric};

pub const ALL_METRICS: [SimilarityMetric; 4] = [
    SimilarityMetric::Cosine,
    SimilarityMetric::Euclidean,
    SimilarityMetric::DotProduct,
    SimilarityMetric::Manhattan,
];

pub fn flat(dim: usize, metric: SimilarityMetric) -> CollectionConfig {
    CollectionConfig::new(dim).with_metric(metric).with_index(IndexType::Flat)
}

pub fn hnsw(dim: usize, metric: SimilarityMetric) -> CollectionConfig {
    let params = HnswParams { m: 16, ef_construction: 100, ef_search: 64 };
    CollectionConfig::new(dim).with_metric(metric).with_index(IndexType::HNSW(params))
}

/// A seeded clustered dataset (base, queries).
pub fn data(n: usize, queries: usize, dim: usize, seed: u64) -> (Vectors, Vectors) {
    clustered(&Recipe { n_base: n, n_queries: queries, dim, clusters: (n / 40).max(2), sigma: 0.1, seed })
}

/// Loads every row of `base` with metadata `{"i": row, "bucket": row % 100}`; ids equal rows.
pub fn fill(c: &Collection, base: &Vectors) -> Vec<u64> {
    let records = base
        .rows()
        .enumerate()
        .map(|(i, v)| {
            NewRecord::new(v.to_vec()).with_metadata(serde_json::json!({"i": i, "bucket": i % 100}))
        })
        .collect();
    c.add_batch(records).expect("valid batch")
}

/// Brute-force scores computed from the metric's definition, independent of the library.
/// A search's answer as (id, score) pairs, for comparing two answers exactly.
pub fn id_scores(hits: &[vectorlite::SearchResult]) -> Vec<(u64, f32)> {
    hits.iter().map(|r| (r.id, r.score)).collect()
}

pub fn reference_score(metric: SimilarityMetric, q: &[f32], v: &[f32]) -> f32 {
    let dot: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
    match metric {
        SimilarityMetric::Cosine => {
            let nq = q.iter().map(|x| x * x).sum::<f32>().sqrt();
            let nv = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (nq * nv)
        }
        SimilarityMetric::DotProduct => dot,
        SimilarityMetric::Euclidean => -q.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt(),
        SimilarityMetric::Manhattan => -q.iter().zip(v).map(|(a, b)| (a - b).abs()).sum::<f32>(),
    }
}
