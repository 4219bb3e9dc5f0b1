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
