//! Dense products for the encoder, `y = x·B (+ bias)`, shaped for what a sentence encoder does:
//! few rows (a sentence is ~12 tokens) against weight matrices packed once at load. A general
//! GEMM repacks its operands on every call and hands tiny products to a thread pool; here `B` is
//! kept in 16-column panels, so the kernel streams one panel while a tile of rows accumulates in
//! registers (AVX-512: 6 rows × 32 columns, AVX2 + FMA: 6 rows × 16 columns, scalar otherwise).

use std::sync::OnceLock;

/// Columns per panel: one AVX-512 register, two AVX2 registers.
const PANEL: usize = 16;
/// Rows per register tile (12 accumulators leave room for the operands on every x86 level).
const TILE_ROWS: usize = 6;

/// A `k × n` matrix `B` stored as `ceil(n / 16)` panels; panel `p` holds rows `0..k` of
/// columns `16p..16p + 16`, contiguous, zero-padded past `n`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Packed {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Packed {
    /// Packs `B` given as `Bᵀ`: `n` rows of `k` values, row `j` starting at `wt[j * stride]`.
    /// This is how linear layers store their weights (`out × in`).
    pub(crate) fn from_transposed(&mut self, wt: &[f32], n: usize, k: usize, stride: usize) {
        self.reset(k, n);
        for j in 0..n {
            let (panel, col) = (j / PANEL, j % PANEL);
            let base = panel * k * PANEL + col;
            for (t, &v) in wt[j * stride..j * stride + k].iter().enumerate() {
                self.data[base + t * PANEL] = v;
            }
        }
    }

    /// Packs `B` given as itself: `k` rows of `n` values, row `t` starting at `b[t * stride]`.
    pub(crate) fn from_rows(&mut self, b: &[f32], k: usize, n: usize, stride: usize) {
        self.reset(k, n);
        for t in 0..k {
            let row = &b[t * stride..t * stride + n];
            for (panel, chunk) in row.chunks(PANEL).enumerate() {
                let at = panel * k * PANEL + t * PANEL;
                self.data[at..at + chunk.len()].copy_from_slice(chunk);
            }
        }
    }

    /// Resizes for a `k × n` matrix, reusing the allocation; padding columns must read zero.
    fn reset(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        self.data.clear();
        self.data.resize(n.div_ceil(PANEL) * k * PANEL, 0.0);
    }

    /// Columns of `B` (outputs of the product).
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * PANEL..(p + 1) * self.k * PANEL]
    }
}

/// Rows of a row-major operand: `rows` rows of at least `cols` values, `stride` apart.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub stride: usize,
}

/// `out[r][j] = bias[j] + Σ_t x[r][t]·B[t][j]` for every row of `x` and column of `b`; `out`
/// rows are `out_stride` apart. `x` needs `b.k` values per row and `bias` (if any) `b.n`.
pub(crate) fn matmul(x: Rows<'_>, b: &Packed, bias: Option<&[f32]>, out: &mut [f32], out_stride: usize) {
    if x.rows == 0 || b.n == 0 {
        return;
    }
    // Every access below stays inside these bounds; checking them once lets the kernels use
    // unchecked pointer arithmetic.
    assert!(x.rows == 1 || x.stride >= b.k, "x rows overlap");
    assert!(x.data.len() >= (x.rows - 1) * x.stride + b.k, "x is shorter than its rows");
    assert!(out_stride >= b.n && out.len() >= (x.rows - 1) * out_stride + b.n, "out is too short");
    assert!(bias.is_none_or(|bias| bias.len() >= b.n), "bias is shorter than n");
    (best_kernel())(x, b, bias, out, out_stride);
}

type Kernel = fn(Rows<'_>, &Packed, Option<&[f32]>, &mut [f32], usize);

fn best_kernel() -> Kernel {
    static BEST: OnceLock<Kernel> = OnceLock::new();
    *BEST.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return x86::matmul_avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return x86::matmul_avx2;
            }
        }
        matmul_scalar
    })
}

