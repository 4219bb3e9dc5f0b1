//! A free list of `f32` buffers, so a training step that repeats the same shapes stops allocating
//! after its first run: every buffer a cleared tape gives back is handed out again.

/// Recycled buffers, taken best-fit by capacity.
#[derive(Default)]
pub(crate) struct Pool {
    free: Vec<Vec<f32>>,
}

impl Pool {
    /// A zero-filled buffer of length `n`, reusing a freed one when one is large enough.
    pub(crate) fn take(&mut self, n: usize) -> Vec<f32> {
        match self.take_best(n) {
            Some(mut v) => {
                v.clear();
                v.resize(n, 0.0);
                v
            }
            None => vec![0.0; n],
        }
    }

    /// Removes and returns the smallest free buffer whose capacity holds `n`.
    fn take_best(&mut self, n: usize) -> Option<Vec<f32>> {
        let mut best: Option<usize> = None;
        for (i, b) in self.free.iter().enumerate() {
            if b.capacity() >= n && best.is_none_or(|j| b.capacity() < self.free[j].capacity()) {
                best = Some(i);
                if b.capacity() == n {
                    break;
                }
            }
        }
        best.map(|i| self.free.swap_remove(i))
    }

    /// A buffer of length `n` whose contents are unspecified (leftovers of an earlier use, or
    /// zeros): for callers that overwrite every element. Skips the zero-fill of [`Pool::take`].
    pub(crate) fn take_dirty(&mut self, n: usize) -> Vec<f32> {
        let mut v = self.take_best(n).unwrap_or_default();
        if v.len() >= n {
            v.truncate(n);
        } else {
            v.resize(n, 0.0);
        }
        v
    }

    /// A buffer holding a copy of `src` (not zero-filled first: every element is overwritten).
    pub(crate) fn take_copy(&mut self, src: &[f32]) -> Vec<f32> {
        let mut v = self.take_best(src.len()).unwrap_or_default();
        v.clear();
        v.extend_from_slice(src);
        v
    }

    /// Returns a buffer for reuse.
    pub(crate) fn give(&mut self, v: Vec<f32>) {
        if v.capacity() > 0 {
            self.free.push(v);
        }
    }
}
