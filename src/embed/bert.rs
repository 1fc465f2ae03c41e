//! A BERT encoder's forward pass for inference: embeddings, then post-norm transformer layers
//! (fused QKV projection, softmax attention per head, GELU feed-forward). Weights come from
//! candle's loaders; the arithmetic is [`matmul`] over weights packed once at load.
//!
//! Why not candle's `BertModel`: profiled on a 12-token sentence (2 cores), candle spent ~27%
//! repacking weights inside its GEMM on every call, ~10% handing tiny products to its thread
//! pool, ~9% allocating tensors and ~8% in scalar `erf`, for 9 ms per sentence. Sequences are
//! also packed back to back here, without padding: each attends over its own tokens only.

use candle_nn::VarBuilder;
use serde::Deserialize;

use super::matmul::{Packed, Rows, matmul};
use crate::error::{Error, Result};

/// The fields of a Hugging Face BERT `config.json` that inference needs.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

#[derive(Debug, Clone, Copy)]
enum Activation {
    /// `x·Φ(x)` with the exact normal CDF (Hugging Face "gelu").
    Gelu,
    /// The tanh approximation ("gelu_new", "gelu_pytorch_tanh").
    GeluTanh,
    Relu,
}

/// `y = x·Wᵀ + b`, with `W` held as f16: a short text reads each weight once, so a pass is
/// bound by reading them, and at half the bytes all six layers (21 MB) stay in a 32 MB cache.
/// Rounding a weight moves it by at most 2⁻¹¹ of itself; embeddings stay within 1e-4 cosine
/// of sentence-transformers' (the fixture test).
struct Dense {
    weight: Packed<half::f16>,
    bias: Vec<f32>,
}

/// Layer normalisation's scale and shift.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value projections stacked into one `3h × h` product.
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    intermediate: Dense,
    output: Dense,
    out_norm: Norm,
}

/// The encoder, ready to run.
pub(super) struct BertEncoder {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    vocab: usize,
    type_vocab: usize,
    max_positions: usize,
    activation: Activation,
    eps: f32,
}

/// One tokenised text.
pub(super) struct Tokens<'a> {
    pub ids: &'a [u32],
    pub type_ids: &'a [u32],
}

/// The tensor `name` under `vb`, which must have `shape`, as row-major f32 values.
fn tensor(vb: &VarBuilder, shape: &[usize], name: &str) -> Result<Vec<f32>> {
    // candle's errors name the full path of a missing or misshapen tensor.
    let err = |e: candle_core::Error| Error::Embedding { message: format!("model weights: {e}") };
    vb.get(shape, name).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).map_err(err)
}

fn dense(vb: &VarBuilder, parts: &[&str], inputs: usize, outputs: usize) -> Result<Dense> {
    let (mut weights, mut bias) = (Vec::new(), Vec::new());
    for part in parts {
        let vb = vb.pp(*part);
        weights.extend(tensor(&vb, &[outputs, inputs], "weight")?);
        bias.extend(tensor(&vb, &[outputs], "bias")?);
    }
    let mut weight = Packed::default();
    weight.pack_transposed(&weights, bias.len(), inputs, inputs);
    Ok(Dense { weight, bias })
}

fn norm(vb: &VarBuilder, size: usize) -> Result<Norm> {
    let vb = vb.pp("LayerNorm");
    Ok(Norm { gamma: tensor(&vb, &[size], "weight")?, beta: tensor(&vb, &[size], "bias")? })
}

impl BertEncoder {
    /// Loads the weights named as in Hugging Face checkpoints (`embeddings.*`, `encoder.layer.N.*`),
    /// with or without the `<model_type>.` prefix of task checkpoints.
    pub(super) fn load(vb: &VarBuilder, config: &BertConfig) -> Result<Self> {
        match Self::load_at(vb, config) {
            Ok(model) => Ok(model),
            Err(first) => match &config.model_type {
                Some(prefix) => Self::load_at(&vb.pp(prefix), config).map_err(|_| first),
                None => Err(first),
            },
        }
    }