/// The reference: plain loops, the same summation order as the SIMD kernels (t ascending).
fn matmul_scalar(x: Rows<'_>, b: &Packed, bias: Option<&[f32]>, out: &mut [f32], out_stride: usize) {
    for r in 0..x.rows {
        let xr = &x.data[r * x.stride..r * x.stride + b.k];
        for p in 0..b.panels() {
            let panel = b.panel(p);
            let mut acc = [0f32; PANEL];
            if let Some(bias) = bias {
                for (c, a) in acc.iter_mut().enumerate().take(b.n - p * PANEL) {
                    *a = bias[p * PANEL + c];
                }
            }
            for (t, &xv) in xr.iter().enumerate() {
                for (a, &w) in acc.iter_mut().zip(&panel[t * PANEL..(t + 1) * PANEL]) {
                    *a = xv.mul_add(w, *a);
                }
            }
            let cols = PANEL.min(b.n - p * PANEL);
            out[r * out_stride + p * PANEL..][..cols].copy_from_slice(&acc[..cols]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PANEL, Packed, Rows, TILE_ROWS};

    /// Calls `tile::<R>` for each block of up to `TILE_ROWS` rows.
    macro_rules! row_blocks {
        ($x:expr, $tile:ident, ($($arg:expr),*)) => {{
            let mut r0 = 0;
            while r0 < $x.rows {
                let rows = ($x.rows - r0).min(TILE_ROWS);
                // SAFETY: the caller runs on a CPU with the tile's features.
                unsafe {
                    match rows {
                        1 => $tile::<1>(r0, $($arg),*),
                        2 => $tile::<2>(r0, $($arg),*),
                        3 => $tile::<3>(r0, $($arg),*),
                        4 => $tile::<4>(r0, $($arg),*),
                        5 => $tile::<5>(r0, $($arg),*),
                        _ => $tile::<TILE_ROWS>(r0, $($arg),*),
                    }
                }
                r0 += rows;
            }
        }};
    }

    pub(super) fn matmul_avx512(x: Rows<'_>, b: &Packed, bias: Option<&[f32]>, out: &mut [f32], os: usize) {
        // SAFETY: chosen only when the CPU has AVX-512F; `matmul` checked every bound.
        unsafe { avx512(x, b, bias, out, os) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(x: Rows<'_>, b: &Packed, bias: Option<&[f32]>, out: &mut [f32], os: usize) {
        let mut p = 0;
        while p < b.panels() {
            // Two panels at a time where two remain: 12 accumulators per 8 loads.
            let two = p + 1 < b.panels();
            row_blocks!(x, tile512, (p, two, x, b, bias, &mut *out, os));
            p += if two { 2 } else { 1 };
        }
    }

    /// Mask of the valid columns among the 16 of panel `p`.
    #[inline(always)]
    fn column_mask(b: &Packed, p: usize) -> __mmask16 {
        let cols = PANEL.min(b.n - p * PANEL);
        if cols == PANEL { 0xffff } else { (1u16 << cols) - 1 }
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile512<const R: usize>(
        r0: usize,
        p: usize,
        two: bool,
        x: Rows<'_>,
        b: &Packed,
        bias: Option<&[f32]>,
        out: &mut [f32],
        os: usize,
    ) {
        // SAFETY: `matmul` checked that every row, panel and output row read or written
        // here lies inside its slice.
        unsafe {
            let k = b.k;
            let w0 = b.data.as_ptr().add(p * k * PANEL);
            let w1 = if two { w0.add(k * PANEL) } else { w0 };
            let xp = x.data.as_ptr().add(r0 * x.stride);
            let (m0, m1) = (column_mask(b, p), if two { column_mask(b, p + 1) } else { 0 });
            let (b0, b1) = match bias {
                Some(bias) => (
                    _mm512_maskz_loadu_ps(m0, bias.as_ptr().add(p * PANEL)),
                    _mm512_maskz_loadu_ps(m1, bias.as_ptr().add((p + 1).min(b.panels() - 1) * PANEL)),
                ),
                None => (_mm512_setzero_ps(), _mm512_setzero_ps()),
            };
            let mut acc0 = [b0; R];
            let mut acc1 = [b1; R];
            for t in 0..k {
                let v0 = _mm512_loadu_ps(w0.add(t * PANEL));
                let v1 = _mm512_loadu_ps(w1.add(t * PANEL));
                for r in 0..R {
                    let xv = _mm512_set1_ps(*xp.add(r * x.stride + t));
                    acc0[r] = _mm512_fmadd_ps(xv, v0, acc0[r]);
                    acc1[r] = _mm512_fmadd_ps(xv, v1, acc1[r]);
                }
            }
            let o = out.as_mut_ptr().add(r0 * os + p * PANEL);
            for r in 0..R {
                _mm512_mask_storeu_ps(o.add(r * os), m0, acc0[r]);
                if two {
                    _mm512_mask_storeu_ps(o.add(r * os + PANEL), m1, acc1[r]);
                }
            }
        }
    }

    pub(super) fn matmul_avx2(x: Rows<'_>, b: &Packed, bias: Option<&[f32]>, out: &mut [f32], os: usize) {
        // SAFETY: chosen only when the CPU has AVX2 and FMA; `matmul` checked every bound.
        unsafe { avx2(x, b, bias, out, os) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(x: Rows<'_>, b: &Packed, bias: Option<&[f32]>, out: &mut [f32], os: usize) {
        for p in 0..b.panels() {
            row_blocks!(x, tile256, (p, x, b, bias, &mut *out, os));
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile256<const R: usize>(
        r0: usize,
        p: usize,
        x: Rows<'_>,
        b: &Packed,
        bias: Option<&[f32]>,
        out: &mut [f32],
        os: usize,
    ) {
        // SAFETY: `matmul` checked that every row, panel and output row read or written
        // here lies inside its slice.
        unsafe {
            let k = b.k;
            let w = b.data.as_ptr().add(p * k * PANEL);
            let xp = x.data.as_ptr().add(r0 * x.stride);
            let cols = PANEL.min(b.n - p * PANEL);
            let mut init = [0f32; PANEL];
            if let Some(bias) = bias {
                init[..cols].copy_from_slice(&bias[p * PANEL..p * PANEL + cols]);
            }
            let mut lo = [_mm256_loadu_ps(init.as_ptr()); R];
            let mut hi = [_mm256_loadu_ps(init.as_ptr().add(8)); R];
            for t in 0..k {
                let v0 = _mm256_loadu_ps(w.add(t * PANEL));
                let v1 = _mm256_loadu_ps(w.add(t * PANEL + 8));
                for r in 0..R {
                    let xv = _mm256_broadcast_ss(&*xp.add(r * x.stride + t));
                    lo[r] = _mm256_fmadd_ps(xv, v0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(xv, v1, hi[r]);
                }
            }
            for r in 0..R {
                let o = out.as_mut_ptr().add((r0 + r) * os + p * PANEL);
                if cols == PANEL {
                    _mm256_storeu_ps(o, lo[r]);
                    _mm256_storeu_ps(o.add(8), hi[r]);
                } else {
                    let mut tmp = [0f32; PANEL];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), o, cols);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_kernel_matches_a_naive_product_on_odd_shapes() {
        let mut kernels: Vec<(&str, Kernel)> = vec![("scalar", matmul_scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(("avx512", x86::matmul_avx512));
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                kernels.push(("avx2", x86::matmul_avx2));
            }
        }
        let mut checked = 0;
        for (rows, k, n) in [(1, 1, 1), (1, 384, 384), (7, 33, 17), (12, 384, 1152), (13, 5, 48), (6, 64, 31)] {
            let (xs, os) = (k + 3, n + 5); // strided rows, as the encoder reads heads
            let x = values(rows * xs, 1);
            let wt = values(n * k, 2);
            let bias = values(n, 3);
            let mut from_t = Packed::default();
            from_t.from_transposed(&wt, n, k, k);
            // The same B given row by row packs identically.
            let b_rows: Vec<f32> = (0..k).flat_map(|t| (0..n).map(move |j| (t, j))).map(|(t, j)| wt[j * k + t]).collect();
            let mut from_r = Packed::default();
            from_r.from_rows(&b_rows, k, n, n);
            assert_eq!(from_t.data, from_r.data);
            for (name, kernel) in &kernels {
                for with_bias in [false, true] {
                    let mut out = vec![f32::NAN; rows * os];
                    kernel(Rows { data: &x, rows, stride: xs }, &from_t, with_bias.then_some(&bias[..]), &mut out, os);
                    for r in 0..rows {
                        for j in 0..n {
                            let want: f64 = (0..k).map(|t| x[r * xs + t] as f64 * wt[j * k + t] as f64).sum::<f64>()
                                + if with_bias { bias[j] as f64 } else { 0.0 };
                            let got = out[r * os + j] as f64;
                            assert!((got - want).abs() <= 1e-4 * (1.0 + k as f64).sqrt(), "{name} {rows}x{k}x{n} [{r}][{j}]: {got} vs {want}");
                            checked += 1;
                        }
                        // Columns between rows are left alone.
                        assert!(out[r * os + n..(r * os + os).min(out.len())].iter().all(|v| v.is_nan()), "{name} wrote past n");
                    }
                }
            }
        }
        assert!(checked >= 2 * 12 * 1152 * 2, "checked {checked}");
    }
}
