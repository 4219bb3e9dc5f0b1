//! Tests of `autograd::kernels`: every kernel against the naive oracle on all
//! small shapes, odd shapes, every operand layout and alpha/beta, thread-count
//! invariance, bounds checks and steady-state allocation.

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(all(feature = "fast", feature = "internals"))]
use autograd::kernels::avx2_available;
#[cfg(all(feature = "fast", feature = "internals"))]
use autograd::kernels::fast::internals::gemm_small;
use autograd::kernels::{self, Kernel, gemm_with};

// ---------------------------------------------------------------- allocator

/// Counts allocations made by threads that opted in (see `TRACK`), so the
/// other tests running concurrently do not disturb the count.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static TRACK: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        if TRACK.with(|t| t.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new: usize) -> *mut u8 {
        if TRACK.with(|t| t.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ------------------------------------------------------------------ helpers

/// A kernel under test: `gemm_with(kernel)` or the small path.
#[derive(Clone, Copy, Debug)]
enum Under {
    K(Kernel),
    /// The fast build's no-pack path on its own.
    #[cfg(all(feature = "fast", feature = "internals"))]
    Small,
}

/// Every kernel of this build.
#[cfg(all(feature = "fast", feature = "internals"))]
const ALL: [Under; 5] = [
    Under::K(Kernel::Blocked),
    Under::K(Kernel::Avx2Fma),
    Under::K(Kernel::MatrixMultiply),
    Under::K(Kernel::Auto),
    Under::Small,
];
/// Every kernel of this build.
#[cfg(not(all(feature = "fast", feature = "internals")))]
const ALL: [Under; 2] = [Under::K(Kernel::Blocked), Under::K(Kernel::MatrixMultiply)];

/// Storage of a matrix inside its buffer.
#[derive(Clone, Copy, Debug)]
enum Store {
    Row,
    Col,
    /// Row-major with leading dimension cols + 3.
    RowPad,
    /// Column-major with leading dimension rows + 2.
    ColPad,
}

const STORES: [Store; 4] = [Store::Row, Store::Col, Store::RowPad, Store::ColPad];
const C_STORES: [Store; 3] = [Store::Row, Store::Col, Store::RowPad];
const ALPHA_BETA: [f32; 3] = [0.0, 1.0, -0.5];

impl Store {
    /// (row stride, column stride, buffer length) for a rows x cols matrix.
    fn strides(self, rows: usize, cols: usize) -> (usize, usize, usize) {
        let (rs, cs) = match self {
            Store::Row => (cols.max(1), 1),
            Store::Col => (1, rows.max(1)),
            Store::RowPad => (cols + 3, 1),
            Store::ColPad => (1, rows + 2),
        };
        let len = if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        };
        (rs, cs, len)
    }
}

/// Deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Small integer in -3..=3 (products and sums stay exact in f32).
    fn int(&mut self) -> f32 {
        (self.next() % 7) as f32 - 3.0
    }
    /// Uniform in [-1, 1).
    fn float(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn fill(len: usize, rng: &mut Rng, f: fn(&mut Rng) -> f32) -> Vec<f32> {
    (0..len).map(|_| f(rng)).collect()
}

#[allow(clippy::too_many_arguments)]
fn call(
    u: Under,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
) {
    match u {
        Under::K(kern) => gemm_with(
            kern, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
        ),
        #[cfg(all(feature = "fast", feature = "internals"))]
        Under::Small => gemm_small(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc),
    }
}

/// Runs `u` and the naive oracle on the same integer inputs and demands an
/// exact match over the whole C buffer (so padding must be left untouched).
/// With beta == 0, C starts as NaN to prove it is not read.
#[allow(clippy::too_many_arguments)]
fn check_exact(
    u: Under,
    m: usize,
    k: usize,
    n: usize,
    sa: Store,
    sb: Store,
    sc: Store,
    alpha: f32,
    beta: f32,
    rng: &mut Rng,
) {
    let (rsa, csa, la) = sa.strides(m, k);
    let (rsb, csb, lb) = sb.strides(k, n);
    let (rsc, csc, lc) = sc.strides(m, n);
    let a = fill(la, rng, Rng::int);
    let b = fill(lb, rng, Rng::int);
    let mut c0 = fill(lc, rng, Rng::int);
    if beta == 0.0 {
        for i in 0..m {
            for j in 0..n {
                c0[i * rsc + j * csc] = f32::NAN;
            }
        }
    }
    let mut want = c0.clone();
    gemm_with(
        Kernel::Naive,
        m,
        k,
        n,
        alpha,
        &a,
        rsa,
        csa,
        &b,
        rsb,
        csb,
        beta,
        &mut want,
        rsc,
        csc,
    );
    let mut got = c0;
    call(
        u,
        m,
        k,
        n,
        alpha,
        &a,
        (rsa, csa),
        &b,
        (rsb, csb),
        beta,
        &mut got,
        (rsc, csc),
    );
    for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g == w || (g.is_nan() && w.is_nan()),
            "{u:?} m={m} k={k} n={n} A:{sa:?} B:{sb:?} C:{sc:?} alpha={alpha} beta={beta}: \
             c[{idx}] = {g}, want {w}"
        );
    }
}