    fn load_at(vb: &VarBuilder, c: &BertConfig) -> Result<Self> {
        let unsupported =
            |what: String| Error::Embedding { message: format!("unsupported BERT config: {what}") };
        let activation = match c.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => return Err(unsupported(format!("hidden_act {other:?}"))),
        };
        if let Some(kind) = c.position_embedding_type.as_deref().filter(|k| *k != "absolute") {
            return Err(unsupported(format!("position_embedding_type {kind:?}")));
        }
        let h = c.hidden_size;
        if c.num_attention_heads == 0 || !h.is_multiple_of(c.num_attention_heads) {
            return Err(unsupported(format!("{h} hidden units over {} heads", c.num_attention_heads)));
        }
        let emb = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp(format!("encoder.layer.{i}"));
                let attention = vb.pp("attention");
                Ok(Layer {
                    qkv: dense(&attention.pp("self"), &["query", "key", "value"], h, h)?,
                    attn_out: dense(&attention.pp("output"), &["dense"], h, h)?,
                    attn_norm: norm(&attention.pp("output"), h)?,
                    intermediate: dense(&vb.pp("intermediate"), &["dense"], h, c.intermediate_size)?,
                    output: dense(&vb.pp("output"), &["dense"], c.intermediate_size, h)?,
                    out_norm: norm(&vb.pp("output"), h)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word: tensor(&emb.pp("word_embeddings"), &[c.vocab_size, h], "weight")?,
            position: tensor(&emb.pp("position_embeddings"), &[c.max_position_embeddings, h], "weight")?,
            token_type: tensor(&emb.pp("token_type_embeddings"), &[c.type_vocab_size, h], "weight")?,
            embed_norm: norm(&emb, h)?,
            layers,
            hidden: h,
            heads: c.num_attention_heads,
            vocab: c.vocab_size,
            type_vocab: c.type_vocab_size,
            max_positions: c.max_position_embeddings,
            activation,
            eps: c.layer_norm_eps as f32,
        })
    }

    /// Width of every token's state.
    pub(super) fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The last layer's state of every token of every text, texts back to back (`Σ len × h`).
    /// With `parallel`, the large products split between two threads of rayon's pool (call
    /// it on that pool: see [`on_pool`](super::matmul::on_pool)).
    pub(super) fn forward(&self, texts: &[Tokens<'_>], parallel: bool) -> Result<Vec<f32>> {
        let h = self.hidden;
        let total: usize = texts.iter().map(|t| t.ids.len()).sum();
        let mut state = vec![0f32; total * h];
        let mut row = 0;
        for text in texts {
            if text.ids.len() > self.max_positions || text.type_ids.len() != text.ids.len() {
                return Err(Error::Embedding {
                    message: format!(
                        "{} tokens ({} type ids); the model takes at most {}",
                        text.ids.len(),
                        text.type_ids.len(),
                        self.max_positions
                    ),
                });
            }
            for (pos, (&id, &ty)) in text.ids.iter().zip(text.type_ids).enumerate() {
                let (id, ty) = (id as usize, ty as usize);
                if id >= self.vocab || ty >= self.type_vocab {
                    return Err(Error::Embedding {
                        message: format!("token id {id} (type {ty}) is outside the vocabulary"),
                    });
                }
                let out = &mut state[row * h..(row + 1) * h];
                let (w, p, t) = (
                    &self.word[id * h..][..h],
                    &self.position[pos * h..][..h],
                    &self.token_type[ty * h..][..h],
                );
                for (((o, w), p), t) in out.iter_mut().zip(w).zip(p).zip(t) {
                    *o = w + p + t;
                }
                row += 1;
            }
        }
        layer_norm(&mut state, h, &self.embed_norm, self.eps);

        let lengths: Vec<usize> = texts.iter().map(|t| t.ids.len()).collect();
        let mut scratch =
            Scratch::new(total, h, self.layers.first().map_or(0, |l| l.intermediate.bias.len()));
        for layer in &self.layers {
            self.layer(layer, &lengths, &mut state, &mut scratch, parallel);
        }
        Ok(state)
    }

    fn layer(&self, layer: &Layer, lengths: &[usize], state: &mut [f32], s: &mut Scratch, parallel: bool) {
        let h = self.hidden;
        fn rows(data: &[f32], width: usize) -> Rows<'_> {
            Rows { data, rows: data.len() / width, stride: width }
        }
        matmul(rows(state, h), &layer.qkv.weight, Some(&layer.qkv.bias), &mut s.qkv, 3 * h, parallel);
        self.attention(lengths, s);
        // Residual and norm after attention, then after the feed-forward block.
        matmul(
            rows(&s.context, h),
            &layer.attn_out.weight,
            Some(&layer.attn_out.bias),
            &mut s.projected,
            h,
            parallel,
        );
        add_assign(state, &s.projected);
        vectorized(|| layer_norm(state, h, &layer.attn_norm, self.eps));
        let inter = layer.intermediate.weight.n();
        matmul(
            rows(state, h),
            &layer.intermediate.weight,
            Some(&layer.intermediate.bias),
            &mut s.inner,
            inter,
            parallel,
        );
        vectorized(|| activate(&mut s.inner, self.activation));
        matmul(
            rows(&s.inner, inter),
            &layer.output.weight,
            Some(&layer.output.bias),
            &mut s.projected,
            h,
            parallel,
        );
        add_assign(state, &s.projected);
        vectorized(|| layer_norm(state, h, &layer.out_norm, self.eps));
    }

    /// Scaled dot-product attention of every head, each text over its own tokens.
    fn attention(&self, lengths: &[usize], s: &mut Scratch) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut start = 0;
        // A text without tokens (a tokenizer that adds no [CLS]) has nothing to attend over.
        for &len in lengths.iter().filter(|&&len| len > 0) {
            let qkv = &s.qkv[start * 3 * h..(start + len) * 3 * h];
            s.scores.resize(len * len, 0.0);
            for head in 0..self.heads {
                let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
                s.keys.pack_transposed(&qkv[k..], len, d, 3 * h);
                matmul(
                    Rows { data: &qkv[q..], rows: len, stride: 3 * h },
                    &s.keys,
                    None,
                    &mut s.scores,
                    len,
                    false,
                );
                for row in s.scores.chunks_exact_mut(len) {
                    softmax(row, scale);
                }
                s.values.pack_rows(&qkv[v..], len, d, 3 * h);
                let out = &mut s.context[start * h + head * d..];
                matmul(Rows { data: &s.scores, rows: len, stride: len }, &s.values, None, out, h, false);
            }
            start += len;
        }
    }
}

