//! # The fast paths, behind one door
//!
//! Everything in this folder is compiled only with the `fast` feature (on by default). The
//! reference build (`--no-default-features`) runs every product through the textbook
//! blocked kernel of the parent module, computes every gradient in its backward rule, and
//! runs the optimizers and the loss as plain loops. This folder adds, without changing what
//! any of those compute (each addition is tested bitwise against the plain version, or
//! against the naive oracle for the products):
//!
//! * `route.rs` — **the door**: [`route`] picks the route of each product under
//!   [`Kernel::Auto`](crate::kernels::Kernel::Auto) from its shape and strides, as a table;
//! * `avx2.rs`, `pack_avx2.rs` — the 6x16 AVX2+FMA micro-kernel and its packers, inside the
//!   same Goto/BLIS loops as the portable kernel (`blocked.rs`); `avx512.rs` — a 12x16 tile
//!   over the same packed panels for CPUs with AVX-512F, bitwise the AVX2 kernel's result;
//! * `small.rs`, `shallow.rs`, `sparse.rs`, `dot.rs` — products that skip packing: small or
//!   skinny shapes, `k <= 4`, rows of zeros left out, few rows times a column-major `B`;
//! * `fused.rs` — a weight gradient `dW = Gᵀ·X` streamed into the optimizer block by block
//!   instead of stored (`Gradients::defer_weight_products`);
//! * `elementwise.rs` — the optimizers' updates and the BCE loops compiled for AVX2+FMA from
//!   the same scalar formulas the reference build runs (`optim/*.rs`, `ops/loss.rs`);
//! * `team.rs`, `pieces.rs` — hot workers that keep a training step on both cores, and how
//!   work is split over them; a free worker also takes a background job (`overlap`: the
//!   trainer fills the next batch that way);
//! * `tanh.rs` — `tanh` in branch-free f32 arithmetic, vectorised (libm's scalar `tanhf` in the
//!   reference build), within a stated bound of the exact value;
//! * `flush.rs` — flushing subnormal floats to zero (FTZ/DAZ).
//!
//! `AUTOGRAD_KERNEL` ([`crate::kernels::default_kernel`]) reaches every product: any kernel
//! other than `auto` turns the routes, the streamed weight gradients included, off.

mod avx2;
mod avx512;
mod deferred;
mod dot;
pub(crate) mod elementwise;
mod flush;
mod fused;
mod pack_avx2;
pub(crate) mod pieces;
mod route;
mod shallow;
mod small;
mod sparse;
mod tanh;
mod team;

pub(crate) use deferred::{Deferred, WeightProduct, update};
pub use flush::{flush_subnormals, flush_subnormals_this_thread, subnormals_flushed_this_thread};
pub(crate) use fused::{gemm_update, gemm_update_streams};
pub use route::{Route, route};
pub(crate) use tanh::tanh_into;
pub use team::{overlap, with_hot_workers};

use super::layout::{MatMut, MatRef};

/// Internals of the fast paths, public for the engine's own tests and benches only (feature
/// `internals`, which the workspace root's dev-dependency turns on). Not an API.
#[cfg(feature = "internals")]
pub mod internals {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// What [`calls`] counts: each kernel `gemm_with` was asked for, each route `auto` took,
    /// and the streamed weight-gradient updates.
    pub const COUNTED: [&str; 10] = [
        "naive",
        "blocked",
        "matrixmultiply",
        "avx2",
        "auto",
        "auto:dot",
        "auto:small",
        "auto:blocked",
        "auto:portable",
        "streamed",
    ];

    static CALLS: [AtomicUsize; COUNTED.len()] = [const { AtomicUsize::new(0) }; COUNTED.len()];

    /// Whether [`count_calls`] turned counting on. Until then a product pays one relaxed load
    /// of a flag nobody writes (the benches and examples, built with this feature, run at full
    /// speed).
    static COUNTING: AtomicBool = AtomicBool::new(false);

