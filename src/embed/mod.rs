//! Text embeddings: the [`EmbeddingFunction`] trait, the built-in all-MiniLM-L6-v2 model
//! (feature `embed`: our BERT forward pass over weights read by candle), and a deterministic
//! [`HashEmbedder`] for tests. Collections call an embedder outside their locks and remember
//! which model filled them.

#[cfg(feature = "embed")]
mod bert;
#[cfg(feature = "embed")]
mod matmul;
#[cfg(feature = "embed")]
mod minilm;

#[cfg(feature = "embed")]
pub use minilm::{DEFAULT_MODEL_DIR, MODEL_DIR_ENV, MiniLmEmbedder};

use crate::error::{Error, Result};
use crate::vector::normalize;

/// True when two model ids name the same model. Ids of the form `name@fingerprint` (the
/// built-in model's: a checksum of its config and weights) match on the fingerprint alone, so
/// the same weights in a differently named directory are the same model and different weights
/// under the same name are not; other ids match exactly, and an old plain `name` id matches a
/// fingerprinted id of that name.
pub(crate) fn same_model(a: &str, b: &str) -> bool {
    match (a.split_once('@'), b.split_once('@')) {
        (Some((_, fa)), Some((_, fb))) => fa == fb,
        (Some((name, _)), None) => name == b,
        (None, Some((name, _))) => name == a,
        (None, None) => a == b,
    }
}

/// Turns text into vectors. Implementations must be deterministic for a given model id, since
/// stored vectors and later queries have to live in the same space.
///
/// ```
/// use vectorlite::{EmbeddingFunction, HashEmbedder};
/// let e = HashEmbedder::new(64);
/// let v = e.embed("hello world")?;
/// assert_eq!(v.len(), e.dimension()?);
/// # Ok::<(), vectorlite::Error>(())
/// ```
pub trait EmbeddingFunction: Send + Sync {
    /// One text's vector.
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        self.embed_batch(&[text])?
            .pop()
            .ok_or_else(|| Error::Embedding { message: "the model returned no vector".into() })
    }

    /// Vectors for many texts, in order.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Length of every vector. Fallible so that an embedder may learn it lazily (say, from a
    /// remote model on first use).
    fn dimension(&self) -> Result<usize>;

    /// Names the model (and so the vector space): collections remember it.
    fn model_id(&self) -> Result<String>;
}

/// A model-free embedder: hashed character trigrams of the lower-cased text, L2-normalised.
/// Deterministic and fast; texts sharing many trigrams get similar vectors. For tests and
/// demos, never a silent stand-in for a real model.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dimension: usize,
    model_id: String,
}

impl HashEmbedder {
    /// An embedder producing `dimension`-long vectors (at least 1).
    pub fn new(dimension: usize) -> Self {
        let dimension = dimension.max(1);
        Self { dimension, model_id: format!("hash-trigram-{dimension}") }
    }

    fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dimension];
        let chars: Vec<char> =
            std::iter::once(' ').chain(text.to_lowercase().chars()).chain(std::iter::once(' ')).collect();
        for gram in chars.windows(3) {
            // FNV-1a: stable across platforms and releases, unlike std's hasher.
            let h = gram
                .iter()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, c| (h ^ u64::from(*c)).wrapping_mul(0x100_0000_01b3));
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[(h % self.dimension as u64) as usize] += sign;
        }
        if normalize(&mut v) == 0.0 {
            // Empty text: a fixed unit vector keeps cosine collections valid.
            v[0] = 1.0;
        }
        v
    }
}

impl EmbeddingFunction for HashEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }

    fn dimension(&self) -> Result<usize> {
        Ok(self.dimension)
    }

    fn model_id(&self) -> Result<String> {
        Ok(self.model_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_match_on_fingerprints() {
        assert!(same_model("all-MiniLM-L6-v2@1a2b", "minilm-copy@1a2b"), "same weights, other name");
        assert!(!same_model("all-MiniLM-L6-v2@1a2b", "all-MiniLM-L6-v2@ffff"), "same name, other weights");
        assert!(same_model("all-MiniLM-L6-v2", "all-MiniLM-L6-v2@1a2b"), "ids written before fingerprints");
        assert!(!same_model("hash-trigram-64", "hash-trigram-32"));
        assert!(same_model("hash-trigram-64", "hash-trigram-64"));
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn hash_embedder_is_deterministic_normalised_and_similarity_preserving() {
        let e = HashEmbedder::new(128);
        let a = e.embed("the quick brown fox").unwrap();
        assert_eq!(a, e.embed("the quick brown fox").unwrap());
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        let near = e.embed("the quick brown foxes").unwrap();
        let far = e.embed("zebra quantum lattice").unwrap();
        assert!(cos(&a, &near) > cos(&a, &far));
        assert_eq!(e.embed("").unwrap().len(), 128);
        assert_eq!(e.model_id().unwrap(), "hash-trigram-128");
        let batch = e.embed_batch(&["a", "b"]).unwrap();
        assert_eq!(batch[1], e.embed("b").unwrap());
    }
}
