use autograd::kernels::{Kernel, gemm_with};
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    al: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    be: f32,
    c: &mut [f32],
    rsc: usize,
    csc: usize,
) {
    gemm_with(
        kernel(),
        m,
        k,
        n,
        al,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        be,
        c,
        rsc,
        csc,
    )
}
fn kernel() -> Kernel {
    if std::env::var("K").is_ok() {
        Kernel::Avx2Fma
    } else {
        Kernel::Auto
    }
}
use std::time::Instant;
fn time(
    label: &str,
    m: usize,
    k: usize,
    n: usize,
    (rsa, csa): (usize, usize),
    (rsb, csb): (usize, usize),
    (rsc, csc): (usize, usize),
) {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    for _ in 0..20 {
        gemm(
            m, k, n, 1.0, &a, rsa, csa, &b, rsb, csb, 0.0, &mut c, rsc, csc,
        );
    }
    let reps = 300;
    let t = Instant::now();
    for _ in 0..reps {
        gemm(
            m, k, n, 1.0, &a, rsa, csa, &b, rsb, csb, 0.0, &mut c, rsc, csc,
        );
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "{label:<40} {:>8.1} us  {:>6.1} GFLOP/s",
        s * 1e6,
        2.0 * (m * k * n) as f64 / s / 1e9
    );
}
fn main() {
    rayon::ThreadPoolBuilder::new()
        .build()
        .unwrap()
        .install(|| {
            let (m, k, n) = (32, 784, 512);
            time("fwd enc B row-major", m, k, n, (k, 1), (n, 1), (n, 1));
            time(
                "fwd enc B col-major (x W^T, W [n,k])",
                m,
                k,
                n,
                (k, 1),
                (1, k),
                (n, 1),
            );
            let (m, k, n) = (32, 512, 784);
            time("fwd dec B row-major", m, k, n, (k, 1), (n, 1), (n, 1));
            time("fwd dec B col-major", m, k, n, (k, 1), (1, k), (n, 1));
            // dW = G^T X : m=512 (n_out), k=32, n=784
            let (m, k, n) = (512, 32, 784);
            time(
                "dW enc: A col-major, C row-major",
                m,
                k,
                n,
                (1, m),
                (n, 1),
                (n, 1),
            );
            time(
                "dW enc as dW^T: C col-major (current)",
                n,
                k,
                m,
                (1, n),
                (m, 1),
                (1, n),
            );
            let (m, k, n) = (784, 32, 512);
            time(
                "dW dec: A col-major, C row-major",
                m,
                k,
                n,
                (1, m),
                (n, 1),
                (n, 1),
            );
            time(
                "dW dec as dW^T: C col-major (current)",
                n,
                k,
                m,
                (1, n),
                (m, 1),
                (1, n),
            );
            // dX dec = G W: m=32, k=784, n=512, B row-major
            let (m, k, n) = (32, 784, 512);
            time(
                "dX dec = G W (B row-major)",
                m,
                k,
                n,
                (k, 1),
                (n, 1),
                (n, 1),
            );
        });
}
