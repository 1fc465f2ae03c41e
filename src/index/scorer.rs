//! A query prepared against one store's rows, whichever way they are kept: f32 rows as they are,
//! f16 rows widened inside the kernel, or int8 codes against the query folded into the codes'
//! ranges and rounded to bytes (so a distance is one integer dot product, `vpdpbusd` on CPUs
//! with AVX-512 VNNI). Indexes score slots only through it.

use std::borrow::Cow;

use super::distance::{Distance, DotU8Fn, dot_u8_kernel, prefetch, prefetch_row};
use crate::codes::{Codes, Int8Codes};
use crate::config::SimilarityMetric;
use crate::store::{GatheredRows, Slot, VectorStore};

/// Distances from one query to a store's rows; lower is closer.
pub(crate) struct Scorer<'a> {
    query: Cow<'a, [f32]>,
    dim: usize,
    rows: Rows<'a>,
}

enum Rows<'a> {
    F32(&'a [f32], Distance),
    F16(&'a [u16], Distance),
    Int8(Int8Query<'a>),
}

/// With per-dimension ranges, value = lo + step * code, so
/// q . x = sum(q * lo) + sum((q * step) * code): a constant plus the codes' dot product with
/// `q * step`, which is rounded to bytes (`weights`, scaled by `scale`).
struct Int8Query<'a> {
    codes: &'a [u8],
    weights: Vec<i8>,
    scale: f32,
    offset: f32,
    dot: DotU8Fn,
    /// Euclidean: |q|^2 and each row's decoded |x|^2, for |q - x|^2 = |q|^2 - 2 q.x + |x|^2.
    euclidean: Option<(f32, &'a [f32])>,
}

impl<'a> Scorer<'a> {
    /// Prepares `query` (validated and, for cosine, normalised) against `store`'s rows.
    pub(crate) fn new(store: &'a VectorStore, distance: &Distance, query: Cow<'a, [f32]>) -> Self {
        Self::over(store.dim(), (store.codes(), store.f32_rows().unwrap_or_default()), distance, query)
    }

    /// Prepares `query` against rows gathered from a store: row `i` is `rows.slots[i]`.
    pub(crate) fn gathered(
        rows: &'a GatheredRows,
        dim: usize,
        distance: &Distance,
        query: Cow<'a, [f32]>,
    ) -> Self {
        Self::over(dim, (&rows.codes, rows.f32_rows.as_slice()), distance, query)
    }

    /// Over `codes` when there are any, else over the f32 rows.
    fn over(
        dim: usize,
        (codes, f32_rows): (&'a Codes, &'a [f32]),
        distance: &Distance,
        query: Cow<'a, [f32]>,
    ) -> Self {
        let rows = match codes {
            Codes::None => Rows::F32(f32_rows, *distance),
            Codes::F16(bits) => Rows::F16(bits, *distance),
            Codes::Int8(codes) => Rows::Int8(Int8Query::new(codes, &query, distance.metric())),
        };
        Self { query, dim, rows }
    }

    /// Prepares stored row `slot` as the query, for building the graph: over the f32 rows
    /// whenever the store keeps them (int8 with rescoring), so the graph links true
    /// neighbours and the build pays no query preparation per candidate.
    pub(crate) fn for_row(store: &'a VectorStore, distance: &Distance, slot: Slot) -> Self {
        match store.f32_rows() {
            Some(rows) => {
                Self { query: store.vector(slot), dim: store.dim(), rows: Rows::F32(rows, *distance) }
            }
            None => Self::new(store, distance, store.vector(slot)),
        }
    }

    /// The query at full precision.
    pub(crate) fn query(&self) -> &[f32] {
        &self.query
    }

    /// Distance to row `slot`.
    #[inline(always)]
    pub(crate) fn dist(&self, slot: u32) -> f32 {
        let (d, at) = (self.dim, slot as usize * self.dim);
        match &self.rows {
            Rows::F32(rows, distance) => distance.distance(&self.query, &rows[at..at + d]),
            Rows::F16(rows, distance) => distance.distance_f16(&self.query, &rows[at..at + d]),
            Rows::Int8(q) => q.dist(slot as usize, &q.codes[at..at + d]),
        }
    }

    /// Distances to four rows: f32 rows stream from memory together through one kernel call.
    #[inline(always)]
    pub(crate) fn dist4(&self, slots: [u32; 4]) -> [f32; 4] {
        match &self.rows {
            Rows::F32(rows, distance) => {
                let d = self.dim;
                let v = slots.map(|s| &rows[s as usize * d..(s as usize + 1) * d]);
                distance.distance4(&self.query, v)
            }
            _ => slots.map(|s| self.dist(s)),
        }
    }

    /// Starts loading row `slot`: its first line for f32 and f16 rows (the hardware fetches
    /// the rest as the kernel streams through it), every line of the short int8 rows.
    #[inline(always)]
    pub(crate) fn prefetch(&self, slot: u32) {
        let at = slot as usize * self.dim;
        match &self.rows {
            Rows::F32(rows, _) => prefetch(rows[at..].as_ptr()),
            Rows::F16(rows, _) => prefetch(rows[at..].as_ptr()),
            Rows::Int8(q) => prefetch_row(&q.codes[at..at + self.dim]),
        }
    }

    /// Starts loading every line of row `slot`.
    #[inline(always)]
    pub(crate) fn prefetch_row(&self, slot: u32) {
        let (d, at) = (self.dim, slot as usize * self.dim);
        match &self.rows {
            Rows::F32(rows, _) => prefetch_row(&rows[at..at + d]),
            Rows::F16(rows, _) => prefetch_row(&rows[at..at + d]),
            Rows::Int8(q) => prefetch_row(&q.codes[at..at + d]),
        }
    }
}

impl<'a> Int8Query<'a> {
    fn new(codes: &'a Int8Codes, query: &[f32], metric: SimilarityMetric) -> Self {
        let (lo, step) = (codes.lo(), codes.step());
        let offset: f64 = query.iter().zip(lo).map(|(&q, &l)| f64::from(q) * f64::from(l)).sum();
        let largest = query.iter().zip(step).map(|(&q, &s)| (q * s).abs()).fold(0f32, f32::max);
        let scale = if largest > 0.0 && largest.is_finite() { largest / 127.0 } else { 1.0 };
        let weights = query
            .iter()
            .zip(step)
            .map(|(&q, &s)| {
                // Rounded half away from zero by hand: `round` is a libm call.
                let w = ((q * s) / scale).clamp(-127.0, 127.0);
                (w + 0.5f32.copysign(w)) as i8
            })
            .collect();
        // Int8 collections are cosine, dot or euclidean (the config refuses manhattan).
        let euclidean = (metric == SimilarityMetric::Euclidean).then(|| {
            let sq: f64 = query.iter().map(|&q| f64::from(q) * f64::from(q)).sum();
            (sq as f32, codes.sq_norms())
        });
        Self { codes: codes.codes(), weights, scale, offset: offset as f32, dot: dot_u8_kernel(), euclidean }
    }

    #[inline(always)]
    fn dist(&self, row: usize, codes: &[u8]) -> f32 {
        let dot = self.offset + self.scale * (self.dot)(codes, &self.weights) as f32;
        match self.euclidean {
            Some((q_sq, sq_norms)) => q_sq - 2.0 * dot + sq_norms[row],
            None => -dot,
        }
    }
}
