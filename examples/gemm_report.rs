//! GEMM performance report for this machine.
//!
//! Measures the f32 AVX2 FMA peak (a register-only loop of 12 independent ymm FMA
//! chains, on 1 core and on all cores), then times every kernel on the square
//! and VAE shapes and prints one table of GFLOP/s and % of the relevant peak
//! (1-core peak for 1-thread columns, all-core peak for threaded ones).
//!
//! ```sh
//! cargo run --release --example gemm_report            # ~3 minutes
//! cargo run --release --example gemm_report -- --quick # a few seconds
//! cargo run --release --example gemm_report -- --only 784  # shapes matching
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use autograd::kernels::{
    Kernel, avx2_available, fast::internals::gemm_small, fast::route, gemm_with, with_hot_workers,
};
use rayon::ThreadPool;

/// One product to time: `m x k` times `k x n`, `A` optionally stored
/// transposed (`k x m` row-major, read through strides), `B` optionally
/// stored transposed (`n x k` row-major: `x · Wᵀ`, `linear`'s forward).
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_transposed: bool,
    b_transposed: bool,
}

const fn sh(name: &'static str, m: usize, k: usize, n: usize, a_transposed: bool) -> Shape {
    Shape {
        name,
        m,
        k,
        n,
        a_transposed,
        b_transposed: false,
    }
}

/// `x · Wᵀ`: `B` stored as `W`, `n x k` row-major (column-major `k x n`).
const fn sh_bt(name: &'static str, m: usize, k: usize, n: usize) -> Shape {
    Shape {
        name,
        m,
        k,
        n,
        a_transposed: false,
        b_transposed: true,
    }
}

const SHAPES: [Shape; 16] = [
    sh("square 64", 64, 64, 64, false),
    sh("square 128", 128, 128, 128, false),
    sh("square 256", 256, 256, 256, false),
    sh("square 512", 512, 512, 512, false),
    sh("square 1024", 1024, 1024, 1024, false),
    sh("32x784x512", 32, 784, 512, false),
    sh("128x784x512", 128, 784, 512, false),
    sh("32x512x784", 32, 512, 784, false),
    sh("128x512x784", 128, 512, 784, false),
    sh("AtB 784x32x512", 784, 32, 512, true),
    sh("AtB 512x32x784", 512, 32, 784, true),
    sh("32x512x2", 32, 512, 2, false),
    sh("32x2x512", 32, 2, 512, false),
    sh_bt("xWt 32x784x512", 32, 784, 512),
    sh_bt("xWt 32x512x784", 32, 512, 784),
    sh_bt("xWt 32x512x2", 32, 512, 2),
];

/// A column of the table.
#[derive(Clone, Copy)]
enum Col {
    Kern(Kernel, usize),
    Small(usize),
}

const COLS: [(&str, Col); 7] = [
    ("blocked 1t", Col::Kern(Kernel::Blocked, 1)),
    ("avx2 1t", Col::Kern(Kernel::Avx2Fma, 1)),
    ("avx2 2t", Col::Kern(Kernel::Avx2Fma, 2)),
    ("small 1t", Col::Small(1)),
    ("auto 1t", Col::Kern(Kernel::Auto, 1)),
    ("auto 2t", Col::Kern(Kernel::Auto, 2)),
    ("mm 1t", Col::Kern(Kernel::MatrixMultiply, 1)),
];

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(1.0); 12];
    let x = _mm256_set1_ps(0.999_999);
    let y = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let mut s = _mm256_setzero_ps();
    for a in acc {
        s = _mm256_add_ps(s, a);
    }
    let mut out = [0.0f32; 8];
    // SAFETY: `out` holds 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// Peak GFLOP/s with `threads` threads each running the FMA loop.
fn fma_peak(threads: usize, iters: u64, runs: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if avx2_available() {
        let mut best = f64::MAX;
        for _ in 0..runs {
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    // SAFETY: AVX2+FMA detected above.
                    s.spawn(|| black_box(unsafe { fma_chains(black_box(iters)) }));
                }
            });
            best = best.min(t.elapsed().as_secs_f64());
        }
        return (threads as u64 * iters * 12 * 8 * 2) as f64 / best / 1e9;
    }
    let _ = (threads, iters, runs);
    f64::NAN
}

/// Pause between two timed blocks.
const SETTLE: Duration = Duration::from_millis(5);

/// Untimed work before each timed block (at least one call): a core that idled through
/// [`SETTLE`] runs the first millisecond of a block measurably slower (square 256 read 83-90 %
/// of peak with a single warm-up call, against 93-94 % in a continuous loop).
const WARM_UP: Duration = Duration::from_millis(2);

/// A report column: its thread count, and a function that times `reps` calls and returns the
/// seconds they took.
type Column<'a> = (usize, Box<dyn Fn(usize) -> f64 + 'a>);

