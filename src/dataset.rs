//! Seeded benchmark data by the "clustered-384" recipe of `shared/bench/README.md`: a Gaussian
//! mixture that behaves like sentence embeddings, plus readers for the raw exchange format.
//! Used by the bench binary and the tests; not part of the stable API.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::vector::normalize;

/// Row-major vectors with a fixed dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    /// Length of each row.
    pub dim: usize,
    /// `rows * dim` values.
    pub data: Vec<f32>,
}

impl Vectors {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Iterates over rows.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim)
    }
}

/// Parameters of the clustered recipe.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    /// Base vectors.
    pub n_base: usize,
    /// Query vectors.
    pub n_queries: usize,
    /// Dimension.
    pub dim: usize,
    /// Cluster centres.
    pub clusters: usize,
    /// Per-coordinate noise standard deviation.
    pub sigma: f32,
    /// RNG seed.
    pub seed: u64,
}

impl Default for Recipe {
    fn default() -> Self {
        Self { n_base: 100_000, n_queries: 1_000, dim: 384, clusters: 1_000, sigma: 0.10, seed: 42 }
    }
}

/// Generates (base, queries): centre + N(0, sigma^2) noise, L2-normalised.
pub fn clustered(r: &Recipe) -> (Vectors, Vectors) {
    let mut rng = StdRng::seed_from_u64(r.seed);
    let mut centres = vec![0f32; r.clusters.max(1) * r.dim];
    for c in centres.chunks_exact_mut(r.dim) {
        c.iter_mut().for_each(|x| *x = rng.sample(StandardNormal));
        normalize(c);
    }
    let mut points = |n: usize| {
        let mut data = Vec::with_capacity(n * r.dim);
        for _ in 0..n {
            let c = rng.random_range(0..r.clusters.max(1));
            let start = data.len();
            for j in 0..r.dim {
                let noise: f32 = rng.sample(StandardNormal);
                data.push(centres[c * r.dim + j] + r.sigma * noise);
            }
            normalize(&mut data[start..]);
        }
        Vectors { dim: r.dim, data }
    };
    let base = points(r.n_base);
    let queries = points(r.n_queries);
    (base, queries)
}

/// Reads a raw little-endian `f32` file of rows with `dim` values each.
pub fn read_f32(path: &Path, dim: usize) -> std::io::Result<Vectors> {
    let bytes = std::fs::read(path)?;
    if dim == 0 || bytes.len() % (4 * dim) != 0 {
        return Err(std::io::Error::other(format!(
            "{}: {} bytes is not a whole number of {dim}-dimensional f32 rows",
            path.display(),
            bytes.len()
        )));
    }
    let data = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Vectors { dim, data })
}

/// Reads a raw little-endian `i32` ground-truth file with `k` neighbours per row.
pub fn read_i32(path: &Path, k: usize) -> std::io::Result<Vec<Vec<i32>>> {
    let bytes = std::fs::read(path)?;
    if k == 0 || bytes.len() % (4 * k) != 0 {
        return Err(std::io::Error::other(format!(
            "{}: not a whole number of rows of {k} i32",
            path.display()
        )));
    }
    let values: Vec<i32> =
        bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(values.chunks_exact(k).map(<[i32]>::to_vec).collect())
}

/// recall@k of `found` against the first `k` entries of `truth`, averaged over queries.
pub fn recall_at_k(found: &[Vec<u64>], truth: &[Vec<u64>], k: usize) -> f64 {
    let total: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let t = &t[..k.min(t.len())];
            f.iter().take(k).filter(|id| t.contains(id)).count()
        })
        .sum();
    total as f64 / (k * found.len().max(1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_seeded_and_normalised() {
        let r = Recipe { n_base: 50, n_queries: 5, dim: 16, clusters: 4, sigma: 0.1, seed: 7 };
        let (a, q) = clustered(&r);
        let (b, _) = clustered(&r);
        assert_eq!(a, b);
        assert_eq!((a.len(), q.len()), (50, 5));
        for row in a.rows() {
            let n: f32 = row.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
        let (c, _) = clustered(&Recipe { seed: 8, ..r });
        assert_ne!(a, c);
    }

    #[test]
    fn recall_counts_overlap() {
        let truth = vec![vec![1, 2, 3], vec![4, 5, 6]];
        assert_eq!(recall_at_k(&[vec![1, 2, 3], vec![4, 5, 6]], &truth, 3), 1.0);
        assert_eq!(recall_at_k(&[vec![3, 9, 9], vec![9, 9, 9]], &truth, 3), 1.0 / 6.0);
    }

    #[test]
    fn raw_files_round_trip_and_reject_ragged_sizes() {
        let dir = std::env::temp_dir().join(format!("vl-dataset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.f32");
        let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read_f32(&p, 2).unwrap().row(1), &[3.0, 4.0]);
        assert!(read_f32(&p, 3).is_err());
        let g = dir.join("gt.i32");
        std::fs::write(&g, [7i32, 8, 9, 10].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
            .unwrap();
        assert_eq!(read_i32(&g, 2).unwrap(), vec![vec![7, 8], vec![9, 10]]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
