//! k-nearest-neighbour classification accuracy of an embedding: each test point takes the
//! majority label of its `k` nearest training points (Euclidean; ties in distance go to the
//! lower index, ties in the vote to the smaller label, as scikit-learn's
//! `KNeighborsClassifier`). Brute force, in parallel over the test points.

use rayon::prelude::*;

/// Squared Euclidean distance.
pub(crate) fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The `k` nearest rows of `points` (each `dim` wide) to `q`, nearest first, leaving out the row
/// `skip` (if any); ties go to the lower index.
pub(crate) fn nearest(
    q: &[f32],
    points: &[f32],
    dim: usize,
    k: usize,
    skip: Option<usize>,
) -> Vec<usize> {
    // (distance, index), sorted; a candidate enters only if strictly nearer than the last, so
    // among equal distances the earlier index stays.
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for (j, p) in points.chunks_exact(dim).enumerate() {
        if Some(j) == skip {
            continue;
        }
        let d = dist2(q, p);
        if best.len() == k && d >= best[k - 1].0 {
            continue;
        }
        let at = best.partition_point(|&(bd, _)| bd <= d);
        best.insert(at, (d, j));
        best.truncate(k);
    }
    best.into_iter().map(|(_, j)| j).collect()
}

/// The majority label among `neighbours` (ties go to the smaller label).
fn vote(neighbours: &[usize], labels: &[u8]) -> u8 {
    let mut counts = [0usize; 256];
    for &j in neighbours {
        counts[labels[j] as usize] += 1;
    }
    let mut best = 0;
    for l in 1..256 {
        if counts[l] > counts[best] {
            best = l;
        }
    }
    best as u8
}

/// The share of `test` rows whose `k`-NN vote among the `train` rows gives their label, for each
/// `k` in `ks` (one pass finds the largest `k`'s neighbours). Rows are `dim` wide.
///
/// # Panics
/// If the sizes disagree, a `k` is 0 or exceeds the training set.
pub fn knn_accuracy(
    train: &[f32],
    train_labels: &[u8],
    test: &[f32],
    test_labels: &[u8],
    dim: usize,
    ks: &[usize],
) -> Vec<f64> {
    assert!(dim > 0 && train.len() == train_labels.len() * dim);
    assert_eq!(test.len(), test_labels.len() * dim);
    let kmax = ks.iter().copied().max().unwrap_or(1);
    assert!(
        ks.iter().all(|&k| k >= 1) && kmax <= train_labels.len(),
        "k must be between 1 and the training set's size"
    );
    let hits: Vec<Vec<bool>> = test
        .par_chunks_exact(dim)
        .zip(test_labels.par_iter())
        .map(|(q, &label)| {
            let nn = nearest(q, train, dim, kmax, None);
            ks.iter()
                .map(|&k| vote(&nn[..k], train_labels) == label)
                .collect()
        })
        .collect();
    let n = test_labels.len().max(1) as f64;
    (0..ks.len())
        .map(|i| hits.iter().filter(|h| h[i]).count() as f64 / n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};

    /// Sort every training point by (distance, index), vote by counting.
    fn brute(train: &[f32], tl: &[u8], test: &[f32], sl: &[u8], dim: usize, k: usize) -> f64 {
        let mut right = 0;
        for (q, &label) in test.chunks(dim).zip(sl) {
            let mut all: Vec<(f64, usize)> = train
                .chunks(dim)
                .enumerate()
                .map(|(j, p)| {
                    let d: f64 = q.iter().zip(p).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
                    (d, j)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut counts = [0; 10];
            for &(_, j) in &all[..k] {
                counts[tl[j] as usize] += 1;
            }
            let top = *counts.iter().max().unwrap();
            let pred = counts.iter().position(|&c| c == top).unwrap() as u8;
            right += (pred == label) as usize;
        }
        right as f64 / sl.len() as f64
    }

    #[test]
    fn matches_brute_force() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for &(dim, grid) in &[(2usize, true), (2, false), (5, false)] {
            // On a coarse grid many distances tie, which exercises the tie rules.
            let point = |rng: &mut Xoshiro256PlusPlus| -> f32 {
                if grid {
                    rng.random_range(0..6) as f32
                } else {
                    rng.random::<f32>()
                }
            };
            let train: Vec<f32> = (0..300 * dim).map(|_| point(&mut rng)).collect();
            let test: Vec<f32> = (0..120 * dim).map(|_| point(&mut rng)).collect();
            // Labels that depend on position, with noise, so accuracy is neither 0 nor 1.
            let label = |p: &[f32], r: u8| ((p[0] * 1.7) as u8 + r) % 10;
            let tl: Vec<u8> = train
                .chunks(dim)
                .map(|p| label(p, rng.random_range(0..2)))
                .collect();
            let sl: Vec<u8> = test
                .chunks(dim)
                .map(|p| label(p, rng.random_range(0..2)))
                .collect();
            let got = knn_accuracy(&train, &tl, &test, &sl, dim, &[1, 5, 7]);
            for (g, k) in got.iter().zip([1, 5, 7]) {
                assert_eq!(
                    *g,
                    brute(&train, &tl, &test, &sl, dim, k),
                    "dim {dim} k {k}"
                );
                assert!(*g > 0.0 && *g < 1.0);
            }
        }
    }

    #[test]
    fn separated_clusters_are_classified_perfectly() {
        let train = [0.0, 0.0, 0.1, 0.0, 10.0, 10.0, 10.1, 10.0];
        let test = [0.05, 0.02, 9.9, 10.2];
        let acc = knn_accuracy(&train, &[3, 3, 7, 7], &test, &[3, 7], 2, &[1, 2]);
        assert_eq!(acc, vec![1.0, 1.0]);
        let acc = knn_accuracy(&train, &[3, 3, 7, 7], &test, &[7, 3], 2, &[1]);
        assert_eq!(acc, vec![0.0]);
    }
}