/// Buffers one forward pass reuses across layers.
struct Scratch {
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    inner: Vec<f32>,
    scores: Vec<f32>,
    keys: Packed,
    values: Packed,
}

impl Scratch {
    fn new(tokens: usize, hidden: usize, intermediate: usize) -> Self {
        Self {
            qkv: vec![0.0; tokens * 3 * hidden],
            context: vec![0.0; tokens * hidden],
            projected: vec![0.0; tokens * hidden],
            inner: vec![0.0; tokens * intermediate],
            scores: Vec::new(),
            keys: Packed::default(),
            values: Packed::default(),
        }
    }
}

/// Runs `f` compiled for the widest vectors this CPU has. The elementwise passes (norms,
/// GELU) are plain loops that the compiler vectorises, but the crate's baseline target only
/// allows SSE2: inlined here, they get AVX-512 or AVX2 (on SSE2 the GELU alone took ~5% of
/// a pass).
#[inline(always)]
fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { avx2(f) };
        }
    }
    f()
}

fn add_assign(a: &mut [f32], b: &[f32]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a += b;
    }
}

/// Normalises each `width`-long row to zero mean and unit variance, then scales and shifts.
#[inline(always)]
fn layer_norm(x: &mut [f32], width: usize, norm: &Norm, eps: f32) {
    for row in x.chunks_exact_mut(width) {
        let mean = row.iter().sum::<f32>() / width as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// `row = softmax(row · scale)`, stable against large scores.
fn softmax(row: &mut [f32], scale: f32) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = ((*v - max) * scale).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

#[inline(always)]
fn activate(x: &mut [f32], activation: Activation) {
    match activation {
        Activation::Gelu => {
            x.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2)))
        }
        Activation::GeluTanh => x.iter_mut().for_each(|v| {
            let inner = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
            *v = 0.5 * *v * (1.0 + inner.tanh());
        }),
        Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}

