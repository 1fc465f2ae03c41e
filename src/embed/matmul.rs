//! Dense products for the encoder, `y = x·B (+ bias)`, shaped for what a sentence encoder does:
//! few rows (a sentence is ~12 tokens) against weight matrices packed once at load. A general
//! GEMM repacks its operands on every call and hands tiny products to a thread pool; here `B` is
//! kept in 16-column panels, so the kernel streams one panel while a tile of rows accumulates in
//! registers (AVX-512: 12 rows × 32 columns, AVX2 + FMA: 6 rows × 16 columns, scalar otherwise).

use std::ops::Range;

use crate::cpu::SimdLevel;

/// Columns per panel: one AVX-512 register, two AVX2 registers.
const PANEL: usize = 16;

/// What a packed matrix holds: f32, or f16 for weights (half the bytes to stream; a sentence
/// reads every weight once, so a pass is bound by those reads).
pub(crate) trait Element: Copy + Default + Send + Sync {
    fn from_f32(v: f32) -> Self;
    fn to_f32(self) -> f32;
    /// Sixteen values as f32 lanes.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
    /// Eight values as f32 lanes.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

impl Element for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f32(self) -> f32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        // SAFETY: the caller has AVX-512F and 16 readable values at `p`.
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller has AVX and 8 readable values at `p`.
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
}

impl Element for half::f16 {
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        // SAFETY: the caller has AVX-512F and 16 readable values at `p` (f16 is two bytes).
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller has F16C and 8 readable values at `p`.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
}

/// A `k × n` matrix `B` stored as `ceil(n / 16)` panels; panel `p` holds rows `0..k` of
/// columns `16p..16p + 16`, contiguous, zero-padded past `n`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Packed<E = f32> {
    k: usize,
    n: usize,
    data: Vec<E>,
}

impl<E: Element> Packed<E> {
    /// Packs `B` given as `Bᵀ`: `n` rows of `k` values, row `j` starting at `wt[j * stride]`.
    /// This is how linear layers store their weights (`out × in`).
    pub(crate) fn pack_transposed(&mut self, wt: &[f32], n: usize, k: usize, stride: usize) {
        self.reset(k, n);
        for j in 0..n {
            let (panel, col) = (j / PANEL, j % PANEL);
            let base = panel * k * PANEL + col;
            for (t, &v) in wt[j * stride..j * stride + k].iter().enumerate() {
                self.data[base + t * PANEL] = E::from_f32(v);
            }
        }
    }

    /// Packs `B` given as itself: `k` rows of `n` values, row `t` starting at `b[t * stride]`.
    pub(crate) fn pack_rows(&mut self, b: &[f32], k: usize, n: usize, stride: usize) {
        self.reset(k, n);
        for t in 0..k {
            for (j, &v) in b[t * stride..t * stride + n].iter().enumerate() {
                self.data[(j / PANEL) * k * PANEL + t * PANEL + j % PANEL] = E::from_f32(v);
            }
        }
    }

    /// Resizes for a `k × n` matrix, reusing the allocation; padding columns must read zero.
    fn reset(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        self.data.clear();
        self.data.resize(n.div_ceil(PANEL) * k * PANEL, E::default());
    }

