//! Single-precision matrix multiply (GEMM) kernels.
//!
//! Everything funnels through [`gemm`] / [`gemm_with`]:
//!
//! ```text
//! C <- alpha * A * B + beta * C
//! ```
//!
//! where `A` is `m x k`, `B` is `k x n` and `C` is `m x n`, each given as a
//! flat slice plus a row stride and a column stride (in elements). Element
//! `(i, p)` of `A` lives at `a[i * rsa + p * csa]`; a transposed operand is
//! just the same slice with the two strides swapped.
//!
//! Implementations (see [`Kernel`]):
//!
//! * `naive` (`naive.rs`) – the reference triple loop, the oracle of the tests;
//! * `blocked` (`blocked.rs`, `pack.rs`, `portable.rs`) – the Goto/BLIS loops
//!   (NC/KC/MC blocking, packed panels) around an `MR x NR` register tile
//!   written in plain Rust: the default of the reference build;
//! * `matrixmultiply` – the `matrixmultiply` crate, as the yardstick;
//! * with the `fast` feature (on by default), everything in [`fast`]: the same
//!   loops around a 6x16 AVX2+FMA micro-kernel, and `auto`, which picks a route
//!   for each product from its shape (the one door: `fast/route.rs`).
//!
//! Threading (`parallel.rs`): large products are split into output blocks
//! (along `m` and/or `n`, never along `k`) that run on rayon's current pool.
//! Which micro-kernel and which `KC` blocking is used depends only on the
//! shape, never on the number of threads, so the result is bitwise identical
//! for any thread count.

mod blocked;
#[cfg(feature = "fast")]
pub mod fast;
mod layout;
mod naive;
mod pack;
mod parallel;
mod portable;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

#[cfg(feature = "fast")]
pub use fast::{
    avx2_available, flush_subnormals, flush_subnormals_this_thread, subnormals_flushed_this_thread,
    with_hot_workers,
};
use layout::{MatMut, MatRef};

/// Runs `body`, a loop over flat buffers (an optimizer's update, for one). The reference
/// build runs it as it is; the fast build compiles it a second time for AVX2+FMA and runs that
/// copy when the CPU has them (`fast/elementwise.rs`): the same operations in the same order,
/// 8 lanes at a time, so bitwise the same values.
#[cfg(not(feature = "fast"))]
#[inline(always)]
pub(crate) fn vectorized<R>(body: impl FnOnce() -> R) -> R {
    body()
}
#[cfg(feature = "fast")]
pub(crate) use fast::elementwise::vectorized;

/// Runs `f` and returns what it returns. (The `fast` build keeps rayon's workers spinning
/// for the duration, so that short parallel regions start at once: `fast/team.rs`.)
#[cfg(not(feature = "fast"))]
pub fn with_hot_workers<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// A GEMM implementation, for [`gemm_with`] or the `AUTOGRAD_KERNEL`
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
    /// (see [`fast::Route`]); the default of the `fast` build.
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

    /// Parses one of [`KERNEL_NAMES`] (case-insensitive).
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

/// The process-wide kernel used by [`gemm`] and by every other product the engine runs
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

/// `C <- alpha * A * B + beta * C` with the process default kernel
/// ([`default_kernel`]).
///
/// `A` is `m x k` with element `(i, p)` at `a[i * rsa + p * csa]`, `B` is
/// `k x n` with `(p, j)` at `b[p * rsb + j * csb]`, and `C` is `m x n` with
/// `(i, j)` at `c[i * rsc + j * csc]`. With `beta == 0`, `C` is written and
/// never read (it may hold NaN). `k == 0` gives `C <- beta * C`; `m == 0` or
/// `n == 0` is a no-op.
///
/// # Panics
/// If a slice is too short for its sizes and strides (the message names the
/// operand and gives the required and actual lengths).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
    csc: usize,
) {
    gemm_with(
        default_kernel(),
        m,
        k,
        n,
        alpha,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        beta,
        c,
        rsc,
        csc,
    );
}

/// Like [`gemm`], but with an explicitly chosen [`Kernel`].
///
/// # Panics
/// If a slice is too short for its sizes and strides.
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(
    kernel: Kernel,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
    csc: usize,
) {
    let Some((a, b, c)) = checked_views(m, k, n, a, rsa, csa, b, rsb, csb, c, rsc, csc) else {
        return;
    };
    // Counted for the engine's own tests (feature `internals`).
    #[cfg(all(feature = "fast", feature = "internals"))]
    fast::internals::hit(match kernel {
        Kernel::Naive => "naive",
        Kernel::Blocked => "blocked",
        Kernel::MatrixMultiply => "matrixmultiply",
        Kernel::Avx2Fma => "avx2",
        Kernel::Auto => "auto",
    });
    if kernel == Kernel::Naive {
        // The oracle does everything itself (k == 0 included).
        naive::gemm(m, k, n, alpha, a, b, beta, c);
        return;
    }
    if k == 0 || alpha == 0.0 {
        layout::scale(m, n, beta, c);
        return;
    }
    match kernel {
        Kernel::Naive => unreachable!(),
        Kernel::Blocked => blocked::gemm_portable(m, k, n, alpha, a, b, beta, c),
        Kernel::MatrixMultiply => mm_sgemm(m, k, n, alpha, a, b, beta, c),
        #[cfg(feature = "fast")]
        Kernel::Avx2Fma => fast::gemm_avx2(m, k, n, alpha, a, b, beta, c),
        // The one door to the fast paths.
        #[cfg(feature = "fast")]
        Kernel::Auto => fast::gemm_auto(m, k, n, alpha, a, b, beta, c),
    }
}

/// Checks that each slice is long enough for its sizes and strides (panicking with a message
/// that names the operand) and wraps them as strided views; `None` when C is empty.
#[allow(clippy::too_many_arguments)]
pub(crate) fn checked_views<'a>(
    m: usize,
    k: usize,
    n: usize,
    a: &'a [f32],
    rsa: usize,
    csa: usize,
    b: &'a [f32],
    rsb: usize,
    csb: usize,
    c: &'a mut [f32],
    rsc: usize,
    csc: usize,
) -> Option<(MatRef<'a>, MatRef<'a>, MatMut<'a>)> {
    layout::check_len("A", a.len(), m, k, rsa, csa);
    layout::check_len("B", b.len(), k, n, rsb, csb);
    layout::check_len("C", c.len(), m, n, rsc, csc);
    if m == 0 || n == 0 {
        return None;
    }
    Some((
        MatRef::new(a, rsa, csa),
        MatRef::new(b, rsb, csb),
        MatMut::new(c, rsc, csc),
    ))
}

/// Calls `matrixmultiply::sgemm`.
#[allow(clippy::too_many_arguments)]
fn mm_sgemm(m: usize, k: usize, n: usize, alpha: f32, a: MatRef, b: MatRef, beta: f32, c: MatMut) {
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
