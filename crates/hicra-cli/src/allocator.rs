//! glibc's malloc, set up for tensor work in the `hicra` binary. burn's CPU backend gives
//! every op a fresh output buffer, and glibc serves each large block with a fresh `mmap`:
//! the kernel faults in and zeroes every page on first touch and unmaps the block on free,
//! so the next op pays again (page faults and page clearing were a seventh of the learner's
//! time). Here every block comes from the heap and freed memory stays in the process for
//! the next op (`M_MMAP_MAX = 0`, a trim threshold of 1 GiB): one RL step's learn phase
//! took 21% less time for 2% more peak memory (`bench/BENCHMARKS.md`). Only the binary does
//! this, a program using the library keeps its own allocator settings; set
//! `HICRA_GLIBC_MALLOC=default` to keep glibc's defaults.

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
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
