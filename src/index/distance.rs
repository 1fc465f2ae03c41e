//! Distance kernels. The scalar functions are the reference; SIMD versions (AVX-512F, AVX2+FMA)
//! are picked once at runtime by CPU feature detection. Every kernel returns a *distance*, lower
//! is closer, so both indexes share one ordering; [`Distance::score`] turns it back into the
//! user-facing "higher is better" score.

use std::sync::OnceLock;

use crate::config::SimilarityMetric;
use crate::cpu::SimdLevel;

/// A distance kernel over two equal-length slices.
pub(crate) type KernelFn = fn(&[f32], &[f32]) -> f32;

/// A kernel computing one query's distance to four vectors at once: the four rows stream from
/// memory concurrently and each query block is loaded once for all four.
pub(crate) type Kernel4Fn = fn(&[f32], [&[f32]; 4]) -> [f32; 4];

/// A kernel from an f32 query to one row of f16 values (as bits), widened on the fly.
pub(crate) type F16KernelFn = fn(&[f32], &[u16]) -> f32;

/// The integer dot product of a row's byte codes with a query's signed byte weights
/// (`vpdpbusd` where the CPU has AVX-512 VNNI). Exact: at most 65,536 products of 255 x 127.
pub(crate) type DotU8Fn = fn(&[u8], &[i8]) -> i32;

/// The kernels for one instruction set.
#[derive(Clone, Copy)]
struct KernelSet {
    name: &'static str,
    neg_dot: KernelFn,
    l2sq: KernelFn,
    l1: KernelFn,
    neg_dot4: Kernel4Fn,
    l2sq4: Kernel4Fn,
    l14: Kernel4Fn,
    f16_neg_dot: F16KernelFn,
    f16_l2sq: F16KernelFn,
    f16_l1: F16KernelFn,
}

const SCALAR: KernelSet = KernelSet {
    name: "scalar",
    neg_dot: neg_dot_scalar,
    l2sq: l2sq_scalar,
    l1: l1_scalar,
    neg_dot4: |q, v| v.map(|v| neg_dot_scalar(q, v)),
    l2sq4: |q, v| v.map(|v| l2sq_scalar(q, v)),
    l14: |q, v| v.map(|v| l1_scalar(q, v)),
    f16_neg_dot: |q, v| -q.iter().zip(v).map(|(x, &b)| x * f16_value(b)).sum::<f32>(),
    f16_l2sq: |q, v| q.iter().zip(v).map(|(x, &b)| (x - f16_value(b)) * (x - f16_value(b))).sum(),
    f16_l1: |q, v| q.iter().zip(v).map(|(x, &b)| (x - f16_value(b)).abs()).sum(),
};

#[inline]
fn f16_value(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

fn dot_u8_scalar(codes: &[u8], q: &[i8]) -> i32 {
    codes.iter().zip(q).map(|(&c, &w)| i32::from(c) * i32::from(w)).sum()
}

/// The byte-code dot product for this CPU.
pub(crate) fn dot_u8_kernel() -> DotU8Fn {
    static BEST: OnceLock<DotU8Fn> = OnceLock::new();
    *BEST.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return x86::dot_u8_vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return x86::dot_u8_avx2;
            }
        }
        dot_u8_scalar
    })
}

/// The kernels written for `level`.
fn kernels(level: SimdLevel) -> &'static KernelSet {
    match level {
        SimdLevel::Scalar => &SCALAR,
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => &x86::AVX2,
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => &x86::AVX512,
    }
}

fn best_kernels() -> &'static KernelSet {
    kernels(crate::cpu::best())
}

/// The name of the instruction set the kernels use on this CPU ("avx512", "avx2" or "scalar").
pub fn simd_level() -> &'static str {
    best_kernels().name
}

/// A metric bound to the fastest kernel for this CPU.
#[derive(Clone, Copy)]
pub(crate) struct Distance {
    metric: SimilarityMetric,
    kernel: KernelFn,
    kernel4: Kernel4Fn,
    f16_kernel: F16KernelFn,
}

