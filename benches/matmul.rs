//! Criterion benchmarks of the GEMM kernels, grouped by shape.
//!
//! Throughput is `Elements(2 m n k)`, so criterion's "elements/s" is FLOP/s.
//! Runs in a few minutes: `cargo bench --bench matmul`; filter with e.g.
//! `cargo bench --bench matmul -- 32x784x512`.
//!
//! `matrixmultiply` takes its thread count from the environment variable
//! `MATMUL_NUM_THREADS`, read once per process. So the bench runs itself twice:
//! with 1 thread for everything (including `matrixmultiply_1t`), then with 2
//! threads for `matrixmultiply_2t` only (its `threading` feature is enabled in
//! the dev-dependencies).

use std::hint::black_box;
use std::time::Duration;

use autograd::kernels::{Kernel, gemm_with, with_hot_workers};
use criterion::{Criterion, Throughput, criterion_group};
use rayon::ThreadPool;

/// A benchmarked product: `m x k` times `k x n`; with `a_transposed`, `A` is
/// stored `k x m` row-major and read through swapped strides (A^T B).
struct Shape {
    name: String,
    m: usize,
    k: usize,
    n: usize,
    a_transposed: bool,
}

fn shapes() -> Vec<Shape> {
    let mut v: Vec<Shape> = [64, 128, 256, 512, 1024]
        .into_iter()
        .map(|s| Shape {
            name: format!("square_{s}"),
            m: s,
            k: s,
            n: s,
            a_transposed: false,
        })
        .collect();
    for (m, k, n, t) in [
        (32, 784, 512, false),
        (128, 784, 512, false),
        (32, 512, 784, false),
        (128, 512, 784, false),
        (784, 32, 512, true),
        (512, 32, 784, true),
        (32, 512, 2, false),
        (32, 2, 512, false),
    ] {
        v.push(Shape {
            name: format!("{}{m}x{k}x{n}", if t { "AtB_" } else { "" }),
            m,
            k,
            n,
            a_transposed: t,
        });
    }
    v
}

fn pool(threads: usize) -> ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
}

/// `matrixmultiply`'s thread-count variable.
const MM_THREADS: &str = "MATMUL_NUM_THREADS";

fn bench(c: &mut Criterion) {
    let pools = [pool(1), pool(2)];
    let mm_threaded = std::env::var(MM_THREADS).is_ok_and(|v| v == "2");
    for s in shapes() {
        let (m, k, n) = (s.m, s.k, s.n);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.1 - 0.8).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.1 - 0.6).collect();
        let mut out = vec![0.0f32; m * n];
        let (rsa, csa) = if s.a_transposed { (1, m) } else { (k, 1) };
        let mut g = c.benchmark_group(&s.name);
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        // (name, kernel, threads, hot): "hot" runs with the pool's other thread spinning
        // (`with_hot_workers`), as the training loop runs its products; the plain 2-thread
        // columns wake a sleeping rayon worker for every product.
        let mut variants = vec![
            ("blocked", Kernel::Blocked, 1, false),
            ("avx2_1t", Kernel::Avx2Fma, 1, false),
            ("avx2_2t", Kernel::Avx2Fma, 2, false),
            ("auto_2t", Kernel::Auto, 2, false),
            ("auto_2t_hot", Kernel::Auto, 2, true),
            ("matrixmultiply_1t", Kernel::MatrixMultiply, 1, false),
        ];
        if m.max(n).max(k) <= 256 {
            variants.insert(0, ("naive", Kernel::Naive, 1, false));
        }
        if mm_threaded {
            variants = vec![("matrixmultiply_2t", Kernel::MatrixMultiply, 1, false)];
        }
        for (name, kernel, threads, hot) in variants {
            g.bench_function(name, |bch| {
                pools[threads - 1].install(|| {
                    let mut run = || {
                        bch.iter(|| {
                            gemm_with(
                                kernel,
                                m,
                                k,
                                n,
                                1.0,
                                black_box(&a),
                                rsa,
                                csa,
                                black_box(&b),
                                n,
                                1,
                                0.0,
                                &mut out,
                                n,
                                1,
                            )
                        })
                    };
                    if hot { with_hot_workers(run) } else { run() }
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = bench
}
fn main() {
    match std::env::var(MM_THREADS) {
        // The parent: one child process per matrixmultiply thread count.
        Err(_) => {
            let exe = std::env::current_exe().expect("path of the bench binary");
            for threads in ["1", "2"] {
                let status = std::process::Command::new(&exe)
                    .args(std::env::args_os().skip(1))
                    .env(MM_THREADS, threads)
                    .status()
                    .expect("run the bench");
                assert!(status.success(), "bench with {MM_THREADS}={threads} failed");
            }
        }
        Ok(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