/// Best-of-`runs` seconds per call for each column, its timed blocks (each lasting about `target`)
/// taken in turn: round `r` times block `r` of every column before round `r + 1` starts, so a slow
/// spell of this noisy machine hits every column alike instead of one cell.
fn interleaved_best(calls: &[Column<'_>], target: Duration, runs: usize) -> Vec<f64> {
    let reps: Vec<usize> = calls
        .iter()
        .map(|(_, block)| {
            block(1);
            let one = block(1).max(50e-9);
            ((target.as_secs_f64() / one) as usize).clamp(1, 1_000_000)
        })
        .collect();
    let mut best = vec![f64::MAX; calls.len()];
    for _ in 0..runs {
        for (((_, block), &reps), best) in calls.iter().zip(&reps).zip(&mut best) {
            *best = best.min(block(reps) / reps as f64);
            // Let the block's pool threads finish spinning and go to sleep, so they do not
            // take the core the next column runs on.
            std::thread::sleep(SETTLE);
        }
    }
    best
}

fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 20) as f32 / 4096.0 - 0.5
        })
        .collect()
}

/// `matrixmultiply` reads its thread count from this variable, once per process (its
/// `threading` feature is on in this package's dev-dependencies).
const MM_THREADS: &str = "MATMUL_NUM_THREADS";

fn main() {
    // The `mm 1t` column must be one thread: if the variable is unset, run again with it set.
    if std::env::var_os(MM_THREADS).is_none() {
        let exe = std::env::current_exe().expect("path of this example");
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(MM_THREADS, "1")
            .status()
            .expect("re-run with MATMUL_NUM_THREADS=1");
        std::process::exit(status.code().unwrap_or(1));
    }
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only SUBSTR`: restrict to shapes whose name contains SUBSTR.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    // Many short runs, keep the best: robust against other load on the box.
    let (target, runs) = if quick {
        (Duration::from_millis(2), 5)
    } else {
        (Duration::from_millis(4), 60)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let iters = if quick { 5_000_000 } else { 20_000_000 };
    let peak1 = fma_peak(1, iters, runs);
    let peak_all = fma_peak(cores, iters, runs);
    #[cfg(target_arch = "x86_64")]
    let avx512 = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let avx512 = false;
    println!(
        "AVX2+FMA: {}   AVX-512F: {avx512} (then `auto` runs its 12x16 tile on Avx2Blocked rows, \
         and its % may pass 100)   AVX2 FMA peak: {peak1:.1} GFLOP/s on 1 core, {peak_all:.1} on {cores} cores",
        avx2_available()
    );
    let pools: Vec<ThreadPool> = [1, 2]
        .iter()
        .map(|&t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        })
        .collect();

    print!("{:<16}", "shape");
    for (name, _) in COLS {
        print!(" {name:>14}");
    }
    println!("  auto picks");
    for s in SHAPES {
        if only.as_deref().is_some_and(|o| !s.name.contains(o)) {
            continue;
        }
        let Shape { m, k, n, .. } = s;
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut c = vec![0.0f32; m * n];
        let (rsa, csa) = if s.a_transposed { (1, m) } else { (k, 1) };
        let (rsb, csb) = if s.b_transposed { (1, k) } else { (n, 1) };
        let flop = 2.0 * (m * n * k) as f64;
        print!("{:<16}", s.name);
        let c = std::sync::Mutex::new(&mut c);
        let calls: Vec<Column<'_>> = COLS
            .iter()
            .map(|&(_, col)| -> Column<'_> {
                let (a, b, c, pools) = (&a, &b, &c, &pools);
                let threads = match col {
                    Col::Kern(_, t) | Col::Small(t) => t,
                };
                // Runs `reps` calls inside the column's pool, with its other threads kept
                // spinning (as a training loop runs its products), and returns their seconds.
                let block = move |reps: usize| {
                    pools[threads - 1].install(|| {
                        with_hot_workers(|| {
                            let mut c = c.lock().unwrap();
                            let mut call = || match col {
                                Col::Kern(kern, _) => gemm_with(
                                    kern,
                                    m,
                                    k,
                                    n,
                                    1.0,
                                    a,
                                    rsa,
                                    csa,
                                    b,
                                    rsb,
                                    csb,
                                    0.0,
                                    &mut c[..],
                                    n,
                                    1,
                                ),
                                Col::Small(_) => gemm_small(
                                    m,
                                    k,
                                    n,
                                    1.0,
                                    a,
                                    rsa,
                                    csa,
                                    b,
                                    rsb,
                                    csb,
                                    0.0,
                                    &mut c[..],
                                    n,
                                    1,
                                ),
                            };
                            // Untimed calls first, for WARM_UP at least: after the pause between
                            // blocks the operands may have left the caches and the core may have
                            // clocked down; the figure is the kernel's sustained speed.
                            let t = Instant::now();
                            call();
                            while t.elapsed() < WARM_UP {
                                call();
                            }
                            let t = Instant::now();
                            for _ in 0..reps {
                                call();
                            }
                            t.elapsed().as_secs_f64()
                        })
                    })
                };
                (threads, Box::new(block))
            })
            .collect();
        let best = interleaved_best(&calls, target, runs);
        for ((threads, _), secs) in calls.iter().zip(best) {
            let gflops = flop / secs / 1e9;
            let peak = if *threads == 1 { peak1 } else { peak_all };
            print!(" {:>7.1} ({:>3.0}%)", gflops, 100.0 * gflops / peak);
        }
        println!("  {:?}", route(m, k, n, (rsa, csa), (rsb, csb)));
    }
    println!("(GFLOP/s, % of the 1-core peak for 1t columns and of the {cores}-core peak for 2t)");
}
