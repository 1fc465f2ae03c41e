//! The vector instruction sets this CPU offers, detected once: the one home of the choice
//! every SIMD kernel family (distances, the encoder's products) makes between its versions.

use std::sync::OnceLock;

/// A family of kernels written for one instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimdLevel {
    /// Plain Rust, the reference every other level is tested against.
    Scalar,
    /// AVX2 with FMA and F16C.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512F.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// The best level this CPU runs.
pub(crate) fn best() -> SimdLevel {
    static BEST: OnceLock<SimdLevel> = OnceLock::new();
    *BEST.get_or_init(|| available().last().copied().unwrap_or(SimdLevel::Scalar))
}

/// Every level this CPU runs, worst (the scalar reference) first: tests compare them all.
pub(crate) fn available() -> Vec<SimdLevel> {
    let mut levels = vec![SimdLevel::Scalar];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            levels.push(SimdLevel::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            levels.push(SimdLevel::Avx512);
        }
    }
    levels
}
