//! The `--model` argument shared by `model`, `generate` and `bench`.

use burn::tensor::backend::Backend;
use hicra_model::{CpuBackend, LoadedModel, ModelSource, load_model};
use miette::IntoDiagnostic;

/// Help text of every `--model` flag.
pub const MODEL_HELP: &str = "a .gguf file, a Hugging Face directory, `smollm2` (the fetched \
    SmolLM2-135M-Instruct GGUF) or `random:smollm2-135m` / `random:tiny` (random weights)";

/// Loads `--model` on the CPU, with RoPE tables for `max_seq_len` positions.
pub fn load(spec: &str, max_seq_len: Option<usize>) -> miette::Result<LoadedModel<CpuBackend>> {
    load_on(spec, max_seq_len)
}

/// [`load`] on a given backend (the autodiff one for learner benchmarks).
pub fn load_on<B: Backend>(
    spec: &str,
    max_seq_len: Option<usize>,
) -> miette::Result<LoadedModel<B>> {
    let started = std::time::Instant::now();
    let loaded = load_model(&ModelSource::parse(spec), max_seq_len, &Default::default())
        .into_diagnostic()?;
    tracing::info!(
        model = spec,
        secs = started.elapsed().as_secs_f64(),
        "model ready"
    );
    Ok(loaded)
}

/// The tokenizer of a pretrained model; random models have none.
pub fn tokenizer<'a>(
    loaded: &'a LoadedModel<CpuBackend>,
    spec: &str,
) -> miette::Result<&'a hicra_model::CheckpointInfo> {
    loaded.checkpoint.as_ref().ok_or_else(|| {
        miette::miette!("`{spec}` has random weights and no tokenizer; give a pretrained model")
    })
}
