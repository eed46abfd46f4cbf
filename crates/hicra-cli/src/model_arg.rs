//! The `--model`, `--device` and `--dtype` arguments shared by `model`, `generate`, `bench`
//! and `device`.

use burn::tensor::backend::Backend;
use hicra_model::{Device, DeviceSpec, LoadedModel, Precision, RuntimeBackend};
use miette::IntoDiagnostic;

use crate::inputs::Inputs;

/// Help text of every `--model` flag.
pub const MODEL_HELP: &str = "a .gguf file, a Hugging Face directory, a hicra run directory \
    (its newest checkpoint) or checkpoint directory (RUN/checkpoints/step-N), `smollm2` (the \
    fetched SmolLM2-135M-Instruct GGUF) or `random:smollm2-135m` / `random:tiny` (random weights)";

/// Help text of every `--device` flag.
pub const DEVICE_HELP: &str = "where to run: `cpu`, `cuda:N` or `wgpu:N` (`wgpu`: the best \
    adapter, `wgpu:cpu`: a software one); GPUs need a build with `--features cuda` / `wgpu`";

/// Help text of every `--dtype` flag.
pub const DTYPE_HELP: &str = "floating-point type: `f32`, or `bf16` / `f16` where the device \
    computes in them (checked first)";

/// Opens `--device`, checking that it answers.
pub fn open_device(spec: DeviceSpec) -> miette::Result<Device> {
    spec.open().into_diagnostic()
}

/// Opens `--device` and checks that it computes in `--dtype`.
pub fn open_device_in(spec: DeviceSpec, precision: Precision) -> miette::Result<Device> {
    let device = open_device(spec)?;
    precision.check(spec, &device).into_diagnostic()?;
    Ok(device)
}

/// Loads `--model` on `device`, with RoPE tables for `max_seq_len` positions.
pub fn load(
    spec: &str,
    max_seq_len: Option<usize>,
    device: &Device,
) -> miette::Result<LoadedModel<RuntimeBackend>> {
    load_on(spec, max_seq_len, device)
}

/// [`load`] on a given backend (the autodiff one for learner benchmarks).
pub fn load_on<B: Backend<Device = Device>>(
    spec: &str,
    max_seq_len: Option<usize>,
    device: &Device,
) -> miette::Result<LoadedModel<B>> {
    // a missing path (with how to get it) or a special file named as such, before loading
    let mut inputs = Inputs::new();
    inputs.model("--model", spec);
    inputs.finish()?;
    let started = std::time::Instant::now();
    let loaded = hicra_train::trained::load_policy(spec, max_seq_len, device)
        .map_err(|e| miette::miette!("--model {spec}: {e}"))?;
    tracing::info!(
        model = spec,
        secs = started.elapsed().as_secs_f64(),
        "model ready"
    );
    Ok(loaded)
}

/// The tokenizer of a pretrained model; random models have none.
pub fn tokenizer<'a>(
    loaded: &'a LoadedModel<RuntimeBackend>,
    spec: &str,
) -> miette::Result<&'a hicra_model::CheckpointInfo> {
    loaded.checkpoint.as_ref().ok_or_else(|| {
        miette::miette!("`{spec}` has random weights and no tokenizer; give a pretrained model")
    })
}

/// Parses a whole number of at least 1 (sizes and counts on the command line).
pub fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}
