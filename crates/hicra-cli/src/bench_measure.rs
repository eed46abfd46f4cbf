//! What the benchmarks share: the common arguments ([`Common`]), workloads (random prompts,
//! sampling that never stops early) and measurements (medians, peak memory).

use clap::Args;
use hicra_model::{DeviceSpec, Precision, SamplingParams, gpu_memory_reserved};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model_arg::{self, DEVICE_HELP, DTYPE_HELP, MODEL_HELP};

/// The generation workload of `bench sampler` and `bench branch`.
#[derive(Args, Debug)]
pub(crate) struct Generation {
    /// Prompt tokens per row.
    #[arg(long, default_value_t = 64, value_parser = model_arg::positive)]
    pub(crate) prompt_len: usize,
    /// Generated tokens per row.
    #[arg(long, default_value_t = 64, value_parser = model_arg::positive)]
    pub(crate) new_tokens: usize,
    /// Time the burn-tensor path even where the CPU host path applies.
    #[arg(long)]
    pub(crate) tensors: bool,
}

/// The arguments every `hicra bench` command takes.
#[derive(Args, Debug)]
pub(crate) struct Common {
    #[arg(long, default_value = "random:smollm2-135m", help = MODEL_HELP)]
    pub(crate) model: String,
    /// Batch sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16", value_parser = model_arg::positive)]
    pub(crate) batch: Vec<usize>,
    /// Measured rounds per batch size (median reported).
    #[arg(long, default_value_t = 3, value_parser = model_arg::positive)]
    pub(crate) rounds: usize,
    /// Print one JSON object per batch size instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    pub(crate) device: DeviceSpec,
    /// The sampler stores its weights in this type; the learner keeps f32 weights and computes
    /// in it (mixed precision), as the pipeline stages do.
    #[arg(long, default_value = "f32", help = DTYPE_HELP)]
    pub(crate) dtype: Precision,
}

pub(crate) fn print_header(json: bool, header: &str) {
    if !json {
        println!("{header}");
    }
}

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