impl Distance {
    pub(crate) fn new(metric: SimilarityMetric) -> Self {
        let k = best_kernels();
        let (kernel, kernel4, f16_kernel) = match metric {
            // Cosine vectors are stored normalised, so cosine is a dot product.
            SimilarityMetric::Cosine | SimilarityMetric::DotProduct => (k.neg_dot, k.neg_dot4, k.f16_neg_dot),
            SimilarityMetric::Euclidean => (k.l2sq, k.l2sq4, k.f16_l2sq),
            SimilarityMetric::Manhattan => (k.l1, k.l14, k.f16_l1),
        };
        Self { metric, kernel, kernel4, f16_kernel }
    }

    /// The metric.
    pub(crate) fn metric(&self) -> SimilarityMetric {
        self.metric
    }

    /// Distance from `q` to a row of f16 values; lower is closer.
    #[inline(always)]
    pub(crate) fn distance_f16(&self, q: &[f32], row: &[u16]) -> f32 {
        (self.f16_kernel)(q, row)
    }

    /// Distances from `q` to four vectors; lower is closer.
    #[inline(always)]
    pub(crate) fn distance4(&self, q: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
        (self.kernel4)(q, v)
    }

    /// Distance between two vectors; lower is closer.
    #[inline(always)]
    pub(crate) fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.kernel)(a, b)
    }

    /// Converts a distance into the user-facing score (higher is better).
    #[inline]
    pub(crate) fn score(&self, distance: f32) -> f32 {
        match self.metric {
            SimilarityMetric::Cosine | SimilarityMetric::DotProduct => -distance,
            SimilarityMetric::Euclidean => -distance.max(0.0).sqrt(),
            SimilarityMetric::Manhattan => -distance,
        }
    }
}

/// Hints the CPU to start loading the cache line at `p`; a no-op where unsupported.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults, whatever the address; SSE is baseline on x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Hints the CPU to start loading every cache line of `row`: for rows read out of order (a
/// scan of the matches of a filter), where the hardware cannot guess the next address.
#[inline(always)]
pub(crate) fn prefetch_row<T>(row: &[T]) {
    for line in row.chunks((64 / size_of::<T>()).max(1)) {
        prefetch(line.as_ptr());
    }
}

fn neg_dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    -a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
}

