//! The reference triple loop: the oracle every other kernel is tested against.

use super::layout::{MatMut, MatRef};

/// `C <- alpha * A * B + beta * C` by the definition: for each `(i, j)` the
/// dot product over `p` in increasing order, accumulated in `f32`.
/// Never reads `C` when `beta == 0`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                // SAFETY: i < m, p < k, j < n: inside the views checked by
                // `gemm_with`.
                acc += unsafe { a.get(i, p) * b.get(p, j) };
            }
            // SAFETY: (i, j) is inside the checked m x n view of C.
            unsafe {
                let dst = c.ptr_at(i, j);
                *dst = if beta == 0.0 {
                    alpha * acc
                } else {
                    alpha * acc + beta * *dst
                };
            }
        }
    }
}
