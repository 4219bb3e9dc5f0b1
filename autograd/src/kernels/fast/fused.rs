//! A product consumed as it is computed: `C = A·B` is never stored whole. It is computed a
//! few rows at a time into a thread-local block that stays in L2, and each block is handed at
//! once to an elementwise update together with the matching rows of the buffers it updates.
//!
//! This is how an optimizer applies a dense layer's weight gradient `dW = Gᵀ·X` (see
//! [`crate::Gradients::defer_weight_products`]): at batch 32 the gradient is about 9.7 times
//! larger than its two factors (784 x 512 against 32 x (784 + 512)), and storing it, checking it and reading it back again moved three
//! gradient-sized buffers through L3 on every step, for no arithmetic.
//!
//! Each element is the same micro-kernel sum as the stored product computes
//! ([`crate::kernels::gemm`] with `beta = 0`), so an update through [`gemm_update`] is bitwise the one
//! through a stored gradient; the tests check it.

use super::avx2::{Avx2, MR, NR, indexed_tile};
use super::avx512::{self, Avx512};
use super::elementwise::{Shared, all_finite_serial, update_chunks};
use super::pieces;
use super::route::{Route, route};
use super::sparse;
use crate::grads::Update;
use crate::kernels::blocked::{MicroKernel, row_of_tiles};
use crate::kernels::layout::{self, MatMut, MatRef};
use crate::kernels::pack::{aligned, with_buffers};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static BUF_C: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch block of `C` (`len` elements), for products whose
/// output is consumed block by block instead of stored.
fn with_c_buffer<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut vc = BUF_C.take();
    let r = f(aligned(&mut vc, len));
    BUF_C.set(vc);
    r
}

/// Whether [`gemm_update`] streams this product block by block. Otherwise (a kernel other
/// than [`crate::kernels::Kernel::Auto`] chosen by `AUTOGRAD_KERNEL`, no AVX2+FMA, a shape
/// `Auto` does not send to the blocked kernel, `k > 256` or `n > 3072`) it computes `C`
/// whole first, which allocates.
pub fn gemm_update_streams(
    m: usize,
    k: usize,
    n: usize,
    (rsa, csa): (usize, usize),
    (rsb, csb): (usize, usize),
) -> bool {
    crate::kernels::default_kernel() == crate::kernels::Kernel::Auto
        && super::avx2_available()
        && k > 0
        && k <= Avx2::KC
        && n <= Avx2::NC
        && route(m, k, n, (rsa, csa), (rsb, csb)) == Route::Avx2Blocked
}

/// Calls `update(c, [s_0, s_1, ...])` over `C = A·B` (`A` `m x k`, `B` `k x n`, strided as
/// in [`crate::kernels::gemm`]), where `c` is a block of whole rows of `C` (row-major) and each `s_j`
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
    #[cfg(feature = "internals")]
    super::internals::hit("streamed");
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
        crate::kernels::gemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, &mut c, n, 1);
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
    let call = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    let rows = |i0: usize, i1: usize| {
        with_c_buffer(CONSUMED_ROWS * n, |scratch| {
            // SAFETY: AVX2+FMA detected and 0 < k <= KC, n <= NC (`gemm_update_streams`);
            // the views were checked above; rows i0..i1 lie inside A; the scratch holds
            // CONSUMED_ROWS rows of C.
            unsafe { rows_then(call, (i0, i1), k, n, a, b, scratch, &consume) }
        })
    };
    // On hot workers, each block of rows is a piece of its own, claimed by whichever thread
    // is free: a thread slowed down for a while (or holding the busier rows of a sparse
    // product) then does fewer blocks, instead of the other one waiting at the end. Each
    // thread packs `B` once per call. Otherwise, one range of whole rows per thread.
    let split = pieces::product_rows(2 * n * k);
    if m >= split.hot && pieces::try_row_pieces(m, CONSUMED_ROWS, &rows) {
        return;
    }
    pieces::for_each_chunk(m, split, MR, &rows);
}

/// Numbers the calls of [`gemm_update`], so that a thread knows whether the `B` it packed
/// last is this call's.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// A thread's packed `B` (with its row masks), kept from one piece of a [`gemm_update`] call
/// to the next piece of the same call that the thread runs.
#[derive(Default)]
struct PackedB {
    /// The call it was packed for (0: none).
    call: u64,
    /// The `ceil(n / NR)` panels, `k x NR` each.
    panels: Vec<f32>,
    /// Per panel, the rows that are not zero (when `maskable`).
    rows: Vec<u64>,
    /// `k <= MASK_ROWS` and `B` finite: terms may be left out.
    maskable: bool,
    /// Enough zero rows in the panels to be worth leaving out.
    sparse: bool,
}

thread_local! {
    /// This thread's [`PackedB`] (taken out while in use, so that a re-entrant call gets a
    /// fresh one).
    static PACKED_B: Cell<PackedB> = Cell::new(PackedB::default());
}

/// Rows of `C` computed per call of [`rows_then`]'s consumer: 48 x 784 x 4 B = 147 KiB for
/// the VAE's widest weight, so the block stays in the 512 KiB L2 next to the packed `B`.
pub(crate) const CONSUMED_ROWS: usize = 48;