    /// Turns the counters of [`calls`] on for the rest of the process.
    pub fn count_calls() {
        COUNTING.store(true, Ordering::Relaxed);
    }

    /// Counts one call of `what` (one of [`COUNTED`]) when counting is on.
    pub(crate) fn hit(what: &str) {
        if COUNTING.load(Ordering::Relaxed) {
            let i = COUNTED.iter().position(|c| *c == what);
            CALLS[i.expect("a counted path")].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many times each of [`COUNTED`] ran since [`count_calls`].
    pub fn calls() -> Vec<(&'static str, usize)> {
        let n = |i: usize| CALLS[i].load(Ordering::Relaxed);
        COUNTED
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, n(i)))
            .collect()
    }

    pub use super::elementwise::{
        all_finite, bce_backward, bce_forward, bce_rowsum_backward, bce_rowsum_forward,
        update_chunks,
    };
    pub use super::fused::{gemm_update, gemm_update_streams};
    pub use crate::optim::rmsprop::update as rmsprop_update;

    /// The no-pack small-size path on its own (what [`super::route`] sends small or skinny
    /// shapes to): AVX2 tiles that read `A` through its strides and `B` rows directly when
    /// they are contiguous. Same contract and panics as [`crate::kernels::gemm`].
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_small(
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
        let views = crate::kernels::checked_views(m, k, n, a, rsa, csa, b, rsb, csb, c, rsc, csc);
        let Some((a, b, c)) = views else {
            return;
        };
        if k == 0 || alpha == 0.0 {
            crate::kernels::layout::scale(m, n, beta, c);
            return;
        }
        super::small::gemm(m, k, n, alpha, a, b, beta, c);
    }
}

/// Whether this CPU supports the AVX2+FMA micro-kernel (detected at run time,
/// cached by the standard library).
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `C <- alpha A B + beta C` down the route [`route`] picks: what
/// [`Kernel::Auto`](crate::kernels::Kernel::Auto) runs. The views were checked, `k > 0`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_auto(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    let route = route(m, k, n, (a.rs, a.cs), (b.rs, b.cs));
    #[cfg(feature = "internals")]
    internals::hit(match route {
        Route::Dot => "auto:dot",
        Route::Small | Route::SmallTransposed => "auto:small",
        Route::Avx2Blocked => "auto:blocked",
        Route::PortableBlocked => "auto:portable",
    });
    match route {
        // SAFETY: Dot is chosen only with AVX2+FMA, csa == 1 and rsb == 1;
        // the views were checked and k > 0.
        Route::Dot => unsafe { dot::gemm(m, k, n, alpha, a, b, beta, c) },
        Route::Small => small::gemm(m, k, n, alpha, a, b, beta, c),
        // Cᵀ = Bᵀ·Aᵀ: the same sums, with the roles of the operands swapped.
        Route::SmallTransposed => small::gemm(n, k, m, alpha, b.t(), a.t(), beta, c.t()),
        // On a CPU with AVX-512F, the same blocked loops with a 12 x 16 zmm tile (bitwise the
        // AVX2 kernel's result, `avx512.rs`).
        Route::Avx2Blocked if avx512::available() => {
            avx512::gemm_blocked(m, k, n, alpha, a, b, beta, c)
        }
        Route::Avx2Blocked => avx2::gemm_blocked(m, k, n, alpha, a, b, beta, c),
        Route::PortableBlocked => super::blocked::gemm_portable(m, k, n, alpha, a, b, beta, c),
    }
}

/// `C <- alpha A B + beta C` by the blocked kernel with the AVX2+FMA micro-kernel
/// ([`Kernel::Avx2Fma`](crate::kernels::Kernel::Avx2Fma)), or the portable one without
/// AVX2+FMA. The views were checked, `k > 0`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_avx2(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    avx2::gemm_blocked(m, k, n, alpha, a, b, beta, c)
}
