//! Hot workers (`autograd::kernels::with_hot_workers`): the same bits as
//! without them, for any pool size and whether or not the caller is a pool
//! thread; other rayon work inside still completes; nesting is harmless; a background job
//! (`overlap`) runs once, on a free worker, and its result and panics come back.
#![cfg(all(feature = "fast", feature = "internals"))]

use autograd::kernels::fast::internals as elementwise;
use autograd::kernels::{Kernel, gemm_with, overlap, with_hot_workers};
use rayon::prelude::*;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Products big enough to be split (row-major, `x · Wᵀ`, and `Aᵀ·B` forms).
const SHAPES: [(usize, usize, usize, bool); 6] = [
    (512, 384, 640, false),
    (32, 784, 512, true),
    (32, 512, 784, true),
    (32, 512, 784, false),
    (784, 32, 512, false),
    (97, 1001, 203, true),
];

/// `C = A·B` (or `A·Wᵀ` when `bt`) with the default kernel; `C` starts at 0.25, beta 1.
fn product(m: usize, k: usize, n: usize, bt: bool) -> Vec<f32> {
    let (a, b) = (values(m * k, 1), values(k * n, 2));
    let (rsb, csb) = if bt { (1, k) } else { (n, 1) };
    let mut c = vec![0.25f32; m * n];
    gemm_with(
        Kernel::Auto,
        m,
        k,
        n,
        1.0,
        &a,
        k,
        1,
        &b,
        rsb,
        csb,
        1.0,
        &mut c,
        n,
        1,
    );
    c
}

fn rmsprop(len: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut p, g, mut v) = (values(len, 3), values(len, 4), values(len, 5));
    v.iter_mut().for_each(|x| *x = x.abs());
    for _ in 0..3 {
        elementwise::update_chunks(&g, [&mut p, &mut v], &|g, [p, v]| {
            elementwise::rmsprop_update(p, g, v, 1e-3, 0.9, 1e-7)
        });
    }
    (p, v)
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn hot_workers_give_the_same_bits_as_cold_and_as_one_thread() {
    let one = pool(1);
    for threads in [2, 3] {
        let p = pool(threads);
        for &(m, k, n, bt) in &SHAPES {
            let want = one.install(|| product(m, k, n, bt));
            let cold = p.install(|| product(m, k, n, bt));
            // The caller is a pool thread, and the product is repeated so that
            // many regions go through the same team one after another.
            let hot: Vec<Vec<f32>> =
                p.install(|| with_hot_workers(|| (0..20).map(|_| product(m, k, n, bt)).collect()));
            assert!(same_bits(&want, &cold), "{m}x{k}x{n}: cold differs");
            for h in &hot {
                assert!(same_bits(&want, h), "{threads} hot threads, {m}x{k}x{n}");
            }
        }
        let want = one.install(|| rmsprop(1 << 20));
        let hot = p.install(|| with_hot_workers(|| rmsprop(1 << 20)));
        assert!(same_bits(&want.0, &hot.0) && same_bits(&want.1, &hot.1));
    }
}

#[test]
fn hot_workers_from_a_thread_outside_the_pool() {
    let want = pool(1).install(|| product(32, 784, 512, true));
    // The test thread is not one of the global pool's threads.
    assert!(rayon::current_thread_index().is_none());
    let hot = with_hot_workers(|| product(32, 784, 512, true));
    assert!(same_bits(&want, &hot));
}

#[test]
fn other_rayon_work_inside_hot_workers_completes() {
    let work = || {
        let s: u64 = (0..100_000u64).into_par_iter().map(|x| x % 7).sum();
        let (a, b) = rayon::join(|| product(32, 784, 512, true), || 6u64 * 7);
        (s, a, b)
    };
    let want = pool(1).install(work);
    for threads in [2, 4] {
        let got = pool(threads).install(|| with_hot_workers(work));
        assert_eq!(got.0, want.0);
        assert!(same_bits(&got.1, &want.1));
        assert_eq!(got.2, 42);
    }
    let got = with_hot_workers(work);
    assert_eq!(got.0, want.0);
}

#[test]
fn nested_hot_workers_and_results_are_returned() {
    let p = pool(2);
    let got = p.install(|| {
        with_hot_workers(|| {
            let inner = with_hot_workers(|| product(97, 1001, 203, true));
            (inner, product(97, 1001, 203, true))
        })
    });
    assert!(same_bits(&got.0, &got.1));
    let want = pool(1).install(|| product(97, 1001, 203, true));
    assert!(same_bits(&want, &got.0));
    // A one-thread pool just runs the closure.
    assert_eq!(pool(1).install(|| with_hot_workers(|| 7)), 7);
}