/// The error function as a rational function of `x` on [-4, 4] (beyond which erf is ±1 in
/// f32), within a few ulps: only multiplies, adds and one divide, so the loop above
/// vectorises, where libm's `erff` branches per value.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    for c in [2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.9546e-3, -1.609_603_3e-2] {
        p = p * x2 + c;
    }
    let mut q = -1.456_607_2e-5f32;
    for c in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329_2e-3, -1.426_474e-2] {
        q = q * x2 + c;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series in f64 (cancellation stays below 1e-8 on [-4, 4]); beyond,
    /// erf is within 2e-8 of ±1.
    fn erf_reference(x: f64) -> f64 {
        if x.abs() > 4.0 {
            return x.signum();
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_is_within_a_few_ulps_everywhere() {
        let mut worst = 0f64;
        let mut checked = 0;
        for i in -6000..=6000 {
            let x = i as f64 / 1000.0;
            let got = erf(x as f32) as f64;
            worst = worst.max((got - erf_reference(x)).abs());
            checked += 1;
        }
        assert!(worst < 1e-6, "worst error {worst}");
        assert_eq!(checked, 12001);
    }

    /// An encoder of hidden width 4 (2 heads, 1 layer, 8 words) with deterministic weights.
    fn tiny_encoder() -> BertEncoder {
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 31 + seed) % 17) as f32 / 17.0 - 0.5).collect()
        };
        let dense = |out: usize, inp: usize, seed: usize| {
            let mut weight = Packed::default();
            weight.pack_transposed(&values(out * inp, seed), out, inp, inp);
            Dense { weight, bias: values(out, seed + 1) }
        };
        let norm = || Norm { gamma: vec![1.0; 4], beta: vec![0.0; 4] };
        BertEncoder {
            word: values(8 * 4, 1),
            position: values(16 * 4, 2),
            token_type: values(2 * 4, 3),
            embed_norm: norm(),
            layers: vec![Layer {
                qkv: dense(12, 4, 4),
                attn_out: dense(4, 4, 5),
                attn_norm: norm(),
                intermediate: dense(8, 4, 6),
                output: dense(4, 8, 7),
                out_norm: norm(),
            }],
            hidden: 4,
            heads: 2,
            vocab: 8,
            type_vocab: 2,
            max_positions: 16,
            activation: Activation::Gelu,
            eps: 1e-12,
        }
    }

    #[test]
    fn texts_run_back_to_back_even_empty_ones_and_bad_tokens_are_errors() {
        let e = tiny_encoder();
        let text = |ids: &'static [u32]| Tokens { ids, type_ids: &[0; 16][..ids.len()] };
        let alone = e.forward(&[text(&[1, 2, 3])], false).unwrap();
        // An empty text (a tokenizer without [CLS]) beside others: no tokens, no panic, and
        // the others' states are what they are alone (each attends over its own tokens).
        let together = e.forward(&[text(&[]), text(&[1, 2, 3]), text(&[4])], true).unwrap();
        assert_eq!(together.len(), 4 * 4);
        for (a, b) in alone.iter().zip(&together[..12]) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!(e.forward(&[text(&[8])], false).is_err(), "a token beyond the vocabulary");
        let long = Tokens { ids: &[1; 17], type_ids: &[0; 17] };
        assert!(e.forward(&[long], false).is_err(), "more tokens than positions");
    }

    #[test]
    fn softmax_and_layer_norm_do_what_they_say() {
        let mut row = vec![1.0, 2.0, 3.0, 30.0];
        softmax(&mut row, 0.5);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6 && row[3] > 0.999 && row[0] > 0.0);
        assert!((row[1] / row[0] - 0.5f32.exp()).abs() < 1e-4, "scores are scaled before exp");
        let mut huge = vec![1e30, 1e30];
        softmax(&mut huge, 1.0);
        assert_eq!(huge, [0.5, 0.5], "stable against large scores");
        let norm = Norm { gamma: vec![2.0; 4], beta: vec![1.0; 4] };
        let mut x = vec![1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0];
        layer_norm(&mut x, 4, &norm, 1e-12);
        let first: f32 = x[..4].iter().map(|v| (v - 1.0) / 2.0).sum();
        assert!(first.abs() < 1e-5, "mean zero before the shift");
        assert!((x[3] - (1.0 + 2.0 * 1.5 / 1.25f32.sqrt())).abs() < 1e-4);
        assert!(x[4..].iter().all(|v| (v - 1.0).abs() < 1e-3), "a constant row maps to beta");
    }
}
