//! Portable register-blocked micro-kernel in plain Rust (no intrinsics): a
//! `4 x 8` tile of accumulators that LLVM vectorises with whatever SIMD the
//! compile target has (SSE2 on baseline x86-64). The fallback kernel.

use super::blocked::MicroKernel;
use super::layout::{MatMut, MatRef};
use super::pack;

/// The portable `MR x NR = 4 x 8` micro-kernel.
pub(crate) struct Portable;

/// Tile rows.
const MR: usize = 4;
/// Tile columns.
const NR: usize = 8;

impl MicroKernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    /// 128 x 256 x 4 B = 128 KiB packed `A` block: a quarter of Zen3's
    /// 512 KiB L2, leaving room for the streamed `B` panels and `C`.
    const MC: usize = 128;
    /// 256-deep panels: one `B` micro-panel is 256 x 8 x 4 B = 8 KiB, a
    /// quarter of the 32 KiB L1d, next to the `A` panel (4 KiB).
    const KC: usize = 256;
    /// 256 x 4096 x 4 B = 4 MiB packed `B` block, well inside the 32 MiB L3.
    const NC: usize = 4096;

    unsafe fn pack_a(mc: usize, kc: usize, a: MatRef, dst: &mut [f32]) {
        // SAFETY: forwarded contract.
        unsafe { pack::pack_a::<MR>(mc, kc, a, dst) }
    }

    unsafe fn pack_b(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]) {
        // SAFETY: forwarded contract.
        unsafe { pack::pack_b::<NR>(kc, nc, b, dst) }
    }

    unsafe fn tile(
        kc: usize,
        a: *const f32,
        b: *const f32,
        alpha: f32,
        beta: f32,
        c: MatMut,
        rows: usize,
        cols: usize,
    ) {
        debug_assert!(rows <= MR && cols <= NR);
        // SAFETY: the caller guarantees kc * MR and kc * NR packed floats.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, kc * MR),
                std::slice::from_raw_parts(b, kc * NR),
            )
        };
        let mut acc = [[0.0f32; NR]; MR];
        for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for r in 0..MR {
                for j in 0..NR {
                    acc[r][j] += ap[r] * bp[j];
                }
            }
        }
        for (r, row) in acc.iter().enumerate().take(rows) {
            for (j, &x) in row.iter().enumerate().take(cols) {
                // SAFETY: r < rows, j < cols: inside the tile the caller
                // guarantees writable.
                unsafe {
                    let dst = c.ptr_at(r, j);
                    *dst = if beta == 0.0 {
                        alpha * x
                    } else {
                        alpha * x + beta * *dst
                    };
                }
            }
        }
    }
}
