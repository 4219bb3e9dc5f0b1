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

mod choice;

pub use choice::{Kernel, UnknownKernel, default_kernel};
#[cfg(feature = "fast")]
pub use fast::{
    avx2_available, flush_subnormals, flush_subnormals_this_thread, overlap,
    subnormals_flushed_this_thread, with_hot_workers,
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

/// Runs `f`, then `background`, and returns what each returns. The two must not depend on
/// each other's effects. (The `fast` build runs `background` on a hot worker, when one is
/// free, while `f` runs: `fast/team.rs`.)
#[cfg(not(feature = "fast"))]
pub fn overlap<A: Send, B>(background: impl FnOnce() -> A + Send, f: impl FnOnce() -> B) -> (A, B) {
    let b = f();
    (background(), b)
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
        Kernel::MatrixMultiply => choice::mm_sgemm(m, k, n, alpha, a, b, beta, c),
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