/// `C = A·B` for one range of rows `i0..i1`, computed [`CONSUMED_ROWS`] rows at a time into
/// `scratch` (`alpha` 1, `beta` 0), each block handed to `consume(row, block)` while it is
/// still in cache. `B` is packed once per call on each thread (kept in [`PACKED_B`] for the
/// thread's next range of the same call). Every element is the same
/// micro-kernel sum as in the blocked kernel (one `kc` block, so the same rounding), whatever
/// the rows.
///
/// Zero terms are left out: a weight gradient `Gᵀ·x` of a first layer at batch 32 has a `B`
/// (`x`) whose 16-pixel stretches are blank in 42 % of the (image, stretch) pairs, and an `A`
/// (`Gᵀ`, one row per hidden unit) that is 90 % zero once the ReLU units of the encoder have
/// settled (half of them silent for the whole batch). Each tile sums over the `k` rows where
/// both its 6-row strip of `A` and its 16-column panel of `B` hold a non-zero (`k <= 64`,
/// as bit masks). That is bitwise the full sum when both operands are finite (a left-out
/// term is `a · 0 = ±0` or `0 · b = ±0`, which leaves a sum started from `+0` as it was); a
/// block with a NaN or an infinity in `A`, or a `B` holding one, sums every term.
///
/// # Safety
/// The views are valid for `m x k` / `k x n` reads with `i1 <= m`; `0 < k <= KC` and
/// `n <= NC`; `scratch` holds `CONSUMED_ROWS * n` floats; AVX2+FMA available.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_then(
    call: u64,
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
    let mut packed = PACKED_B.take();
    if packed.call != call {
        packed.panels.resize(panels * NR * k, 0.0);
        // SAFETY: (0, 0) + k x n is the checked B.
        unsafe { Avx2::pack_b(k, n, b, &mut packed.panels) };
        // Terms are left out only when both operands are finite and k fits a mask.
        packed.maskable = k <= sparse::MASK_ROWS && all_finite_serial(&packed.panels);
        packed.rows.resize(panels, 0);
        packed.sparse =
            packed.maskable && sparse::panel_masks(NR, k, &packed.panels, &mut packed.rows);
        packed.call = call;
    }
    let (pb, b_rows) = (&packed.panels[..], &packed.rows[..]);
    let (maskable, b_sparse) = (packed.maskable, packed.sparse);
    with_buffers(rows_max * k, 0, |pa, _| {
        for ic in (i0..i1).step_by(CONSUMED_ROWS) {
            let mc = CONSUMED_ROWS.min(i1 - ic);
            let block = &mut scratch[..mc * n];
            let c = MatMut::new(block, n, 1);
            // SAFETY: (ic, 0) + mc x k is inside the checked A.
            unsafe { Avx2::pack_a(mc, k, a.at(ic, 0), pa) };
            let strips = mc.div_ceil(MR);
            let pa_used = &pa[..strips * MR * k];
            let mut a_rows = [0u64; CONSUMED_ROWS / MR];
            let a_maskable = maskable && all_finite_serial(pa_used);
            let a_sparse = a_maskable && sparse::panel_masks(MR, k, pa_used, &mut a_rows[..strips]);
            let skip = a_maskable && (a_sparse || b_sparse);
            if !skip {
                // The AVX-512F tile where there is one: bitwise the AVX2 tile's sums.
                let wide = avx512::available();
                for jr in (0..n).step_by(NR) {
                    let (bp, cols) = (pb[jr * k..].as_ptr(), NR.min(n - jr));
                    // SAFETY: panel jr / NR of the packed B; (0, jr) + mc x cols of the block;
                    // AVX-512F checked for the wide tile.
                    unsafe {
                        let tile = c.at(0, jr);
                        if wide {
                            row_of_tiles::<Avx512>(mc, k, pa, bp, 1.0, 0.0, tile, cols)
                        } else {
                            row_of_tiles::<Avx2>(mc, k, pa, bp, 1.0, 0.0, tile, cols)
                        }
                    };
                }
                consume(ic, block);
                continue;
            }
            let full = sparse::full_mask(k);
            for (q, jr) in (0..n).step_by(NR).enumerate() {
                let cols = NR.min(n - jr);
                let bm = if maskable { b_rows[q] } else { full };
                for (s, ir) in (0..mc).step_by(MR).enumerate() {
                    let rows = MR.min(mc - ir);
                    let am = if a_maskable { a_rows[s] } else { full };
                    // SAFETY: (ir, jr) + rows x cols is inside the block.
                    let tile = unsafe { c.at(ir, jr) };
                    let mut ks = [0u32; sparse::MASK_ROWS];
                    let kept = sparse::mask_rows(am & bm, &mut ks);
                    if kept == 0 {
                        // Every term is `a · 0` or `0 · b` with `a`, `b` finite: the sum is +0.
                        for r in 0..rows {
                            // SAFETY: row r, columns 0..cols of the tile.
                            unsafe { std::slice::from_raw_parts_mut(tile.ptr_at(r, 0), cols) }
                                .fill(0.0);
                        }
                        continue;
                    }
                    // SAFETY: AVX2+FMA available; strip s of the packed A and panel q of the
                    // packed B are k x MR / k x NR with full rows, every ks[t] < k; the tile
                    // is inside the block.
                    unsafe {
                        indexed_tile(
                            &ks[..kept],
                            pa[ir * k..].as_ptr(),
                            pb[jr * k..].as_ptr(),
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
    PACKED_B.set(packed);
}