#[cfg(not(all(feature = "fast", feature = "internals")))]
fn skip_without_avx2(_: Under) -> bool {
    false
}

#[cfg(all(feature = "fast", feature = "internals"))]
fn skip_without_avx2(u: Under) -> bool {
    let needs = matches!(u, Under::K(Kernel::Avx2Fma) | Under::Small);
    if needs && !avx2_available() {
        eprintln!("{u:?}: CPU lacks AVX2+FMA, test skipped (the kernel falls back to Blocked)");
        return true;
    }
    false
}

/// All m, k, n in 0..=17; layouts and alpha/beta rotate with the shape so
/// each combination is hit many times.
fn cube(u: Under) {
    if skip_without_avx2(u) {
        return;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut idx = 0usize;
    for m in 0..=17 {
        for k in 0..=17 {
            for n in 0..=17 {
                idx += 1;
                let sa = STORES[idx % 4];
                let sb = STORES[(idx / 4) % 4];
                let sc = C_STORES[(idx / 16) % 3];
                let alpha = ALPHA_BETA[(idx / 3) % 3];
                let beta = ALPHA_BETA[idx % 3];
                check_exact(u, m, k, n, sa, sb, sc, alpha, beta, &mut rng);
            }
        }
    }
}

/// Every layout and alpha/beta combination on a set of shapes.
fn all_layouts(u: Under, shapes: &[(usize, usize, usize)]) {
    if skip_without_avx2(u) {
        return;
    }
    let mut rng = Rng(12345);
    for &(m, k, n) in shapes {
        for sa in STORES {
            for sb in STORES {
                for sc in C_STORES {
                    for alpha in ALPHA_BETA {
                        for beta in ALPHA_BETA {
                            check_exact(u, m, k, n, sa, sb, sc, alpha, beta, &mut rng);
                        }
                    }
                }
            }
        }
    }
}

const SMALL_SHAPES: [(usize, usize, usize); 8] = [
    (1, 1, 1),
    (6, 5, 16),
    (7, 3, 17),
    (13, 9, 33),
    (2, 16, 2),
    (17, 1, 9),
    (5, 0, 4),
    (12, 7, 8),
];

/// Odd shapes up to ~300 (more than one KC block, more than one MC block,
/// more than one NC block, skinny and tiny dimensions).
const ODD_SHAPES: [(usize, usize, usize); 9] = [
    (1, 300, 1),
    (300, 1, 300),
    (97, 257, 131),
    (150, 600, 40),
    (255, 129, 17),
    (32, 70, 2),
    (32, 2, 70),
    (7, 9, 3100),
    (289, 33, 291),
];

fn odd(u: Under) {
    if skip_without_avx2(u) {
        return;
    }
    let mut rng = Rng(777);
    for (i, &(m, k, n)) in ODD_SHAPES.iter().enumerate() {
        for (j, (sa, sb)) in [
            (Store::Row, Store::Row),
            (Store::Col, Store::Row),
            (Store::Row, Store::Col),
            (Store::ColPad, Store::RowPad),
        ]
        .into_iter()
        .enumerate()
        {
            let sc = C_STORES[(i + j) % 3];
            let beta = ALPHA_BETA[(i + j) % 3];
            check_exact(u, m, k, n, sa, sb, sc, -0.5, beta, &mut rng);
        }
    }
}

macro_rules! kernel_tests {
    ($($name:ident => $u:expr),* $(,)?) => {
        mod cube_0_to_17 {
            use super::*;
            $(#[test] fn $name() { cube($u) })*
        }
        mod every_layout {
            use super::*;
            $(#[test] fn $name() { all_layouts($u, &SMALL_SHAPES) })*
        }
        mod odd_shapes {
            use super::*;
            $(#[test] fn $name() { odd($u) })*
        }
    };
}

kernel_tests! {
    blocked => Under::K(Kernel::Blocked),
    matrixmultiply => Under::K(Kernel::MatrixMultiply),
}

#[cfg(all(feature = "fast", feature = "internals"))]
mod fast {
    use super::*;
    kernel_tests! {
        avx2 => Under::K(Kernel::Avx2Fma),
        auto => Under::K(Kernel::Auto),
        small => Under::Small,
    }
}

// ------------------------------------------------------------ float inputs

/// A x B for random floats, row-major.
fn random_product(u: Under, m: usize, k: usize, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let a = fill(m * k, &mut rng, Rng::float);
    let b = fill(k * n, &mut rng, Rng::float);
    let mut c = vec![f32::NAN; m * n];
    call(u, m, k, n, 1.0, &a, (k, 1), &b, (n, 1), 0.0, &mut c, (n, 1));
    c
}

#[test]
fn random_floats_512x384x640() {
    let (m, k, n) = (512, 384, 640);
    let want = random_product(Under::K(Kernel::Naive), m, k, n, 99);
    let scale = want.iter().fold(0.0f32, |s, x| s.max(x.abs()));
    for u in ALL {
        if skip_without_avx2(u) {
            continue;
        }
        let got = random_product(u, m, k, n, 99);
        let err = got
            .iter()
            .zip(&want)
            .fold(0.0f32, |e, (g, w)| e.max((g - w).abs()));
        assert!(
            err <= 1e-5 * scale,
            "{u:?}: max error {err} (scale {scale})"
        );
    }
}

/// Shapes that do go parallel (above the threading threshold).
const PARALLEL_SHAPES: [(usize, usize, usize); 6] = [
    (32, 784, 512),
    (784, 32, 512),
    (128, 512, 784),
    (300, 300, 300),
    (61, 1000, 97),
    (512, 384, 640),
];

#[test]
fn one_and_two_threads_agree_bitwise() {
    let pool = |t| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
    };
    let (p1, p2) = (pool(1), pool(2));
    for u in ALL {
        if skip_without_avx2(u) || matches!(u, Under::K(Kernel::MatrixMultiply)) {
            continue;
        }
        for &(m, k, n) in &PARALLEL_SHAPES {
            let one = p1.install(|| random_product(u, m, k, n, 5));
            let two = p2.install(|| random_product(u, m, k, n, 5));
            assert!(
                one.iter()
                    .zip(&two)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{u:?} {m}x{k}x{n}: 1 and 2 threads differ"
            );
        }
    }
}

/// `x · Wᵀ` into a narrow output (the dot-product kernel of `Auto`), deep
/// enough to be split over threads, and into wide outputs at batch sizes up
/// to 32 (`Auto` runs those transposed): 1 and 2 threads agree bitwise, and
/// the result matches the naive oracle to float tolerance.
#[test]
#[cfg(all(feature = "fast", feature = "internals"))]
fn x_wt_one_and_two_threads_agree() {
    let pool = |t| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
    };
    let (p1, p2) = (pool(1), pool(2));
    if kernels::avx2_available() {
        assert_eq!(
            kernels::fast::route(32, 784, 512, (784, 1), (1, 784)),
            kernels::fast::Route::SmallTransposed
        );
    }
    let shapes = [
        (32, 8200, 16),
        (31, 8203, 13),
        (5, 40000, 7),
        (32, 784, 512),
        (29, 301, 133),
        (1, 4099, 2051),
        (32, 32, 64),
    ];
    for &(m, k, n) in &shapes {
        let mut rng = Rng(99);
        let x = fill(m * k, &mut rng, Rng::float);
        let w = fill(n * k, &mut rng, Rng::float);
        let run = |kern| {
            let mut c = vec![0.5f32; m * n];
            gemm_with(kern, m, k, n, 1.5, &x, k, 1, &w, 1, k, 1.0, &mut c, n, 1);
            c
        };
        let one = p1.install(|| run(Kernel::Auto));
        let two = p2.install(|| run(Kernel::Auto));
        assert!(
            one.iter()
                .zip(&two)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{m}x{k}x{n}: 1 and 2 threads differ"
        );
        let want = run(Kernel::Naive);
        for (g, w) in one.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-3 * (1.0 + w.abs()),
                "{m}x{k}x{n}: {g} vs {w}"
            );
        }
    }
}

