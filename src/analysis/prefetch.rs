//! Cache prefetch hints. On a busy capture thousands of connections take turns, so the
//! state a frame needs is rarely in the CPU's cache; the pipeline looks one and two frames
//! ahead and asks the CPU to start loading that state while the current frame is handled
//! (see [`crate::analysis::pipeline::Analyzer::frame`]). Hints only: they change nothing
//! the program computes.

/// Hints the CPU to load `value` (its first KiB at most) into its cache.
#[inline(always)]
pub fn value<T>(value: &T) {
    bytes(value as *const T as *const u8, std::mem::size_of::<T>());
}

/// Hints the CPU to load the `len` bytes at `p` (the first KiB at most) into its cache.
#[inline(always)]
pub fn bytes(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..len.min(1024)).step_by(64) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is not a memory access in the sense of the abstract machine: it
        // cannot fault and has no observable effect, so any address is sound.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off) as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}
