//! Strided matrix views (raw pointer + strides) and the checks done once at
//! the API boundary, before any kernel runs.

use std::marker::PhantomData;

/// A read-only strided matrix: element `(i, j)` at `ptr + i * rs + j * cs`.
///
/// Created only from a slice whose length [`check_len`] has validated for the
/// sizes it will be used with.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
    _life: PhantomData<&'a [f32]>,
}

// SAFETY: a MatRef is a shared borrow of an `&[f32]`, which is Send + Sync.
unsafe impl Send for MatRef<'_> {}
// SAFETY: as above, only reads go through it.
unsafe impl Sync for MatRef<'_> {}

impl<'a> MatRef<'a> {
    pub fn new(s: &'a [f32], rs: usize, cs: usize) -> Self {
        MatRef {
            ptr: s.as_ptr(),
            rs,
            cs,
            _life: PhantomData,
        }
    }

    /// A view of raw memory (e.g. a packed panel).
    #[cfg(feature = "fast")]
    pub fn from_raw(ptr: *const f32, rs: usize, cs: usize) -> Self {
        MatRef {
            ptr,
            rs,
            cs,
            _life: PhantomData,
        }
    }

    /// The sub-matrix starting at `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must be inside the matrix the view was checked for (or one past
    /// it when the sub-matrix is empty).
    #[inline(always)]
    pub unsafe fn at(self, i: usize, j: usize) -> Self {
        MatRef {
            // SAFETY: caller guarantees the offset stays inside the slice.
            ptr: unsafe { self.ptr.add(i * self.rs + j * self.cs) },
            ..self
        }
    }

    /// The transposed view (strides swapped; no data moves).
    #[inline(always)]
    #[cfg(feature = "fast")]
    pub fn t(self) -> Self {
        MatRef {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Element `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must be inside the checked matrix.
    #[inline(always)]
    pub unsafe fn get(self, i: usize, j: usize) -> f32 {
        // SAFETY: caller guarantees the element is inside the slice.
        unsafe { *self.ptr.add(i * self.rs + j * self.cs) }
    }
}

/// A writable strided matrix: element `(i, j)` at `ptr + i * rs + j * cs`.
///
/// Copies of it are handed to parallel tasks that each write a disjoint block
/// of output elements (see [`disjoint`]).
#[derive(Clone, Copy)]
pub(crate) struct MatMut<'a> {
    pub ptr: *mut f32,
    pub rs: usize,
    pub cs: usize,
    _life: PhantomData<&'a mut [f32]>,
}

// SAFETY: tasks only write disjoint element sets (checked by `disjoint` before
// any parallel split), so sharing the pointer across threads is race-free.
unsafe impl Send for MatMut<'_> {}
// SAFETY: as above.
unsafe impl Sync for MatMut<'_> {}

impl<'a> MatMut<'a> {
    pub fn new(s: &'a mut [f32], rs: usize, cs: usize) -> Self {
        MatMut {
            ptr: s.as_mut_ptr(),
            rs,
            cs,
            _life: PhantomData,
        }
    }

    /// The sub-matrix starting at `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must be inside the checked matrix.
    #[inline(always)]
    pub unsafe fn at(self, i: usize, j: usize) -> Self {
        MatMut {
            // SAFETY: caller guarantees the offset stays inside the slice.
            ptr: unsafe { self.ptr.add(i * self.rs + j * self.cs) },
            ..self
        }
    }

    /// The transposed view (strides swapped; no data moves).
    #[inline(always)]
    #[cfg(feature = "fast")]
    pub fn t(self) -> Self {
        MatMut {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Pointer to element `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must be inside the checked matrix.
    #[inline(always)]
    pub unsafe fn ptr_at(self, i: usize, j: usize) -> *mut f32 {
        // SAFETY: caller guarantees the element is inside the slice.
        unsafe { self.ptr.add(i * self.rs + j * self.cs) }
    }
}

/// Panics unless a slice of length `len` holds every element of a
/// `rows x cols` matrix with strides `(rs, cs)`.
#[track_caller]
pub(crate) fn check_len(name: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let need = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
        .and_then(|x| x.checked_add(1));
    match need {
        Some(need) if need <= len => {}
        Some(need) => panic!(
            "gemm: operand {name} too short: a {rows}x{cols} matrix with strides \
             ({rs}, {cs}) needs {need} elements, but the slice has {len}"
        ),
        None => panic!("gemm: operand {name}: size/stride arithmetic overflows usize"),
    }
}

/// True when the `m x n` view `c` addresses `m * n` distinct elements, so
/// blocks of it can be written by different threads.
pub(crate) fn disjoint(m: usize, n: usize, c: MatMut) -> bool {
    if m <= 1 || n <= 1 {
        // A single row/column: distinct iff its one relevant stride is nonzero.
        return (m <= 1 || c.rs != 0) && (n <= 1 || c.cs != 0);
    }
    let row_major = c.cs >= 1 && c.rs > (n - 1) * c.cs;
    let col_major = c.rs >= 1 && c.cs > (m - 1) * c.rs;
    row_major || col_major
}

/// `C <- beta * C` (with `beta == 0`, `C <- 0` without reading C).
pub(crate) fn scale(m: usize, n: usize, beta: f32, c: MatMut) {
    if beta == 1.0 {
        return;
    }
    for i in 0..m {
        for j in 0..n {
            // SAFETY: (i, j) is inside the checked m x n view.
            unsafe {
                let p = c.ptr_at(i, j);
                *p = if beta == 0.0 { 0.0 } else { beta * *p };
            }
        }
    }
}
