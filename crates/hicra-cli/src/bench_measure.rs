//! What the benchmarks share: workloads (random prompts, sampling that never stops early) and
//! measurements (medians, peak memory).

use hicra_model::{SamplingParams, gpu_memory_reserved};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Plain sampling at temperature 1 with no stop tokens: every row generates `new_tokens`.
pub(crate) fn exactly(new_tokens: usize) -> SamplingParams {
    SamplingParams {
        temperature: 1.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: new_tokens,
        stop_tokens: vec![],
    }
}

pub(crate) fn random_rows(
    rng: &mut ChaCha8Rng,
    rows: usize,
    len: usize,
    vocab: usize,
) -> Vec<Vec<u32>> {
    (0..rows)
        .map(|_| {
            (0..len)
                .map(|_| rng.random_range(0..vocab as u32))
                .collect()
        })
        .collect()
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Peak memory in MiB: on a GPU what burn's pool holds (it keeps its pages, so this is its
/// high-water mark), on the CPU the process's resident high-water mark.
pub(crate) fn memory_mib(device: &hicra_model::Device) -> f64 {
    gpu_memory_reserved(device).map_or_else(peak_rss_mib, |bytes| bytes as f64 / 1048576.0)
}

/// The resident-set high-water mark of this process, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