fn l2sq_scalar(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn l1_scalar(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! x86_64 kernels. Each `unsafe fn` requires its `target_feature`s to be present; the safe
    //! wrappers are only reachable through `AVX512` / `AVX2`, which `best_kernels` hands out
    //! after runtime detection.
    use std::arch::x86_64::*;

    use super::KernelSet;

    pub(super) const AVX512: KernelSet = KernelSet {
        name: "avx512",
        neg_dot: neg_dot_512,
        l2sq: l2sq_512,
        l1: l1_512,
        neg_dot4: neg_dot4_512,
        l2sq4: l2sq4_512,
        l14: l14_512,
        f16_neg_dot: f16_neg_dot_512,
        f16_l2sq: f16_l2sq_512,
        f16_l1: f16_l1_512,
    };
    pub(super) const AVX2: KernelSet = KernelSet {
        name: "avx2",
        neg_dot: neg_dot_256,
        l2sq: l2sq_256,
        l1: l1_256,
        // Four rows at once need more than AVX2's 16 registers; one row at a time is as fast.
        neg_dot4: |q, v| v.map(|v| neg_dot_256(q, v)),
        l2sq4: |q, v| v.map(|v| l2sq_256(q, v)),
        l14: |q, v| v.map(|v| l1_256(q, v)),
        f16_neg_dot: f16_neg_dot_256,
        f16_l2sq: f16_l2sq_256,
        f16_l1: f16_l1_256,
    };

    macro_rules! safe_wrapper {
        ($name:ident, $imp:ident) => {
            fn $name(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: this wrapper is only handed out in a KernelSet chosen after detecting
                // the features `$imp` is compiled for.
                unsafe { $imp(a, b) }
            }
        };
        ($name:ident, $imp:ident, rows4) => {
            fn $name(q: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
                // SAFETY: as for the one-row wrappers.
                unsafe { $imp(q, v) }
            }
        };
    }
    macro_rules! safe_f16_wrapper {
        ($name:ident, $imp:ident) => {
            fn $name(q: &[f32], row: &[u16]) -> f32 {
                // SAFETY: as for the f32 wrappers.
                unsafe { $imp(q, row) }
            }
        };
    }
    safe_f16_wrapper!(f16_neg_dot_512, f16_dot_avx512_neg);
    safe_f16_wrapper!(f16_l2sq_512, f16_l2sq_avx512);
    safe_f16_wrapper!(f16_l1_512, f16_l1_avx512);
    safe_f16_wrapper!(f16_neg_dot_256, f16_dot_avx2_neg);
    safe_f16_wrapper!(f16_l2sq_256, f16_l2sq_avx2);
    safe_f16_wrapper!(f16_l1_256, f16_l1_avx2);

    /// The byte-code dot product with AVX-512 VNNI: 64 products per `vpdpbusd`, a masked
    /// load for the tail.
    pub(super) fn dot_u8_vnni(codes: &[u8], q: &[i8]) -> i32 {
        // SAFETY: only handed out by `dot_u8_kernel` after detecting AVX-512 VNNI and BW.
        unsafe { dot_u8_vnni_imp(codes, q) }
    }

    /// # Safety
    /// The CPU must support AVX-512F, BW and VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_u8_vnni_imp(codes: &[u8], q: &[i8]) -> i32 {
        let n = codes.len().min(q.len());
        let (pc, pq) = (codes.as_ptr(), q.as_ptr());
        let mut acc = [_mm512_setzero_si512(); 2];
        let mut i = 0;
        // SAFETY (all loads): every offset read is < n, within both slices.
        unsafe {
            while i + 128 <= n {
                for (j, acc) in acc.iter_mut().enumerate() {
                    let c = _mm512_loadu_si512(pc.add(i + 64 * j).cast());
                    let w = _mm512_loadu_si512(pq.add(i + 64 * j).cast());
                    *acc = _mm512_dpbusd_epi32(*acc, c, w);
                }
                i += 128;
            }
            while i < n {
                let left = (n - i).min(64);
                let mask: __mmask64 = if left == 64 { u64::MAX } else { (1u64 << left) - 1 };
                let c = _mm512_maskz_loadu_epi8(mask, pc.add(i).cast());
                let w = _mm512_maskz_loadu_epi8(mask, pq.add(i).cast());
                acc[0] = _mm512_dpbusd_epi32(acc[0], c, w);
                i += left;
            }
        }
        _mm512_reduce_add_epi32(_mm512_add_epi32(acc[0], acc[1]))
    }

    /// The byte-code dot product with AVX2: bytes widened to 16 bits, `vpmaddwd` pairs.
    pub(super) fn dot_u8_avx2(codes: &[u8], q: &[i8]) -> i32 {
        // SAFETY: only handed out by `dot_u8_kernel` after detecting AVX2.
        unsafe { dot_u8_avx2_imp(codes, q) }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn dot_u8_avx2_imp(codes: &[u8], q: &[i8]) -> i32 {
        let n = codes.len().min(q.len());
        let (pc, pq) = (codes.as_ptr(), q.as_ptr());
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        // SAFETY (all loads): every offset read is < n, within both slices.
        unsafe {
            while i + 16 <= n {
                let c = _mm256_cvtepu8_epi16(_mm_loadu_si128(pc.add(i).cast()));
                let w = _mm256_cvtepi8_epi16(_mm_loadu_si128(pq.add(i).cast()));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(c, w));
                i += 16;
            }
        }
        let s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s) + super::dot_u8_scalar(&codes[i..n], &q[i..n])
    }

    /// An f16-row kernel with AVX-512: 16 halves widened per `vcvtph2ps`, four accumulators
    /// over 64 values per step as in the f32 kernels, scalar tail.
    macro_rules! kernel_f16_512 {
        ($name:ident, $combine:expr, $scalar:expr, $finish:expr) => {
            /// # Safety
            /// The CPU must support AVX-512F.
            #[target_feature(enable = "avx512f")]
            unsafe fn $name(q: &[f32], row: &[u16]) -> f32 {
                let n = q.len().min(row.len());
                let (pq, pr) = (q.as_ptr(), row.as_ptr());
                let combine = $combine;
                let mut acc = [_mm512_setzero_ps(); 4];
                let mut i = 0;
                // SAFETY (all loads): every offset read is < n, within both slices.
                unsafe {
                    while i + 64 <= n {
                        for (j, acc) in acc.iter_mut().enumerate() {
                            let x = _mm512_loadu_ps(pq.add(i + 16 * j));
                            let y = _mm512_cvtph_ps(_mm256_loadu_si256(pr.add(i + 16 * j).cast()));
                            *acc = combine(x, y, *acc);
                        }
                        i += 64;
                    }
                    while i + 16 <= n {
                        let y = _mm512_cvtph_ps(_mm256_loadu_si256(pr.add(i).cast()));
                        acc[0] = combine(_mm512_loadu_ps(pq.add(i)), y, acc[0]);
                        i += 16;
                    }
                }
                let tail: f32 =
                    q[i..n].iter().zip(&row[i..n]).map(|(x, &b)| $scalar(*x, super::f16_value(b))).sum();
                let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
                $finish(_mm512_reduce_add_ps(sum) + tail)
            }
        };
    }
    kernel_f16_512!(
        f16_dot_avx512_neg,
        |x, y, acc| _mm512_fmadd_ps(x, y, acc),
        |x: f32, y: f32| x * y,
        |s: f32| -s
    );
    kernel_f16_512!(
        f16_l2sq_avx512,
        |x, y, acc| {
            let d = _mm512_sub_ps(x, y);
            _mm512_fmadd_ps(d, d, acc)
        },
        |x: f32, y: f32| (x - y) * (x - y),
        |s: f32| s
    );
    kernel_f16_512!(
        f16_l1_avx512,
        |x, y, acc| _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y))),
        |x: f32, y: f32| (x - y).abs(),
        |s: f32| s
    );

    /// An f16-row kernel with AVX2 and F16C: 8 halves widened per `vcvtph2ps`.
    macro_rules! kernel_f16_256 {
        ($name:ident, $combine:expr, $scalar:expr, $finish:expr) => {
            /// # Safety
            /// The CPU must support AVX2, FMA and F16C.
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn $name(q: &[f32], row: &[u16]) -> f32 {
                let n = q.len().min(row.len());
                let (pq, pr) = (q.as_ptr(), row.as_ptr());
                let combine = $combine;
                let mut acc = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                // SAFETY (all loads): every offset read is < n, within both slices.
                unsafe {
                    while i + 32 <= n {
                        for (j, acc) in acc.iter_mut().enumerate() {
                            let x = _mm256_loadu_ps(pq.add(i + 8 * j));
                            let y = _mm256_cvtph_ps(_mm_loadu_si128(pr.add(i + 8 * j).cast()));
                            *acc = combine(x, y, *acc);
                        }
                        i += 32;
                    }
                    while i + 8 <= n {
                        let y = _mm256_cvtph_ps(_mm_loadu_si128(pr.add(i).cast()));
                        acc[0] = combine(_mm256_loadu_ps(pq.add(i)), y, acc[0]);
                        i += 8;
                    }
                }
                let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
                let s = _mm_add_ps(_mm256_extractf128_ps(sum, 1), _mm256_castps256_ps128(sum));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
                let tail: f32 =
                    q[i..n].iter().zip(&row[i..n]).map(|(x, &b)| $scalar(*x, super::f16_value(b))).sum();
                $finish(_mm_cvtss_f32(s) + tail)
            }
        };
    }
    kernel_f16_256!(
        f16_dot_avx2_neg,
        |x, y, acc| _mm256_fmadd_ps(x, y, acc),
        |x: f32, y: f32| x * y,
        |s: f32| -s
    );
    kernel_f16_256!(
        f16_l2sq_avx2,
        |x, y, acc| {
            let d = _mm256_sub_ps(x, y);
            _mm256_fmadd_ps(d, d, acc)
        },
        |x: f32, y: f32| (x - y) * (x - y),
        |s: f32| s
    );
    kernel_f16_256!(
        f16_l1_avx2,
        |x, y, acc| _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(x, y))),
        |x: f32, y: f32| (x - y).abs(),
        |s: f32| s
    );

    safe_wrapper!(neg_dot_512, dot_avx512_neg);
    safe_wrapper!(l2sq_512, l2sq_avx512);
    safe_wrapper!(l1_512, l1_avx512);
    safe_wrapper!(neg_dot4_512, dot4_avx512_neg, rows4);
    safe_wrapper!(l2sq4_512, l2sq4_avx512, rows4);
    safe_wrapper!(l14_512, l14_avx512, rows4);
    safe_wrapper!(neg_dot_256, dot_avx2_neg);
    safe_wrapper!(l2sq_256, l2sq_avx2);
    safe_wrapper!(l1_256, l1_avx2);

    /// The four-row AVX-512 kernel: one accumulator per row, each query block loaded once per
    /// step for all four; masked loads handle the tail.
    macro_rules! kernel4_512 {
        ($name:ident, $combine:expr, $finish:expr) => {
            /// # Safety
            /// The CPU must support AVX-512F.
            #[target_feature(enable = "avx512f")]
            unsafe fn $name(q: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
                let n = v.iter().fold(q.len(), |n, r| n.min(r.len()));
                let combine = $combine;
                let pq = q.as_ptr();
                let p = v.map(|r| r.as_ptr());
                let mut acc = [_mm512_setzero_ps(); 4];
                let mut i = 0;
                // SAFETY (all loads): every offset read is < n, within all five slices.
                unsafe {
                    while i + 16 <= n {
                        let x = _mm512_loadu_ps(pq.add(i));
                        for r in 0..4 {
                            acc[r] = combine(x, _mm512_loadu_ps(p[r].add(i)), acc[r]);
                        }
                        i += 16;
                    }
                    if i < n {
                        let mask: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
                        let x = _mm512_maskz_loadu_ps(mask, pq.add(i));
                        for r in 0..4 {
                            acc[r] = combine(x, _mm512_maskz_loadu_ps(mask, p[r].add(i)), acc[r]);
                        }
                    }
                }
                acc.map(|a| $finish(_mm512_reduce_add_ps(a)))
            }
        };
    }
    kernel4_512!(dot4_avx512_neg, |x, y, acc| _mm512_fmadd_ps(x, y, acc), |s: f32| -s);
    kernel4_512!(
        l2sq4_avx512,
        |x, y, acc| {
            let d = _mm512_sub_ps(x, y);
            _mm512_fmadd_ps(d, d, acc)
        },
        |s: f32| s
    );
    kernel4_512!(l14_avx512, |x, y, acc| _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y))), |s: f32| s);

    /// One AVX-512 kernel: four independent accumulators over 64 floats per step hide FMA
    /// latency; a masked load handles the tail without reading past either slice.
    macro_rules! kernel_512 {
        ($name:ident, $combine:expr, $finish:expr) => {
            /// # Safety
            /// The CPU must support AVX-512F.
            #[target_feature(enable = "avx512f")]
            unsafe fn $name(a: &[f32], b: &[f32]) -> f32 {
                let n = a.len().min(b.len());
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let combine = $combine;
                let mut acc = [_mm512_setzero_ps(); 4];
                let mut i = 0;
                // SAFETY (all loads): every offset read is < n, within both slices.
                unsafe {
                    while i + 64 <= n {
                        for (j, acc) in acc.iter_mut().enumerate() {
                            let x = _mm512_loadu_ps(pa.add(i + 16 * j));
                            let y = _mm512_loadu_ps(pb.add(i + 16 * j));
                            *acc = combine(x, y, *acc);
                        }
                        i += 64;
                    }
                    while i + 16 <= n {
                        acc[0] = combine(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc[0]);
                        i += 16;
                    }
                    if i < n {
                        let mask: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
                        let x = _mm512_maskz_loadu_ps(mask, pa.add(i));
                        let y = _mm512_maskz_loadu_ps(mask, pb.add(i));
                        acc[1] = combine(x, y, acc[1]);
                    }
                }
                let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
                $finish(_mm512_reduce_add_ps(sum))
            }
        };
    }
    kernel_512!(dot_avx512_neg, |x, y, acc| _mm512_fmadd_ps(x, y, acc), |s: f32| -s);
    kernel_512!(
        l2sq_avx512,
        |x, y, acc| {
            let d = _mm512_sub_ps(x, y);
            _mm512_fmadd_ps(d, d, acc)
        },
        |s: f32| s
    );
    kernel_512!(l1_avx512, |x, y, acc| _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y))), |s: f32| s);

    /// One AVX2 kernel: four accumulators over 32 floats per step, scalar tail.
    macro_rules! kernel_256 {
        ($name:ident, $combine:expr, $scalar:expr, $finish:expr) => {
            /// # Safety
            /// The CPU must support AVX2 and FMA.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn $name(a: &[f32], b: &[f32]) -> f32 {
                let n = a.len().min(b.len());
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let combine = $combine;
                let mut acc = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                // SAFETY (all loads): every offset read is < n, within both slices.
                unsafe {
                    while i + 32 <= n {
                        for (j, acc) in acc.iter_mut().enumerate() {
                            let x = _mm256_loadu_ps(pa.add(i + 8 * j));
                            let y = _mm256_loadu_ps(pb.add(i + 8 * j));
                            *acc = combine(x, y, *acc);
                        }
                        i += 32;
                    }
                    while i + 8 <= n {
                        acc[0] = combine(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc[0]);
                        i += 8;
                    }
                }
                let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
                let hi = _mm256_extractf128_ps(sum, 1);
                let lo = _mm256_castps256_ps128(sum);
                let s = _mm_add_ps(hi, lo);
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
                let tail: f32 = a[i..n].iter().zip(&b[i..n]).map($scalar).sum();
                $finish(_mm_cvtss_f32(s) + tail)
            }
        };
    }
    kernel_256!(
        dot_avx2_neg,
        |x, y, acc| _mm256_fmadd_ps(x, y, acc),
        |(x, y): (&f32, &f32)| x * y,
        |s: f32| -s
    );
    kernel_256!(
        l2sq_avx2,
        |x, y, acc| {
            let d = _mm256_sub_ps(x, y);
            _mm256_fmadd_ps(d, d, acc)
        },
        |(x, y): (&f32, &f32)| (x - y) * (x - y),
        |s: f32| s
    );
    kernel_256!(
        l1_avx2,
        |x, y, acc| {
            // Clearing the sign bit is |x - y|.
            let d = _mm256_sub_ps(x, y);
            _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0), d))
        },
        |(x, y): (&f32, &f32)| (x - y).abs(),
        |s: f32| s
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel set this CPU can run, the scalar reference first. On a CPU without AVX2
    /// only the reference is left, and the SIMD comparisons below check nothing: they say so.
    fn sets() -> Vec<KernelSet> {
        let v: Vec<KernelSet> = crate::cpu::available().into_iter().map(|l| *kernels(l)).collect();
        let names: Vec<&str> = v.iter().map(|s| s.name).collect();
        if v.len() == 1 {
            eprintln!("this CPU has no SIMD kernel: only the scalar reference was checked");
        } else {
            eprintln!("kernel sets checked against the scalar reference: {names:?}");
        }
        // The set searches actually use is always among those checked.
        assert!(names.contains(&best_kernels().name), "{} not checked", best_kernels().name);
        v
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 20_000) as f32 / 10_000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn simd_kernels_match_scalar_at_odd_lengths() {
        let lens: Vec<usize> = (0..=70).chain([127, 128, 129, 383, 384, 385, 1000, 1537]).collect();
        for set in sets() {
            for &n in &lens {
                let a = pseudo_random(n, n as u32);
                let b = pseudo_random(n, n as u32 + 7);
                for (name, simd, scalar) in [
                    ("dot", set.neg_dot, SCALAR.neg_dot),
                    ("l2sq", set.l2sq, SCALAR.l2sq),
                    ("l1", set.l1, SCALAR.l1),
                ] {
                    let (got, want) = (simd(&a, &b), scalar(&a, &b));
                    let tol = 1e-4 * (1.0 + want.abs());
                    assert!((got - want).abs() <= tol, "{} {name} n={n}: {got} vs {want}", set.name);
                }
            }
        }
    }

    #[test]
    fn f16_kernels_match_scalar_at_odd_lengths() {
        let lens: Vec<usize> = (0..=70).chain([127, 128, 129, 383, 384, 385, 1000]).collect();
        let mut checked = 0;
        for set in sets() {
            for &n in &lens {
                let q = pseudo_random(n, n as u32);
                let row: Vec<u16> = pseudo_random(n, n as u32 + 3)
                    .iter()
                    .map(|&x| half::f16::from_f32(x).to_bits())
                    .collect();
                let widened: Vec<f32> = row.iter().map(|&b| f16_value(b)).collect();
                for (name, simd, scalar) in [
                    ("dot", set.f16_neg_dot, SCALAR.neg_dot),
                    ("l2sq", set.f16_l2sq, SCALAR.l2sq),
                    ("l1", set.f16_l1, SCALAR.l1),
                ] {
                    // The reference: the f32 kernel over the widened row.
                    let (got, want) = (simd(&q, &row), scalar(&q, &widened));
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{} {name} n={n}: {got} vs {want}",
                        set.name
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 3 * 78);
    }

    #[test]
    fn byte_code_dot_products_are_exact_on_every_path() {
        let mut kernels: Vec<(&str, DotU8Fn)> = vec![("scalar", dot_u8_scalar), ("best", dot_u8_kernel())];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            kernels.push(("avx2", x86::dot_u8_avx2));
        }
        let mut checked = 0;
        for n in (0..=200).chain([383, 384, 385, 1024, 65_536]) {
            let codes: Vec<u8> = (0..n).map(|i| ((i * 37 + n) % 256) as u8).collect();
            let q: Vec<i8> = (0..n).map(|i| ((i * 91 + 7 * n) % 255 - 127) as i8).collect();
            let want: i64 = codes.iter().zip(&q).map(|(&c, &w)| i64::from(c) * i64::from(w)).sum();
            for (name, k) in &kernels {
                assert_eq!(i64::from(k(&codes, &q)), want, "{name} n={n}");
                checked += 1;
            }
        }
        // The extremes: every product 255 x 127 (or -127) over the largest dimension.
        let codes = vec![255u8; 65_536];
        for w in [127i8, -127] {
            let q = vec![w; 65_536];
            for (name, k) in &kernels {
                assert_eq!(i64::from(k(&codes, &q)), 65_536 * 255 * i64::from(w), "{name} extreme {w}");
            }
        }
        assert!(checked >= 2 * 206);
    }

    #[test]
    fn four_row_kernels_match_single_row_kernels() {
        for set in sets() {
            for n in [1, 15, 16, 17, 100, 384, 385] {
                let q = pseudo_random(n, 1);
                let rows: Vec<Vec<f32>> = (0..4).map(|r| pseudo_random(n, 10 + r)).collect();
                let v = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
                for (name, four, one) in [
                    ("dot", set.neg_dot4, SCALAR.neg_dot),
                    ("l2sq", set.l2sq4, SCALAR.l2sq),
                    ("l1", set.l14, SCALAR.l1),
                ] {
                    let got = four(&q, v);
                    for r in 0..4 {
                        let want = one(&q, v[r]);
                        assert!(
                            (got[r] - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{} {name} n={n} row {r}",
                            set.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scores_are_higher_for_closer_vectors() {
        let a = [1.0, 0.0];
        let near = [0.9, 0.1];
        let far = [-1.0, 0.0];
        for metric in [
            SimilarityMetric::Cosine,
            SimilarityMetric::DotProduct,
            SimilarityMetric::Euclidean,
            SimilarityMetric::Manhattan,
        ] {
            let d = Distance::new(metric);
            assert!(d.score(d.distance(&a, &near)) > d.score(d.distance(&a, &far)), "{metric:?}");
        }
        let e = Distance::new(SimilarityMetric::Euclidean);
        assert!((e.score(e.distance(&[0.0, 0.0], &[3.0, 4.0])) + 5.0).abs() < 1e-6);
        let m = Distance::new(SimilarityMetric::Manhattan);
        assert!((m.score(m.distance(&[0.0, 0.0], &[3.0, -4.0])) + 7.0).abs() < 1e-6);
    }
}
