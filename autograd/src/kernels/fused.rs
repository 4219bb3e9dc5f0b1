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
use super::avx2::{Avx2, MR, NR, strided_tile};
use super::blocked::{MicroKernel, row_of_tiles};
use super::elementwise::{Shared, Update, all_finite_serial, update_chunks};
use super::layout::{self, MatMut, MatRef};
use super::pack::{with_buffers, with_c_buffer};
use super::parallel;
use super::sparse;

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
            unsafe { rows_then((i0, i1), k, n, a, b, scratch, &consume) }
        })
    });
}

/// Rows of `C` computed per call of [`rows_then`]'s consumer: 48 x 784 x 4 B = 147 KiB for
/// the VAE's widest weight, so the block stays in the 512 KiB L2 next to the packed `B`.
pub(crate) const CONSUMED_ROWS: usize = 48;

/// `C = A·B` for one range of rows `i0..i1`, computed [`CONSUMED_ROWS`] rows at a time into
/// `scratch` (`alpha` 1, `beta` 0), each block handed to `consume(row, block)` while it is
/// still in cache. `B` is packed once for the whole range. Every element is the same
/// micro-kernel sum as in the blocked kernel (one `kc` block, so the same rounding), whatever
/// the rows.
///
/// When the packed `B` has enough rows that are zero within a column panel (the weight
/// gradient `Gᵀ·x` of a first layer: a 16-pixel stretch of an MNIST image is blank in 42 %
/// of (image, stretch) pairs at batch 32), each panel keeps its own list of the other rows,
/// and the tiles of a block whose `A` is finite sum over that list only: bitwise the full
/// sum, as in the small path (see `sparse.rs`).
///
/// # Safety
/// The views are valid for `m x k` / `k x n` reads with `i1 <= m`; `0 < k <= KC` and
/// `n <= NC`; `scratch` holds `CONSUMED_ROWS * n` floats; AVX2+FMA available.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_then(
    (i0, i1): (usize, usize),
    k: usize,
    n: usize,
    a: MatRef,
    b: MatRef,
    scratch: &mut [f32],
    consume: &(dyn Fn(usize, &[f32]) + Sync),
) {
    debug_assert!(k > 0 && k <= Avx2::KC && n <= Avx2::NC);
    debug_assert_eq!(CONSUMED_ROWS % MR, 0);
    let rows_max = CONSUMED_ROWS.min((i1 - i0).next_multiple_of(MR));
    let panels = n.div_ceil(NR);
    let b_len = panels * NR * k;
    with_buffers(rows_max * k, 2 * b_len, |pa, pbc| {
        let (pb, pc) = pbc.split_at_mut(b_len);
        // SAFETY: (0, 0) + k x n is the checked B.
        unsafe { Avx2::pack_b(k, n, b, pb) };
        sparse::with_row_list(panels * (k + 1), |lists| {
            let (lists, counts) = lists.split_at_mut(panels * k);
            let kept = sparse::compact_panels(NR, k, panels, pb, lists, counts, pc);
            let sparse = sparse::worth(panels * k, kept);
            for ic in (i0..i1).step_by(CONSUMED_ROWS) {
                let mc = CONSUMED_ROWS.min(i1 - ic);
                let block = &mut scratch[..mc * n];
                let c = MatMut::new(block, n, 1);
                // SAFETY: (ic, 0) + mc x k is inside the checked A.
                unsafe { Avx2::pack_a(mc, k, a.at(ic, 0), pa) };
                let a_len = mc.next_multiple_of(MR) * k;
                let skip = sparse && all_finite_serial(&pa[..a_len]);
                for jr in (0..n).step_by(NR) {
                    let cols = NR.min(n - jr);
                    let q = jr / NR;
                    if !skip {
                        // SAFETY: panel q of the packed B; (0, jr) + mc x cols of the block.
                        unsafe {
                            row_of_tiles::<Avx2>(
                                mc,
                                k,
                                pa,
                                pb[q * NR * k..].as_ptr(),
                                1.0,
                                0.0,
                                c.at(0, jr),
                                cols,
                            )
                        };
                        continue;
                    }
                    let ks = &lists[q * k..][..counts[q] as usize];
                    for ir in (0..mc).step_by(MR) {
                        let rows = MR.min(mc - ir);
                        // SAFETY: (ir, jr) + rows x cols is inside the block.
                        let tile = unsafe { c.at(ir, jr) };
                        if ks.is_empty() {
                            // Every term is `a · 0` with `a` finite: the sum is +0.
                            for r in 0..rows {
                                // SAFETY: row r, columns 0..cols of the tile.
                                unsafe { std::slice::from_raw_parts_mut(tile.ptr_at(r, 0), cols) }
                                    .fill(0.0);
                            }
                            continue;
                        }
                        // SAFETY: AVX2+FMA available; the packed A panel ir / MR (k x MR,
                        // read through its strides at the rows in `ks`, all < k); panel q of
                        // the compacted B holds `ks.len()` full rows of NR floats; the tile
                        // is inside the block.
                        unsafe {
                            strided_tile(
                                k,
                                ks,
                                MatRef::from_raw(pa[ir * k..].as_ptr(), 1, MR),
                                pc[q * NR * k..].as_ptr(),
                                NR,
                                true,
                                1.0,
                                0.0,
                                tile,
                                rows,
                                cols,
                            )
                        };
                    }
                }
                consume(ic, block);
            }
        });
    });
}
