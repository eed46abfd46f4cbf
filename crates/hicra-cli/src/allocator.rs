//! glibc's malloc, set up for tensor work in the `hicra` binary. burn's CPU backend gives
//! every op a fresh output buffer, and glibc serves each large block with a fresh `mmap`:
//! the kernel faults in and zeroes every page on first touch and unmaps the block on free,
//! so the next op pays again (page faults and page clearing were a seventh of the learner's
//! time). Here every block comes from the heap (`M_MMAP_MAX = 0`) and freed memory stays in
//! the process for the next op or step: trimming is off (`M_TRIM_THRESHOLD = -1`, no limit).
//! A trim threshold of 1 GiB still gave back the learner's per-step buffers (its host path's
//! activations, logits and gradients, well over 1 GiB together for SmolLM2) at the end of
//! every step, and faulting them in again, with a TLB shootdown per page written, cost a
//! fifth of a step; without trimming the process keeps its high-water mark resident (the peak
//! is unchanged: `bench/BENCHMARKS.md`). Only the binary does this, a program using the
//! library keeps its own allocator settings; set `HICRA_GLIBC_MALLOC=default` to keep glibc's
//! defaults.

/// Environment variable that keeps glibc's defaults when set to `default`.
pub const OPT_OUT: &str = "HICRA_GLIBC_MALLOC";

/// Applies the settings (glibc on Linux only; elsewhere nothing to do).
pub fn tune() {
    if std::env::var(OPT_OUT).is_ok_and(|v| v == "default") {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        // -1 reads as the largest size: never trim
        libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
    }
}
