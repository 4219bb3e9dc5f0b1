//! The no-pack path leaves out the zero rows of a packed `B` (an input whose columns are zero
//! across the batch, like MNIST's border pixels): the result must be bitwise the full sum, and
//! a NaN or an infinity in `A` must still turn its row of `C` into NaN, as `inf · 0` does.
#![cfg(all(feature = "fast", feature = "internals"))]

mod common;

use autograd::kernels;
use autograd::kernels::fast::internals::gemm_small;
use common::{fma_reference, pool, values};

/// `A` row-major `m x k`, `B` column-major `k x n` (so the small path packs it) with the rows
/// `p` for which `zero(p)` holds set to zero.
fn operands(m: usize, k: usize, n: usize, zero: impl Fn(usize) -> bool) -> (Vec<f32>, Vec<f32>) {
    let a = values(m * k, 1);
    let mut b = values(k * n, 2);
    for j in 0..n {
        for p in (0..k).filter(|&p| zero(p)) {
            b[j * k + p] = 0.0;
        }
    }
    (a, b)
}

fn small(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], beta: f32, c: &mut [f32]) {
    gemm_small(m, k, n, 0.75, a, k, 1, b, 1, k, beta, c, n, 1);
}

#[test]
fn leaving_out_zero_rows_keeps_every_bit() {
    if !kernels::avx2_available() {
        return;
    }
    let shapes = [(512, 784, 32), (37, 200, 19), (6, 64, 16), (100, 130, 33)];
    // Which rows of B are zero: none, a few (under the 1/8 that turns the path on), a border
    // like MNIST's, every other one, all but one, all.
    let patterns: [fn(usize, usize) -> bool; 6] = [
        |_, _| false,
        |p, _| p % 11 == 3,
        |p, k| p < k / 5 || p >= k - k / 5 || p % 28 < 3,
        |p, _| p % 2 == 0,
        |p, k| p != k / 2,
        |_, _| true,
    ];
    // 1 thread, 2 threads, and 2 hot threads (which cut the rows into pieces claimed as
    // the threads come free).
    for (threads, hot) in [(1, false), (2, false), (2, true)] {
        let run = || {
            for &(m, k, n) in &shapes {
                for (z, zero) in patterns.iter().enumerate() {
                    for beta in [0.0, 1.0, 0.5] {
                        let (a, b) = operands(m, k, n, |p| zero(p, k));
                        let c0 = values(m * n, 3);
                        let (mut got, mut want) = (c0.clone(), c0);
                        small(m, k, n, &a, &b, beta, &mut got);
                        fma_reference((m, k, n), 0.75, (&a, k, 1), (&b, 1, k), beta, &mut want);
                        let same = got
                            .iter()
                            .zip(&want)
                            .all(|(g, w)| g.to_bits() == w.to_bits());
                        let what = format!("{m}x{k}x{n}, pattern {z}, beta {beta}");
                        assert!(same, "{what}, {threads}t, hot {hot}");
                    }
                }
            }
        };
        pool(threads).install(|| {
            if hot {
                kernels::with_hot_workers(run)
            } else {
                run()
            }
        });
    }
}

#[test]
fn a_non_finite_a_against_a_zero_row_still_gives_nan() {
    if !kernels::avx2_available() {
        return;
    }
    let (m, k, n) = (40, 784, 32);
    let border = |p: usize| !(112..672).contains(&p);
    for threads in [1, 2] {
        pool(threads).install(|| {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let (mut a, b) = operands(m, k, n, border);
                // Row 7 meets the zero row 5 of B with a non-finite value; row 20, a kept row.
                a[7 * k + 5] = bad;
                a[20 * k + 400] = bad;
                let mut c = vec![0.0; m * n];
                small(m, k, n, &a, &b, 0.0, &mut c);
                let mut want = vec![0.0; m * n];
                fma_reference((m, k, n), 0.75, (&a, k, 1), (&b, 1, k), 0.0, &mut want);
                // Row 7 is NaN (inf · 0 or NaN · 0 in the full sum) although its kept terms
                // are finite; the others match the full FMA chain (NaN where it is NaN).
                assert!(
                    c[7 * n..][..n].iter().all(|x| x.is_nan()),
                    "row 7, {bad}, {threads}t"
                );
                for (i, (g, w)) in c.iter().zip(&want).enumerate() {
                    let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
                    assert!(same, "element {i}: {g} against {w}, {bad}, {threads}t");
                }
            }
        });
    }
}
