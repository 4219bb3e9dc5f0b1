//! Shapes and NumPy-style broadcasting.
//!
//! A [`Shape`] is a small inline array (rank at most [`MAX_RANK`]), so building an op never
//! allocates for its shape. Tensors are row-major and contiguous, so a shape fully determines the
//! strides.

use std::fmt;

/// The largest rank a tensor may have. Four covers every model in this project (a VAE needs two).
pub const MAX_RANK: usize = 4;

/// The dimensions of a row-major tensor: `dims()[0]` is the slowest-varying axis.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: u8,
}

impl Shape {
    /// A shape from its dimensions. Panics if `dims.len() > MAX_RANK`.
    #[track_caller]
    pub fn new(dims: &[usize]) -> Shape {
        assert!(
            dims.len() <= MAX_RANK,
            "shape {dims:?} has rank {}, the engine supports at most {MAX_RANK}",
            dims.len()
        );
        let mut d = [1; MAX_RANK];
        d[..dims.len()].copy_from_slice(dims);
        Shape {
            dims: d,
            rank: dims.len() as u8,
        }
    }

    /// The shape of a scalar (rank 0, one element).
    pub fn scalar() -> Shape {
        Shape::new(&[])
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    /// The number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.dims().iter().product()
    }

    /// Size of one axis.
    #[track_caller]
    pub fn dim(&self, axis: usize) -> usize {
        self.dims()[axis]
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> [usize; MAX_RANK] {
        let mut s = [0; MAX_RANK];
        let mut acc = 1;
        for i in (0..self.rank()).rev() {
            s[i] = acc;
            acc *= self.dims[i];
        }
        s
    }

    /// The same shape with `axis` set to `size` (used for keep-dims reductions).
    pub fn with_dim(&self, axis: usize, size: usize) -> Shape {
        let mut s = *self;
        s.dims[axis] = size;
        s
    }

    /// The same shape with `axis` removed.
    pub fn without_dim(&self, axis: usize) -> Shape {
        let mut d = [1; MAX_RANK];
        let mut r = 0;
        for (i, &x) in self.dims().iter().enumerate() {
            if i != axis {
                d[r] = x;
                r += 1;
            }
        }
        Shape::new(&d[..r])
    }

    /// The shape `a op b` has under NumPy broadcasting, or `None` when they do not broadcast.
    ///
    /// Shapes are aligned at their last axis; two sizes are compatible when equal or when one is 1.
    pub fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
        let rank = a.rank().max(b.rank());
        let mut d = [1; MAX_RANK];
        for (i, slot) in d.iter_mut().enumerate().take(rank) {
            let da = a.aligned(i, rank);
            let db = b.aligned(i, rank);
            *slot = if da == db || db == 1 {
                da
            } else if da == 1 {
                db
            } else {
                return None;
            };
        }
        Some(Shape::new(&d[..rank]))
    }

    /// Size of axis `i` when this shape is right-aligned to `rank` axes (missing axes are 1).
    pub fn aligned(&self, i: usize, rank: usize) -> usize {
        let offset = rank - self.rank();
        if i < offset { 1 } else { self.dims[i - offset] }
    }

    /// Strides for reading this tensor as if it had shape `out` (which it broadcasts to):
    /// broadcast axes get stride 0. Returned right-aligned to `out.rank()` axes.
    pub fn broadcast_strides(&self, out: &Shape) -> [usize; MAX_RANK] {
        let rank = out.rank();
        let own = self.strides();
        let offset = rank - self.rank();
        let mut s = [0; MAX_RANK];
        for (i, slot) in s.iter_mut().enumerate().take(rank) {
            if i >= offset && self.dims[i - offset] != 1 {
                *slot = own[i - offset];
            }
        }
        s
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.dims())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.dims())
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Shape {
        Shape::new(d)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Shape {
        Shape::new(&d)
    }
}

/// Visits every element of a broadcast binary operation: calls `f(out_index, a_index, b_index)`
/// in row-major order of `out`. `sa` and `sb` are the inputs' broadcast strides (see
/// [`Shape::broadcast_strides`]).
#[inline]
pub(crate) fn for_each_broadcast(
    out: &Shape,
    sa: &[usize; MAX_RANK],
    sb: &[usize; MAX_RANK],
    mut f: impl FnMut(usize, usize, usize),
) {
    // Pad to four axes on the left so one loop nest covers every rank.
    let r = out.rank();
    let mut d = [1; MAX_RANK];
    let mut a = [0; MAX_RANK];
    let mut b = [0; MAX_RANK];
    for i in 0..r {
        d[MAX_RANK - r + i] = out.dims()[i];
        a[MAX_RANK - r + i] = sa[i];
        b[MAX_RANK - r + i] = sb[i];
    }
    let mut o = 0;
    for i0 in 0..d[0] {
        for i1 in 0..d[1] {
            for i2 in 0..d[2] {
                let ba = i0 * a[0] + i1 * a[1] + i2 * a[2];
                let bb = i0 * b[0] + i1 * b[1] + i2 * b[2];
                for i3 in 0..d[3] {
                    f(o, ba + i3 * a[3], bb + i3 * b[3]);
                    o += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_rules() {
        let s = |d: &[usize]| Shape::new(d);
        assert_eq!(Shape::broadcast(&s(&[3, 4]), &s(&[4])), Some(s(&[3, 4])));
        assert_eq!(Shape::broadcast(&s(&[3, 1]), &s(&[1, 4])), Some(s(&[3, 4])));
        assert_eq!(Shape::broadcast(&s(&[]), &s(&[2, 5])), Some(s(&[2, 5])));
        assert_eq!(Shape::broadcast(&s(&[3, 4]), &s(&[3])), None);
        assert_eq!(s(&[2, 3]).broadcast_strides(&s(&[4, 2, 3])), [0, 3, 1, 0]);
        assert_eq!(s(&[3, 1]).broadcast_strides(&s(&[3, 4])), [1, 0, 0, 0]);
    }
}
