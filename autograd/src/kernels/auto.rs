//! What [`Kernel::Auto`](super::Kernel::Auto) runs for a given shape.

/// The implementation [`Kernel::Auto`](super::Kernel::Auto) picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AutoChoice {
    /// The AVX2 no-pack path ([`gemm_small`](super::gemm_small)).
    Small,
    /// The blocked kernel with the AVX2+FMA micro-kernel.
    Avx2Blocked,
    /// The portable blocked kernel (CPU without AVX2+FMA).
    PortableBlocked,
}

/// The choice [`Kernel::Auto`](super::Kernel::Auto) makes for an
/// `m x k` times `k x n` product on this CPU. Depends only on the shape
/// (never on the thread count), so results stay bitwise reproducible.
pub fn auto_choice(m: usize, k: usize, n: usize) -> AutoChoice {
    if !super::avx2_available() {
        return AutoChoice::PortableBlocked;
    }
    let _ = (m, k, n);
    AutoChoice::Avx2Blocked
}