    /// Columns of `B` (outputs of the product).
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    fn panel(&self, p: usize) -> &[E] {
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
/// With `parallel`, a large product splits its panels between two threads of rayon's pool
/// (the caller should already run on that pool, see [`on_pool`], or each call pays a wake-up).
pub(crate) fn matmul<E: Element>(
    x: Rows<'_>,
    b: &Packed<E>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    out_stride: usize,
    parallel: bool,
) {
    if x.rows == 0 || b.n == 0 {
        return;
    }
    // Every access below stays inside these bounds; checking them once lets the kernels use
    // unchecked pointer arithmetic.
    assert!(x.rows == 1 || x.stride >= b.k, "x rows overlap");
    assert!(x.data.len() >= (x.rows - 1) * x.stride + b.k, "x is shorter than its rows");
    assert!(out_stride >= b.n && out.len() >= (x.rows - 1) * out_stride + b.n, "out is too short");
    assert!(bias.is_none_or(|bias| bias.len() >= b.n), "bias is shorter than n");
    let kernel = kernel::<E>(crate::cpu::best());
    let out = OutPtr(out.as_mut_ptr());
    let panels = b.panels();
    if parallel && panels >= 4 && x.rows * b.k * b.n >= PARALLEL_MACS {
        let mid = (panels / 2 + 1) & !1; // even, so that AVX-512 panel pairs stay whole
        // SAFETY: bounds checked above; the halves write disjoint columns of `out`.
        rayon::join(
            || unsafe { kernel(x, b, bias, 0..mid, out.get(), out_stride) },
            || unsafe { kernel(x, b, bias, mid..panels, out.get(), out_stride) },
        );
    } else {
        // SAFETY: bounds checked above.
        unsafe { kernel(x, b, bias, 0..panels, out.get(), out_stride) }
    }
}

/// Runs `f` on a thread of rayon's pool, where [`matmul`]'s splits are cheap.
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Products smaller than this (multiply-adds) are not worth a hand-off between threads.
const PARALLEL_MACS: usize = 1 << 20;

/// The output pointer, shared by the two halves of a split product.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);

// SAFETY: the halves of a split product write disjoint columns.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// By method, so that closures capture the whole (Send) wrapper, not its raw field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Computes panels `panels` of the product into `out`; callers check the bounds.
type Kernel<E> = unsafe fn(Rows<'_>, &Packed<E>, Option<&[f32]>, Range<usize>, *mut f32, usize);

/// The kernel written for `level`.
fn kernel<E: Element>(level: SimdLevel) -> Kernel<E> {
    match level {
        SimdLevel::Scalar => matmul_scalar::<E>,
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => x86::avx2::<E>,
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => x86::avx512::<E>,
    }
}

/// The reference: plain loops, the same summation order as the SIMD kernels (t ascending).
unsafe fn matmul_scalar<E: Element>(
    x: Rows<'_>,
    b: &Packed<E>,
    bias: Option<&[f32]>,
    panels: Range<usize>,
    out: *mut f32,
    out_stride: usize,
) {
    for r in 0..x.rows {
        let xr = &x.data[r * x.stride..r * x.stride + b.k];
        for p in panels.clone() {
            let panel = b.panel(p);
            let mut acc = [0f32; PANEL];
            if let Some(bias) = bias {
                for (c, a) in acc.iter_mut().enumerate().take(b.n - p * PANEL) {
                    *a = bias[p * PANEL + c];
                }
            }
            for (t, &xv) in xr.iter().enumerate() {
                for (a, &w) in acc.iter_mut().zip(&panel[t * PANEL..(t + 1) * PANEL]) {
                    *a += xv * w.to_f32();
                }
            }
            let cols = PANEL.min(b.n - p * PANEL);
            // SAFETY: the caller checked that row r's n columns lie inside `out`.
            unsafe { std::ptr::copy_nonoverlapping(acc.as_ptr(), out.add(r * out_stride + p * PANEL), cols) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use std::ops::Range;

    use super::{Element, PANEL, Packed, Rows};

    /// Calls `tile::<E, R>` on blocks of at most `$max` rows, as even as can be (13 rows are
    /// 7 + 6, not 12 + 1: a one-row tile streams its panel for one row's work).
    macro_rules! row_blocks {
        ($x:expr, $tile:ident, [$($n:literal)*] $max:literal, $r0:ident => $args:tt) => {{
            let blocks = $x.rows.div_ceil($max);
            let mut $r0 = 0;
            for block in 0..blocks {
                let rows = ($x.rows - $r0).div_ceil(blocks - block);
                // SAFETY: the caller runs on a CPU with the tile's features.
                unsafe {
                    match rows {
                        $($n => $tile::<E, $n> $args,)*
                        _ => $tile::<E, $max> $args,
                    }
                }
                $r0 += rows;
            }
        }};
    }

    /// Chosen only when the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512<E: Element>(
        x: Rows<'_>,
        b: &Packed<E>,
        bias: Option<&[f32]>,
        panels: Range<usize>,
        out: *mut f32,
        os: usize,
    ) {
        let mut p = panels.start;
        while p < panels.end {
            // Two panels at a time where two remain: 24 accumulators, 2 weight loads per 12 rows.
            let two = p + 1 < panels.end;
            row_blocks!(x, tile512, [1 2 3 4 5 6 7 8 9 10 11] 12, r0 => (r0, p, two, x, b, bias, out, os));
            p += if two { 2 } else { 1 };
        }
    }

    /// Mask of the valid columns among the 16 of panel `p`.
    #[inline(always)]
    fn column_mask<E>(b: &Packed<E>, p: usize) -> __mmask16 {
        let cols = PANEL.min(b.n - p * PANEL);
        if cols == PANEL { 0xffff } else { (1u16 << cols) - 1 }
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile512<E: Element, const R: usize>(
        r0: usize,
        p: usize,
        two: bool,
        x: Rows<'_>,
        b: &Packed<E>,
        bias: Option<&[f32]>,
        out: *mut f32,
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
                let v0 = E::load16(w0.add(t * PANEL));
                let v1 = E::load16(w1.add(t * PANEL));
                for r in 0..R {
                    let xv = _mm512_set1_ps(*xp.add(r * x.stride + t));
                    acc0[r] = _mm512_fmadd_ps(xv, v0, acc0[r]);
                    acc1[r] = _mm512_fmadd_ps(xv, v1, acc1[r]);
                }
            }
            let o = out.add(r0 * os + p * PANEL);
            for r in 0..R {
                _mm512_mask_storeu_ps(o.add(r * os), m0, acc0[r]);
                if two {
                    _mm512_mask_storeu_ps(o.add(r * os + PANEL), m1, acc1[r]);
                }
            }
        }
    }

    /// Chosen only when the CPU has AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn avx2<E: Element>(
        x: Rows<'_>,
        b: &Packed<E>,
        bias: Option<&[f32]>,
        panels: Range<usize>,
        out: *mut f32,
        os: usize,
    ) {
        for p in panels {
            row_blocks!(x, tile256, [1 2 3 4 5] 6, r0 => (r0, p, x, b, bias, out, os));
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile256<E: Element, const R: usize>(
        r0: usize,
        p: usize,
        x: Rows<'_>,
        b: &Packed<E>,
        bias: Option<&[f32]>,
        out: *mut f32,
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
                let v0 = E::load8(w.add(t * PANEL));
                let v1 = E::load8(w.add(t * PANEL + 8));
                for r in 0..R {
                    let xv = _mm256_broadcast_ss(&*xp.add(r * x.stride + t));
                    lo[r] = _mm256_fmadd_ps(xv, v0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(xv, v1, hi[r]);
                }
            }
            for r in 0..R {
                let o = out.add((r0 + r) * os + p * PANEL);
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

    /// Runs every kernel on odd shapes (partial tiles and panels, strided rows) against an f64
    /// product of what the packed matrix holds; returns the number of values checked.
    fn check_kernels<E: Element + std::fmt::Debug + PartialEq>(tolerance: f64) -> usize {
        let mut checked = 0;
        for (rows, k, n) in [(1, 1, 1), (1, 384, 384), (7, 33, 17), (12, 384, 1152), (13, 5, 48), (6, 64, 31)]
        {
            let (xs, os) = (k + 3, n + 5); // strided rows, as the encoder reads heads
            let x = values(rows * xs, 1);
            let wt = values(n * k, 2);
            let bias = values(n, 3);
            let mut from_t = Packed::<E>::default();
            from_t.pack_transposed(&wt, n, k, k);
            // The same B given row by row packs identically.
            let wt_ref = &wt;
            let b_rows: Vec<f32> = (0..k).flat_map(|t| (0..n).map(move |j| wt_ref[j * k + t])).collect();
            let mut from_r = Packed::<E>::default();
            from_r.pack_rows(&b_rows, k, n, n);
            assert_eq!(from_t.data, from_r.data);
            let held = |j: usize, t: usize| E::from_f32(wt[j * k + t]).to_f32() as f64;
            for level in crate::cpu::available() {
                for with_bias in [false, true] {
                    let mut out = vec![f32::NAN; rows * os];
                    let operand = Rows { data: &x, rows, stride: xs };
                    let bias = with_bias.then_some(&bias[..]);
                    // SAFETY: `out` holds `rows` rows of `os >= n` values; `levels` checked
                    // the CPU features.
                    unsafe {
                        kernel(level)(operand, &from_t, bias, 0..from_t.panels(), out.as_mut_ptr(), os)
                    };
                    for r in 0..rows {
                        for j in 0..n {
                            let want = (0..k).map(|t| x[r * xs + t] as f64 * held(j, t)).sum::<f64>()
                                + bias.map_or(0.0, |b| b[j] as f64);
                            let got = out[r * os + j] as f64;
                            let limit = tolerance * (1.0 + k as f64).sqrt();
                            assert!(
                                (got - want).abs() <= limit,
                                "{level:?} {rows}x{k}x{n} [{r}][{j}]: {got} vs {want}"
                            );
                            checked += 1;
                        }
                        // Columns between rows are left alone.
                        let gap = &out[r * os + n..(r * os + os).min(out.len())];
                        assert!(gap.iter().all(|v| v.is_nan()), "{level:?} wrote past n");
                    }
                }
            }
        }
        checked
    }

    #[test]
    fn every_kernel_matches_a_naive_product_on_odd_shapes() {
        let checked = check_kernels::<f32>(1e-5) + check_kernels::<half::f16>(1e-5);
        assert!(checked >= 2 * 2 * 12 * 1152 * 2, "checked {checked}");
    }

    #[test]
    fn f16_packing_rounds_each_weight_to_the_nearest_half() {
        let w = [0.1f32, -3.0e-3, 1.0 / 3.0, 65_504.0];
        let mut b = Packed::<half::f16>::default();
        b.pack_rows(&w, 1, 4, 4);
        for (j, &v) in w.iter().enumerate() {
            let got = b.data[j].to_f32();
            assert!((got - v).abs() <= v.abs() * 2f32.powi(-11), "{v} packed as {got}");
        }
    }

    #[test]
    fn a_product_split_between_threads_equals_the_serial_one() {
        let (rows, k, n) = (12, 384, 1536);
        let x = values(rows * k, 4);
        let mut b = Packed::<half::f16>::default();
        b.pack_transposed(&values(n * k, 5), n, k, k);
        let bias = values(n, 6);
        let run = |parallel| {
            let mut out = vec![0f32; rows * n];
            on_pool(|| matmul(Rows { data: &x, rows, stride: k }, &b, Some(&bias), &mut out, n, parallel));
            out
        };
        let serial = run(false);
        assert!(serial.iter().all(|v| v.is_finite() && *v != 0.0));
        assert_eq!(run(true), serial, "each column is summed in the same order either way");
    }
}