/// A tall, thin product with a column-major `A` (a weight gradient `Gᵀ·z` into a 2-wide
/// layer) runs transposed on the small path: bitwise what the small path gives untransposed
/// (the same sums in the same order), and the naive result to float tolerance.
#[test]
#[cfg(all(feature = "fast", feature = "internals"))]
fn thin_weight_gradient_runs_transposed_with_the_same_bits() {
    if !kernels::avx2_available() {
        return;
    }
    for &(m, k, n) in &[(512, 32, 2), (64, 9, 8), (400, 128, 3)] {
        assert_eq!(
            kernels::fast::route(m, k, n, (1, m), (n, 1)),
            kernels::fast::Route::SmallTransposed,
            "{m}x{k}x{n}"
        );
        let mut rng = Rng(7);
        let a = fill(m * k, &mut rng, Rng::float);
        let b = fill(k * n, &mut rng, Rng::float);
        for beta in [0.0, 1.0, -0.5] {
            let run = |kern| {
                let mut c = fill(m * n, &mut Rng(3), Rng::float);
                gemm_with(kern, m, k, n, 1.5, &a, 1, m, &b, n, 1, beta, &mut c, n, 1);
                c
            };
            let mut small = fill(m * n, &mut Rng(3), Rng::float);
            gemm_small(m, k, n, 1.5, &a, 1, m, &b, n, 1, beta, &mut small, n, 1);
            let auto = run(Kernel::Auto);
            assert!(
                auto.iter()
                    .zip(&small)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{m}x{k}x{n} beta {beta}: transposed differs from the small path"
            );
            for (g, w) in auto.iter().zip(&run(Kernel::Naive)) {
                assert!(
                    (g - w).abs() <= 1e-3 * (1.0 + w.abs()),
                    "{m}x{k}x{n}: {g} vs {w}"
                );
            }
        }
    }
}

