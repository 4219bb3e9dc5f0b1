//! A product consumed as it is computed: `C = A·B` is never stored whole. It is computed a
//! few rows at a time into a thread-local block that stays in L2, and each block is handed at
//! once to an elementwise update together with the matching rows of the buffers it updates.
//!
//! This is how an optimizer applies a dense layer's weight gradient `dW = Gᵀ·X` (see
//! [`crate::Gradients::defer_weight_products`]): at batch 32 the gradient is 26 times larger
//! than its two factors, and storing it, checking it and reading it back again moved three
//! gradient-sized buffers through L3 on every step, for no arithmetic.
//!
//! Each element is the same micro-kernel sum as the stored product computes
//! ([`super::gemm`] with `beta = 0`), so an update through [`gemm_update`] is bitwise the one
//! through a stored gradient; the tests check it.

use super::auto::{AutoChoice, auto_choice_for_strides};
use super::avx2::{Avx2, MR};
use super::blocked::{self, CONSUMED_ROWS, MicroKernel};
use super::elementwise::{Shared, Update, update_chunks};
use super::layout::{self, MatRef};
use super::pack::with_c_buffer;
use super::parallel;

/// Whether [`gemm_update`] streams this product block by block. Otherwise (no AVX2+FMA, a
/// shape [`super::Kernel::Auto`] does not send to the blocked kernel, `k > 256` or
/// `n > 3072`) it computes `C` whole first, which allocates.
pub fn gemm_update_streams(
    m: usize,
    k: usize,
    n: usize,
    (rsa, csa): (usize, usize),
    (rsb, csb): (usize, usize),
) -> bool {
    super::avx2_available()
        && k > 0
        && k <= Avx2::KC
        && n <= Avx2::NC
        && auto_choice_for_strides(m, k, n, (rsa, csa), (rsb, csb)) == AutoChoice::Avx2Blocked
}

/// Calls `update(c, [s_0, s_1, ...])` over `C = A·B` (`A` `m x k`, `B` `k x n`, strided as
/// in [`super::gemm`]), where `c` is a block of whole rows of `C` (row-major) and each `s_j`
/// the same rows of `state[j]`, an `m x n` row-major buffer. Every element of `C` is seen
/// exactly once; blocks run in parallel over rayon's current pool.
///
/// # Panics
/// If `a` or `b` is too short for its sizes and strides, or a state buffer does not hold
/// exactly `m * n` elements.
#[allow(clippy::too_many_arguments)]
pub fn gemm_update<const N: usize>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    state: [&mut [f32]; N],
    update: Update<'_, N>,
) {
    layout::check_len("A", a.len(), m, k, rsa, csa);
    layout::check_len("B", b.len(), k, n, rsb, csb);
    for s in &state {
        assert_eq!(
            s.len(),
            m * n,
            "gemm_update: a state buffer holds {} elements, C is {m} x {n}",
            s.len()
        );
    }
    if m == 0 || n == 0 {
        return;
    }
    if !gemm_update_streams(m, k, n, (rsa, csa), (rsb, csb)) {
        let mut c = vec![0.0; m * n];
        super::gemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, &mut c, n, 1);
        return update_chunks(&c, state, update);
    }
    let (a, b) = (MatRef::new(a, rsa, csa), MatRef::new(b, rsb, csb));
    let ptrs = state.map(Shared::of);
    let consume = |row: usize, block: &[f32]| {
        let (lo, hi) = (row * n, row * n + block.len());
        // SAFETY: rows `row..` of C that no other block covers (the row ranges of the pieces
        // are disjoint, and so are the blocks inside a piece), inside every `m x n` buffer
        // (checked above), all borrowed mutably for the whole call.
        let rows = ptrs.map(|p| unsafe { p.range(lo, hi) });
        update(block, rows)
    };
    // One range of whole rows of C per thread, on tile boundaries.
    parallel::for_each_chunk(m, parallel::product_rows(2 * n * k), MR, &|i0, i1| {
        with_c_buffer(CONSUMED_ROWS * n, |scratch| {
            // SAFETY: AVX2+FMA detected and 0 < k <= KC, n <= NC (`gemm_update_streams`);
            // the views were checked above; rows i0..i1 lie inside A; the scratch holds
            // CONSUMED_ROWS rows of C.
            unsafe { blocked::rows_then::<Avx2>((i0, i1), k, n, a, b, scratch, &consume) }
        })
    });
}
