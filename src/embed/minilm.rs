//! sentence-transformers/all-MiniLM-L6-v2, matching the Python library: WordPiece tokens
//! truncated at `max_seq_length` (256, from `sentence_bert_config.json`, not the 128 the raw
//! `tokenizer.json` truncates to), run through the BERT encoder, mean-pooled over each text's
//! tokens, then L2-normalised.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use tokenizers::{Tokenizer, TruncationParams};

use super::EmbeddingFunction;
use super::bert::{BertConfig, BertEncoder, Tokens};
use crate::error::{Error, Result};

/// Where the model is looked for when no directory is given.
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";
/// Environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "VECTORLITE_MODEL_DIR";
/// Texts embedded per forward pass.
const BATCH: usize = 32;

/// The built-in sentence embedder (384 dimensions).
///
/// ```no_run
/// use vectorlite::{EmbeddingFunction, MiniLmEmbedder};
/// let model = MiniLmEmbedder::discover(None)?; // --model-dir, $VECTORLITE_MODEL_DIR, ./models/...
/// let v = model.embed("agents remember things")?;
/// assert_eq!(v.len(), 384);
/// # Ok::<(), vectorlite::Error>(())
/// ```
pub struct MiniLmEmbedder {
    model: BertEncoder,
    tokenizer: Tokenizer,
    model_id: String,
}

fn embed_err(context: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::Embedding { message: format!("{context}: {e}") }
}

impl MiniLmEmbedder {
    /// Finds the model directory (`explicit`, then `$VECTORLITE_MODEL_DIR`, then
    /// `./models/all-MiniLM-L6-v2`) and loads it.
    pub fn discover(explicit: Option<&Path>) -> Result<Self> {
        let mut searched = Vec::new();
        let candidates = explicit
            .map(Path::to_path_buf)
            .into_iter()
            .chain(std::env::var_os(MODEL_DIR_ENV).map(PathBuf::from))
            .chain(std::iter::once(PathBuf::from(DEFAULT_MODEL_DIR)));
        for dir in candidates {
            if dir.join("config.json").is_file() && dir.join("tokenizer.json").is_file() {
                return Self::load(&dir);
            }
            searched.push(dir);
            if explicit.is_some() {
                break; // an explicit directory that lacks the model is an error, not a hint
            }
        }
        Err(Error::ModelNotFound { searched })
    }

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` (or `pytorch_model.bin`)
    /// from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| Error::Embedding {
                message: format!("cannot read {}: {e}", dir.join(name).display()),
            })
        };
        let config: BertConfig = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| Error::Embedding { message: format!("config.json: {e}") })?;
        let max_len = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["max_seq_length"].as_u64())
            .unwrap_or(256)
            .min(config.max_position_embeddings as u64) as usize;

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| Error::Embedding { message: format!("tokenizer.json: {e}") })?;
        // No padding: the encoder runs texts of different lengths back to back.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..TruncationParams::default() }))
            .map_err(|e| Error::Embedding { message: format!("tokenizer truncation: {e}") })?;

        let device = Device::Cpu;
        // The model's identity is what it computes with: its config, vocabulary and weights.
        let mut fingerprint = crc32c::crc32c(&read("config.json")?);
        fingerprint = crc32c::crc32c_append(fingerprint, &read("tokenizer.json")?);
        let vb = if dir.join("model.safetensors").is_file() {
            let weights = read("model.safetensors")?;
            fingerprint = crc32c::crc32c_append(fingerprint, &weights);
            VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
                .map_err(embed_err("model.safetensors"))?
        } else {
            fingerprint = crc32c::crc32c_append(fingerprint, &read("pytorch_model.bin")?);
            VarBuilder::from_pth(dir.join("pytorch_model.bin"), DType::F32, &device)
                .map_err(embed_err("pytorch_model.bin"))?
        };
        let model = BertEncoder::load(&vb, &config)?;
        let name = match dir.file_name().and_then(|n| n.to_str()) {
            Some(name) if !name.is_empty() => name,
            _ => "all-MiniLM-L6-v2",
        };
        // `name@fingerprint`: collections compare fingerprints (see `same_model`), so a renamed
        // copy of these weights is the same model and other weights under this name are not.
        let model_id = format!("{name}@{fingerprint:08x}");
        Ok(Self { model, tokenizer, model_id })
    }

    /// Replaces the model id (by default `<directory name>@<checksum of config, vocabulary and
    /// weights>`).
    pub fn with_model_id(mut self, id: impl Into<String>) -> Self {
        self.model_id = id.into();
        self
    }

    /// One forward pass over a few texts, each mean-pooled over its tokens and normalised.
    /// `parallel` lets the pass use two threads (when it is the only one running).
    fn forward(&self, texts: &[&str], parallel: bool) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Embedding { message: format!("tokenizing: {e}") })?;
        let tokens: Vec<Tokens<'_>> =
            encodings.iter().map(|e| Tokens { ids: e.get_ids(), type_ids: e.get_type_ids() }).collect();
        let states = self.model.forward(&tokens, parallel)?;
        let h = self.model.hidden_size();
        let mut rows = states.chunks_exact(h);
        Ok(tokens
            .iter()
            .map(|t| {
                // The mean's direction: the sum, normalised (dividing by the count first would
                // change nothing but the rounding).
                let mut sum = vec![0f32; h];
                for row in rows.by_ref().take(t.ids.len()) {
                    sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                }
                let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                sum.iter_mut().for_each(|v| *v /= norm);
                sum
            })
            .collect())
    }
}

impl EmbeddingFunction for MiniLmEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // Several passes: every core takes whole passes of its own (batches sized to give each
        // core work). One pass (a single text, say): its products split between threads.
        // Texts stay in order; nothing is padded.
        let threads = crate::parallel::threads();
        let batch = texts.len().div_ceil(threads).clamp(1, BATCH);
        let chunks: Vec<&[&str]> = texts.chunks(batch).collect();
        if let [only] = chunks[..] {
            return super::matmul::on_pool(|| self.forward(only, threads > 1));
        }
        let parts = crate::parallel::map_split(chunks.len(), 1, |range| {
            range.map(|c| self.forward(chunks[c], false)).collect::<Result<Vec<_>>>()
        });
        let mut out = Vec::with_capacity(texts.len());
        for part in parts {
            out.extend(part?.into_iter().flatten());
        }
        Ok(out)
    }

    fn dimension(&self) -> Result<usize> {
        Ok(self.model.hidden_size())
    }

    fn model_id(&self) -> Result<String> {
        Ok(self.model_id.clone())
    }
}