// ------------------------------------------------------------ bounds checks

#[test]
#[should_panic(expected = "operand A too short")]
fn short_a_panics() {
    let (a, b, mut c) = (vec![0.0; 11], vec![0.0; 12], vec![0.0; 9]);
    kernels::gemm(3, 4, 3, 1.0, &a, 4, 1, &b, 3, 1, 0.0, &mut c, 3, 1);
}

#[test]
#[should_panic(expected = "operand B too short")]
fn short_b_panics() {
    let (a, b, mut c) = (vec![0.0; 12], vec![0.0; 12], vec![0.0; 9]);
    // Transposed B view of a 3x4 buffer with a padded leading dimension.
    gemm_with(
        Kernel::Blocked,
        3,
        4,
        3,
        1.0,
        &a,
        4,
        1,
        &b,
        1,
        5,
        0.0,
        &mut c,
        3,
        1,
    );
}

#[test]
#[should_panic(expected = "operand C too short")]
fn short_c_panics() {
    let (a, b, mut c) = (vec![0.0; 12], vec![0.0; 12], vec![0.0; 8]);
    gemm_with(
        Kernel::Blocked,
        3,
        4,
        3,
        1.0,
        &a,
        4,
        1,
        &b,
        3,
        1,
        0.0,
        &mut c,
        3,
        1,
    );
}

