//! sentence-transformers/all-MiniLM-L6-v2 on candle, matching the Python library: WordPiece
//! tokens truncated at `max_seq_length` (256, from `sentence_bert_config.json`, not the 128 the
//! raw `tokenizer.json` pads and truncates to), padded per batch, mean-pooled over the attention
//! mask, then L2-normalised.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::EmbeddingFunction;
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
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
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
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| Error::Embedding { message: format!("config.json: {e}") })?;
        let max_len = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["max_seq_length"].as_u64())
            .unwrap_or(256)
            .min(config.max_position_embeddings as u64) as usize;

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| Error::Embedding { message: format!("tokenizer.json: {e}") })?;
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token: "[PAD]".into(),
            ..PaddingParams::default()
        }));
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
        let model = BertModel::load(vb, &config).map_err(embed_err("loading BERT weights"))?;
        let name = match dir.file_name().and_then(|n| n.to_str()) {
            Some(name) if !name.is_empty() => name,
            _ => "all-MiniLM-L6-v2",
        };
        // `name@fingerprint`: collections compare fingerprints (see `same_model`), so a renamed
        // copy of these weights is the same model and other weights under this name are not.
        let model_id = format!("{name}@{fingerprint:08x}");
        Ok(Self { model, tokenizer, device, dimension: config.hidden_size, model_id })
    }

    /// Replaces the model id (by default `<directory name>@<checksum of config, vocabulary and
    /// weights>`).
    pub fn with_model_id(mut self, id: impl Into<String>) -> Self {
        self.model_id = id.into();
        self
    }

    /// One forward pass over texts of similar length.
    fn forward(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Embedding { message: format!("tokenizing: {e}") })?;
        let (batch, seq) = (encodings.len(), encodings.first().map_or(0, |e| e.get_ids().len()));
        let column = |f: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings.iter().flat_map(|e| f(e).iter().copied()).collect()
        };
        let ids = Tensor::from_vec(column(tokenizers::Encoding::get_ids), (batch, seq), &self.device);
        let types = Tensor::from_vec(column(tokenizers::Encoding::get_type_ids), (batch, seq), &self.device);
        let mask =
            Tensor::from_vec(column(tokenizers::Encoding::get_attention_mask), (batch, seq), &self.device);
        let (ids, types, mask) = (
            ids.map_err(embed_err("ids"))?,
            types.map_err(embed_err("type ids"))?,
            mask.map_err(embed_err("mask"))?,
        );
        let hidden = self.model.forward(&ids, &types, Some(&mask)).map_err(embed_err("forward pass"))?;
        // Mean over real tokens only: padding must not dilute short texts.
        let pooled = (|| {
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norms)?.to_vec2::<f32>()
        })()
        .map_err(embed_err("pooling"))?;
        Ok(pooled)
    }
}

impl EmbeddingFunction for MiniLmEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // Like sentence-transformers, batch texts of similar length to cut padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        // candle's kernels leave cores idle on batches this small, so each core runs whole
        // forward passes of its own: batches are sized to give every core work.
        let threads = crate::parallel::threads();
        let batch = texts.len().div_ceil(threads).clamp(1, BATCH);
        let chunks: Vec<&[usize]> = order.chunks(batch).collect();
        let parts = crate::parallel::map_split(chunks.len(), 1, |range| {
            range
                .map(|c| {
                    let batch: Vec<&str> = chunks[c].iter().map(|&i| texts[i]).collect();
                    self.forward(&batch)
                })
                .collect::<Result<Vec<_>>>()
        });
        let mut out = vec![Vec::new(); texts.len()];
        for (chunk, vectors) in
            chunks.iter().zip(parts.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten())
        {
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn dimension(&self) -> Result<usize> {
        Ok(self.dimension)
    }

    fn model_id(&self) -> Result<String> {
        Ok(self.model_id.clone())
    }
}
