//! Shallow products (`k <= 4`, e.g. a 2-wide latent into a 512-wide layer) take their own
//! row sweep: every element must be bitwise what the tiles compute (one FMA chain from `+0`
//! over `p` in order, then `alpha acc` or `fma(acc, alpha, beta c)`), for every layout of
//! `A` and `B`, every `beta`, on 1 and 2 threads.
#![cfg(all(feature = "fast", feature = "internals"))]

mod common;

use autograd::kernels::fast::internals::gemm_small;
use autograd::kernels::{self, gemm};
use common::{fma_reference, pool, values};

#[test]
fn shallow_products_keep_the_tiles_bits() {
    if !kernels::avx2_available() {
        return;
    }
    let shapes = [
        (32, 2, 512),
        (1, 1, 1),
        (7, 3, 13),
        (300, 4, 70),
        (1000, 2, 512),
        (5, 1, 8),
    ];
    for threads in [1, 2] {
        pool(threads).install(|| {
            for &(m, k, n) in &shapes {
                for a_col in [false, true] {
                    for b_col in [false, true] {
                        for beta in [0.0, 1.0, -0.5] {
                            let (rsa, csa) = if a_col { (1, m) } else { (k, 1) };
                            let (rsb, csb) = if b_col { (1, k) } else { (n, 1) };
                            let (a, b) = (values(m * k, 1), values(k * n, 2));
                            let c0 = values(m * n, 3);
                            let mut want = c0.clone();
                            let av = (a.as_slice(), rsa, csa);
                            let bv = (b.as_slice(), rsb, csb);
                            fma_reference((m, k, n), 0.75, av, bv, beta, &mut want);
                            let (mut auto, mut small) = (c0.clone(), c0.clone());
                            gemm(
                                m, k, n, 0.75, &a, rsa, csa, &b, rsb, csb, beta, &mut auto, n, 1,
                            );
                            gemm_small(
                                m, k, n, 0.75, &a, rsa, csa, &b, rsb, csb, beta, &mut small, n, 1,
                            );
                            let bits =
                                |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                            let what = format!(
                                "{m}x{k}x{n}, A col {a_col}, B col {b_col}, beta {beta}, {threads}t"
                            );
                            assert!(bits(&auto) == bits(&want), "auto: {what}");
                            assert!(bits(&small) == bits(&want), "small: {what}");
                        }
                    }
                }
            }
        });
    }
}