#[test]
#[cfg(feature = "fast")]
fn kernel_names_parse() {
    assert_eq!("avx2".parse::<Kernel>(), Ok(Kernel::Avx2Fma));
    assert_eq!(
        "MatrixMultiply".parse::<Kernel>(),
        Ok(Kernel::MatrixMultiply)
    );
    let err = "fast".parse::<Kernel>().unwrap_err().to_string();
    assert!(
        err.contains("naive|blocked|avx2|matrixmultiply|auto"),
        "{err}"
    );
}

#[test]
#[cfg(not(feature = "fast"))]
fn kernel_names_parse_in_the_reference_build() {
    assert_eq!("blocked".parse::<Kernel>(), Ok(Kernel::Blocked));
    let err = "avx2".parse::<Kernel>().unwrap_err().to_string();
    assert!(err.contains("naive|blocked|matrixmultiply"), "{err}");
}

#[test]
fn k_zero_scales_c() {
    for u in ALL {
        let mut c = vec![f32::NAN; 6];
        call(
            u,
            2,
            0,
            3,
            1.0,
            &[],
            (0, 1),
            &[],
            (3, 1),
            0.0,
            &mut c,
            (3, 1),
        );
        assert_eq!(c, [0.0; 6], "{u:?}");
        let mut c = vec![2.0; 6];
        call(
            u,
            2,
            0,
            3,
            1.0,
            &[],
            (0, 1),
            &[],
            (3, 1),
            -0.5,
            &mut c,
            (3, 1),
        );
        assert_eq!(c, [-1.0; 6], "{u:?}");
    }
}

// --------------------------------------------------------------- allocation

/// After warm-up, gemm calls made inside a rayon pool (both workers
/// tracked) must not allocate, at parallel and serial shapes alike.
#[test]
fn no_allocation_after_warm_up() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| TRACK.with(|t| t.set(true)))
        .build()
        .unwrap();
    let shapes = [
        (32, 784, 512),
        (784, 32, 512),
        (32, 512, 2),
        (8, 8, 8),
        (128, 512, 784),
    ];
    let mut rng = Rng(3);
    let bufs: Vec<_> = shapes
        .iter()
        .map(|&(m, k, n)| {
            (
                fill(m * k, &mut rng, Rng::float),
                fill(k * n, &mut rng, Rng::float),
                vec![0.0f32; m * n],
            )
        })
        .collect();
    let count = pool.install(|| {
        let mut bufs = bufs;
        let run = |bufs: &mut Vec<(Vec<f32>, Vec<f32>, Vec<f32>)>| {
            for (&(m, k, n), (a, b, c)) in shapes.iter().zip(bufs.iter_mut()) {
                #[cfg(feature = "fast")]
                let kernels = [Kernel::Auto, Kernel::Avx2Fma, Kernel::Blocked];
                #[cfg(not(feature = "fast"))]
                let kernels = [Kernel::Blocked];
                for kern in kernels {
                    // A * B, A^T-view * B and A * B^T-view.
                    gemm_with(kern, m, k, n, 1.0, a, k, 1, b, n, 1, 0.0, c, n, 1);
                    gemm_with(kern, m, k, n, 1.0, a, 1, m, b, n, 1, 1.0, c, n, 1);
                    gemm_with(kern, m, k, n, 1.0, a, k, 1, b, 1, k, 0.5, c, n, 1);
                }
            }
        };
        for _ in 0..3 {
            run(&mut bufs);
        }
        TRACK.with(|t| t.set(true));
        let before = ALLOCS.load(Ordering::SeqCst);
        for _ in 0..20 {
            run(&mut bufs);
        }
        let after = ALLOCS.load(Ordering::SeqCst);
        TRACK.with(|t| t.set(false));
        after - before
    });
    assert_eq!(count, 0, "gemm allocated {count} times after warm-up");
}
