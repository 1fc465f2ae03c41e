//! Vector maths shared by every layer: the L2 norm (accumulated in `f64`, so no finite `f32`
//! input can overflow or underflow it), normalisation, and the checks every stored or queried
//! vector passes. Knows nothing of indexes or collections.

use crate::config::{CollectionConfig, SimilarityMetric, VectorStorage};
use crate::error::{Error, Result};

/// The largest L2 norm a vector may have. Under it, every distance between two accepted
/// vectors, and every partial sum of its kernel, stays far inside `f32` (|a - b|^2 <= 4e36 and
/// the L1 distance <= 2e18 * sqrt(65,536)), so no search can ever produce an infinite or NaN score.
pub const MAX_NORM: f64 = 1e18;

/// The L2 norm of `v`, accumulated in `f64` on eight lanes.
pub(crate) fn norm(v: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let mut chunks = v.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(x) * f64::from(x);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (lanes.iter().sum::<f64>() + tail).sqrt()
}

/// Scales `v` to unit L2 norm in place and returns the original norm (0 leaves `v` untouched).
/// A vector already of unit norm (within 1e-6, far below what cosine scores resolve) is left
/// bit for bit, so vectors exported from a cosine collection import back unchanged.
pub(crate) fn normalize(v: &mut [f32]) -> f64 {
    let n = norm(v);
    if n > 0.0 && n.is_finite() && (n - 1.0).abs() > 1e-6 {
        let inv = 1.0 / n;
        v.iter_mut().for_each(|x| *x = (f64::from(*x) * inv) as f32);
    }
    n
}

/// Checks a vector against a collection's configuration: the right length, finite values, a
/// norm of at most [`MAX_NORM`], under cosine not zero, and under f16 storage (other than
/// cosine, whose vectors are normalised) values within f16's range. Returns its norm.
pub(crate) fn check(vector: &[f32], config: &CollectionConfig) -> Result<f64> {
    let n = check_values(vector, config.dimension, config.metric)?;
    if config.vector_storage == VectorStorage::F16
        && config.metric != SimilarityMetric::Cosine
        && let Some(position) = vector.iter().position(|x| x.abs() > crate::codes::F16_MAX)
    {
        return Err(Error::InvalidParameter {
            name: "vector",
            reason: format!(
                "value {} at position {position} is beyond +-{}, the range of f16 storage",
                vector[position],
                crate::codes::F16_MAX
            ),
        });
    }
    Ok(n)
}

/// [`check`] without the storage's own limits.
fn check_values(vector: &[f32], dimension: usize, metric: SimilarityMetric) -> Result<f64> {
    if vector.len() != dimension {
        return Err(Error::DimensionMismatch { expected: dimension, actual: vector.len() });
    }
    if let Some(position) = vector.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFiniteValue { position, value: vector[position] });
    }
    let n = norm(vector);
    if n > MAX_NORM {
        return Err(Error::VectorOutOfRange { norm: n, max: MAX_NORM });
    }
    if metric == SimilarityMetric::Cosine && n == 0.0 {
        return Err(Error::ZeroVector);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_do_not_overflow_or_underflow_on_extreme_finite_values() {
        let huge = vec![f32::MAX; 384];
        assert!(norm(&huge).is_finite());
        let tiny = vec![f32::MIN_POSITIVE / 1024.0; 3]; // subnormal: squares underflow in f32
        let mut t = tiny.clone();
        assert!(normalize(&mut t) > 0.0);
        assert!((norm(&t) - 1.0).abs() < 1e-6, "subnormal vectors normalise to unit length");
        let mut h = vec![1e30f32, -1e30, 0.0];
        normalize(&mut h);
        assert!((norm(&h) - 1.0).abs() < 1e-6);
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
    }

    #[test]
    fn checks_reject_what_would_break_the_maths() {
        let check =
            |v: &[f32], d: usize, m: SimilarityMetric| check(v, &CollectionConfig::new(d).with_metric(m));
        let c = SimilarityMetric::Cosine;
        assert!(check(&[1.0, 2.0], 2, c).is_ok());
        assert!(matches!(check(&[1.0], 2, c), Err(Error::DimensionMismatch { expected: 2, actual: 1 })));
        assert!(matches!(check(&[1.0, f32::NAN], 2, c), Err(Error::NonFiniteValue { position: 1, .. })));
        assert!(matches!(check(&[0.0, 0.0], 2, c), Err(Error::ZeroVector)));
        assert!(check(&[0.0, 0.0], 2, SimilarityMetric::Euclidean).is_ok());
        assert!(matches!(check(&[1e19, 0.0], 2, c), Err(Error::VectorOutOfRange { .. })));
        assert!(check(&[9e17, 0.0], 2, SimilarityMetric::DotProduct).is_ok());
    }

    #[test]
    fn f16_storage_refuses_values_it_cannot_hold_unless_they_are_normalised() {
        let f16 = |m: SimilarityMetric| {
            CollectionConfig::new(2).with_metric(m).with_storage(VectorStorage::F16, true)
        };
        let dot = f16(SimilarityMetric::DotProduct);
        assert!(check(&[65_504.0, -65_504.0], &dot).is_ok());
        let e = check(&[1.0, -70_000.0], &dot).expect_err("beyond f16");
        assert!(
            matches!(e, Error::InvalidParameter { name: "vector", .. })
                && e.to_string().contains("position 1"),
            "{e}"
        );
        assert!(
            check(&[1.0, -70_000.0], &f16(SimilarityMetric::Cosine)).is_ok(),
            "cosine rows are normalised first"
        );
        let int8 = CollectionConfig::new(2).with_storage(VectorStorage::Int8, false);
        assert!(check(&[1e9, 0.0], &int8).is_ok());
    }
}
