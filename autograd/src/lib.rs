//! placeholder

/// Matrix-multiply (GEMM) kernels: naive, blocked, AVX2+FMA, threaded.
pub mod kernels;
