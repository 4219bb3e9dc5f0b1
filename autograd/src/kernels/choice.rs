//! Which kernel runs a product: [`Kernel`], chosen per call with
//! [`gemm_with`](super::gemm_with) or for the whole process with the `AUTOGRAD_KERNEL`
//! environment variable ([`default_kernel`]), and the `matrixmultiply` crate as a backend.

use super::layout::{MatMut, MatRef};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// A GEMM implementation, for [`gemm_with`](super::gemm_with) or the `AUTOGRAD_KERNEL`
/// environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Reference triple loop (`i`, `j`, then `p` in order, accumulating in
    /// `f32`). Slow; the oracle of the tests. Single-threaded.
    Naive,
    /// Portable Goto/BLIS blocked kernel with packed panels and a register
    /// tile in plain Rust. Always available; the fallback.
    Blocked,
    /// Blocked kernel with the AVX2+FMA 6x16 micro-kernel. Falls back to
    /// [`Kernel::Blocked`] when the CPU lacks AVX2 or FMA.
    #[cfg(feature = "fast")]
    Avx2Fma,
    /// The `matrixmultiply` crate's `sgemm` (the yardstick).
    MatrixMultiply,
    /// Picks a route for each product from its shape and strides
    /// (see [`Route`](crate::kernels::fast::Route)); the default of the `fast` build.
    #[cfg(feature = "fast")]
    Auto,
}

/// The values accepted by `AUTOGRAD_KERNEL` / [`Kernel::from_str`].
#[cfg(feature = "fast")]
const KERNEL_NAMES: &str = "naive|blocked|avx2|matrixmultiply|auto";
/// The values accepted by `AUTOGRAD_KERNEL` / [`Kernel::from_str`] (`avx2` and `auto` are
/// in the `fast` build only).
#[cfg(not(feature = "fast"))]
const KERNEL_NAMES: &str = "naive|blocked|matrixmultiply";

/// Error returned by [`Kernel::from_str`] for an unknown kernel name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKernel(pub String);

impl fmt::Display for UnknownKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown gemm kernel {:?}; valid values: {KERNEL_NAMES}",
            self.0
        )
    }
}

impl std::error::Error for UnknownKernel {}

impl FromStr for Kernel {
    type Err = UnknownKernel;

    /// Parses a kernel name, case-insensitive: `naive|blocked|avx2|matrixmultiply|auto` (`avx2`
    /// and `auto` in the `fast` build only).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "naive" => Ok(Kernel::Naive),
            "blocked" => Ok(Kernel::Blocked),
            #[cfg(feature = "fast")]
            "avx2" => Ok(Kernel::Avx2Fma),
            "matrixmultiply" => Ok(Kernel::MatrixMultiply),
            #[cfg(feature = "fast")]
            "auto" => Ok(Kernel::Auto),
            _ => Err(UnknownKernel(s.to_string())),
        }
    }
}

/// The kernel a build uses when `AUTOGRAD_KERNEL` is not set: [`Kernel::Auto`] in the
/// `fast` build, [`Kernel::Blocked`] in the reference build.
#[cfg(feature = "fast")]
const BUILD_DEFAULT: Kernel = Kernel::Auto;
/// The kernel a build uses when `AUTOGRAD_KERNEL` is not set: [`Kernel::Auto`] in the
/// `fast` build, [`Kernel::Blocked`] in the reference build.
#[cfg(not(feature = "fast"))]
const BUILD_DEFAULT: Kernel = Kernel::Blocked;

/// The process-wide kernel used by [`gemm`](super::gemm) and by every other product the engine runs
/// (the `fast` build's streamed weight gradients included): the build's default
/// ([`Kernel::Auto`] with the `fast` feature, [`Kernel::Blocked`] without) unless the
/// environment variable `AUTOGRAD_KERNEL` (read once) names another one.
///
/// # Panics
/// If `AUTOGRAD_KERNEL` names no kernel of this build.
pub fn default_kernel() -> Kernel {
    static DEFAULT: OnceLock<Kernel> = OnceLock::new();
    *DEFAULT.get_or_init(|| match std::env::var("AUTOGRAD_KERNEL") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|e: UnknownKernel| panic!("AUTOGRAD_KERNEL: {e}")),
        Err(_) => BUILD_DEFAULT,
    })
}

/// Calls `matrixmultiply::sgemm`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn mm_sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    // SAFETY: `gemm_with` checked that every element (i, p) / (p, j) / (i, j)
    // addressed through these strides lies inside its slice, and `c` comes
    // from a `&mut` slice that is not aliased by `a` or `b`. Strides fit in
    // isize because they address elements of an allocation.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.ptr,
            a.rs as isize,
            a.cs as isize,
            b.ptr,
            b.rs as isize,
            b.cs as isize,
            beta,
            c.ptr,
            c.rs as isize,
            c.cs as isize,
        );
    }
}