#[test]
fn the_split_finiteness_check_finds_a_nan_anywhere() {
    let mut v = values(1 << 20, 6);
    for threads in [1, 2, 3] {
        let p = pool(threads);
        for at in [0, 1 << 19, (1 << 19) - 1, (1 << 20) - 1] {
            assert!(p.install(|| elementwise::all_finite(&v)));
            v[at] = f32::NAN;
            assert!(!p.install(|| elementwise::all_finite(&v)), "NaN at {at}");
            assert!(!p.install(|| with_hot_workers(|| elementwise::all_finite(&v))));
            v[at] = f32::NEG_INFINITY;
            assert!(!p.install(|| with_hot_workers(|| elementwise::all_finite(&v))));
            v[at] = 0.5;
        }
    }
}

#[test]
fn bce_loops_split_over_hot_workers_give_the_same_bits() {
    let n = 128 * 784 + 5;
    let (x, t, g) = (values(n, 7), values(n, 8), values(n, 9));
    let x: Vec<f32> = x.iter().map(|v| v * 30.0).collect();
    let run = || {
        let mut y = vec![0.0f32; n];
        elementwise::bce_forward(&x, &t, &mut y);
        let mut dx = vec![0.25f32; n];
        elementwise::bce_backward(&g, &x, &t, &mut dx, false);
        // The row-sum form, over 128 rows of 784 (the 5 extra elements left out).
        let mut rows = vec![0.0f32; 128];
        elementwise::bce_rowsum_forward(&x, &t, 784, &mut rows);
        let mut drow = vec![0.25f32; 128 * 784];
        elementwise::bce_rowsum_backward(&g[..128], &x, &t, 784, &mut drow, false);
        // 21 rows: split on a row boundary that is not a multiple of 16.
        let mut odd = vec![0.0f32; 21];
        elementwise::bce_rowsum_forward(&x, &t, 784, &mut odd);
        let mut dodd = vec![0.0f32; 21 * 784];
        elementwise::bce_rowsum_backward(&g[..21], &x, &t, 784, &mut dodd, true);
        y.extend(rows);
        y.extend(odd);
        dx.extend(drow);
        dx.extend(dodd);
        (y, dx)
    };
    let cold = pool(1).install(run);
    for threads in [2, 3] {
        let hot = pool(threads).install(|| with_hot_workers(run));
        assert!(same_bits(&cold.0, &hot.0) && same_bits(&cold.1, &hot.1));
    }
}

#[test]
fn a_background_job_runs_once_on_a_free_worker_and_both_results_come_back() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let p = pool(2);
    let runs = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let (on_worker, (a, b)) = p.install(|| {
        with_hot_workers(|| {
            let caller = std::thread::current().id();
            // `f` waits (up to 10 s) for the job: the owner runs it only after `f`, so only a
            // worker can have run it by then.
            let (ran_on, waited) = overlap(
                || {
                    runs.fetch_add(1, Ordering::Relaxed);
                    done.store(true, Ordering::Release);
                    std::thread::current().id()
                },
                || {
                    let start = Instant::now();
                    while !done.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(10)
                    {
                        std::hint::spin_loop();
                    }
                    done.load(Ordering::Acquire)
                },
            );
            assert!(waited, "no worker took the job");
            // Many short pairs, products on both sides: each job runs once, whoever runs it.
            let mut last = (Vec::new(), Vec::new());
            for _ in 0..50 {
                last = overlap(
                    || {
                        runs.fetch_add(1, Ordering::Relaxed);
                        product(20, 200, 50, true)
                    },
                    || product(32, 784, 512, true),
                );
            }
            (ran_on != caller, last)
        })
    });
    assert!(on_worker);
    assert_eq!(runs.load(Ordering::Relaxed), 51);
    let want = pool(1).install(|| (product(20, 200, 50, true), product(32, 784, 512, true)));
    assert!(same_bits(&a, &want.0) && same_bits(&b, &want.1));
}

#[test]
fn overlap_nested_outside_a_team_and_panicking() {
    // Outside a team, and nested inside another overlap's `f`: both run, in the caller.
    assert_eq!(overlap(|| 6, || 7), (6, 7));
    let got = pool(2)
        .install(|| with_hot_workers(|| overlap(|| 1, || overlap(|| 2, || overlap(|| 3, || 4)))));
    assert_eq!(got, (1, (2, (3, 4))));
    // A panicking job reaches the caller with its message, wherever it ran; the team goes on.
    let p = pool(2);
    p.install(|| {
        with_hot_workers(|| {
            for _ in 0..20 {
                let r = std::panic::catch_unwind(|| overlap(|| panic!("the job"), || 1));
                let payload = r.expect_err("the job's panic");
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"the job"));
                // When `f` panics too, its panic goes on and the job's is dropped: the next
                // overlap is clean.
                let r = std::panic::catch_unwind(|| {
                    overlap(|| panic!("the job"), || -> i32 { panic!("f") })
                });
                let payload = r.expect_err("f's panic");
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"f"));
                assert_eq!(overlap(|| 2, || 3), (2, 3));
            }
        })
    });
}
