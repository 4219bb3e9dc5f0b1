//! Flushing subnormal floats to zero (FTZ and DAZ in the x86 MXCSR register).
//!
//! Arithmetic on subnormal numbers (below ~1.2e-38) takes a slow microcode path on x86, often
//! 50-100x slower. They appear late in training: RMSprop's second moments of dead units decay
//! geometrically through the subnormal range, tiny gradients square into it. Stock PyTorch slows
//! from 14 to 26 s per epoch on this VAE for that reason. MXCSR is per thread, so the flags are
//! set on the calling thread and, through `rayon::broadcast`, on every thread of the current
//! rayon pool. Results change only where a subnormal would have appeared (it becomes 0).

/// Bit 15 of MXCSR: results that would be subnormal are written as zero.
const FTZ: u32 = 1 << 15;
/// Bit 6 of MXCSR: subnormal inputs are read as zero.
const DAZ: u32 = 1 << 6;

/// Sets flush-to-zero and denormals-are-zero on this thread. Returns whether it could (x86_64
/// only; elsewhere it does nothing and returns false).
pub fn flush_subnormals_this_thread() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(deprecated)]
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        // SAFETY: SSE is part of the x86_64 baseline; setting FTZ and DAZ changes only how
        // subnormal floats are produced and read, never memory safety.
        #[allow(deprecated)]
        unsafe {
            _mm_setcsr(_mm_getcsr() | FTZ | DAZ);
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether flush-to-zero is on for this thread.
pub fn subnormals_flushed_this_thread() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(deprecated)]
        use std::arch::x86_64::_mm_getcsr;
        // SAFETY: reading MXCSR has no side effects.
        #[allow(deprecated)]
        let csr = unsafe { _mm_getcsr() };
        csr & (FTZ | DAZ) == FTZ | DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Sets FTZ and DAZ on the calling thread and on every thread of the current rayon pool.
pub fn flush_subnormals() -> bool {
    let here = flush_subnormals_this_thread();
    let pool = rayon::broadcast(|_| flush_subnormals_this_thread());
    here && pool.into_iter().all(|b| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnormals_become_zero() {
        if !flush_subnormals() {
            eprintln!("skipped: not x86_64");
            return;
        }
        assert!(subnormals_flushed_this_thread());
        let tiny = std::hint::black_box(1e-30f32);
        assert_eq!(tiny * 1e-10, 0.0, "a subnormal result was not flushed");
        assert!(
            rayon::broadcast(|_| subnormals_flushed_this_thread())
                .into_iter()
                .all(|b| b)
        );
    }
}
