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
        let mut best: Option<usize> = None;
        for (i, b) in self.free.iter().enumerate() {
            if b.capacity() >= n && best.is_none_or(|j| b.capacity() < self.free[j].capacity()) {
                best = Some(i);
                if b.capacity() == n {
                    break;
                }
            }
        }
        match best {
            Some(i) => {
                let mut v = self.free.swap_remove(i);
                v.clear();
                v.resize(n, 0.0);
                v
            }
            None => vec![0.0; n],
        }
    }

    /// A buffer holding a copy of `src`.
    pub(crate) fn take_copy(&mut self, src: &[f32]) -> Vec<f32> {
        let mut v = self.take(src.len());
        v.copy_from_slice(src);
        v
    }

    /// Returns a buffer for reuse.
    pub(crate) fn give(&mut self, v: Vec<f32>) {
        if v.capacity() > 0 {
            self.free.push(v);
        }
    }
}
