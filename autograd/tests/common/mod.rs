//! Helpers shared by the integration tests of the engine.

/// A rayon pool of `threads` threads, to run a test on one thread and on two.
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

/// `n` deterministic values in [-1, 1) (a hash of the index and `seed`).
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let h = (i ^ seed.wrapping_mul(0x9e37_79b9)).wrapping_mul(0x85eb_ca6b);
            let h = h ^ (h >> 15);
            (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// `C = alpha A B + beta C` element by element, as the AVX2 tiles compute it: one FMA chain
/// over every `p` in order from `+0`, then `alpha acc` (beta 0) or `fma(acc, alpha, beta c)`;
/// `A` and `B` read through their strides, `C` row-major. (Not every test crate uses it.)
#[allow(dead_code)]
#[allow(clippy::too_many_arguments)]
pub fn fma_reference(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, rsa, csa): (&[f32], usize, usize),
    (b, rsb, csb): (&[f32], usize, usize),
    beta: f32,
    c: &mut [f32],
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc = a[i * rsa + p * csa].mul_add(b[p * rsb + j * csb], acc);
            }
            let c = &mut c[i * n + j];
            *c = if beta == 0.0 {
                acc * alpha
            } else {
                acc.mul_add(alpha, beta * *c)
            };
        }
    }
}
