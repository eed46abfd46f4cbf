//! `hicra export`: a policy out to a Hugging Face directory or a GGUF file (see `hicra_export`).
//! A pretrained file converts directly (GGUF <-> Hugging Face, its stored values
//! dequantized); a run or checkpoint is rebuilt from its `policy.json` and weights.

use std::path::{Path, PathBuf};

use clap::Args;
use hicra_export::{ExportDtype, ExportOptions, Format, Pretrained};
use hicra_model::RuntimeBackend;
use miette::miette;

use crate::inputs::Inputs;
use crate::model_arg::MODEL_HELP;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(help = MODEL_HELP)]
    model: String,
    /// `hf` (a Hugging Face directory: transformers, vLLM) or `gguf` (llama.cpp).
    #[arg(long)]
    format: Format,
    /// Where to write: a directory for `hf`, a `.gguf` file for `gguf`.
    #[arg(long)]
    out: PathBuf,
    /// Storage type of the weights: `f32`, `f16`, `bf16`, or `q8_0` (GGUF only).
    #[arg(long, default_value = "f32")]
    dtype: ExportDtype,
    /// With a run directory: the checkpoint of this learner step (default: the newest).
    #[arg(long)]
    step: Option<u64>,
    /// Replace an existing output.
    #[arg(long)]
    force: bool,
    /// Largest safetensors shard in bytes before the weights are split (`hf`).
    #[arg(long, default_value_t = 2_000_000_000, hide = true)]
    max_shard_bytes: u64,
}

pub fn run(args: ExportArgs) -> miette::Result<()> {
    let mut inputs = Inputs::new();
    inputs.model("MODEL", &args.model);
    inputs.finish()?;
    let model = source_model(&args.model, args.step)?;
    let options = ExportOptions {
        dtype: args.dtype,
        force: args.force,
        max_shard_bytes: args.max_shard_bytes,
        ..ExportOptions::new(args.format)
    };
    let done = hicra_export::export(&model, &args.out, &options).map_err(|e| miette!("{e}"))?;
    let c = &model.config;
    println!(
        "exported {} ({} layers, width {}, {} tokens, {} parameters) as {:?} {:?} to {} ({:.1} MB)",
        args.model,
        c.num_layers,
        c.hidden_size,
        c.vocab_size,
        c.num_parameters(),
        args.format,
        args.dtype,
        done.path.display(),
        done.bytes as f64 / 1e6,
    );
    for file in &done.files {
        println!("  {file}");
    }
    Ok(())
}

/// The model `spec` names, as host tensors with its tokenizer and template.
fn source_model(spec: &str, step: Option<u64>) -> miette::Result<Pretrained> {
    let path = Path::new(spec);
    if hicra_train::trained::is_run(path) {
        let point = hicra_train::trained::checkpoint_of(path, step).map_err(|e| miette!("{e}"))?;
        let loaded = hicra_train::trained::load_checkpoint::<RuntimeBackend>(
            &point.dir,
            None,
            &hicra_model::cpu(),
        )
        .map_err(|e| miette!("{spec}: {e}"))?;
        return loaded
            .to_pretrained()
            .ok_or_else(|| miette!("{spec}: the policy has no tokenizer"));
    }
    if step.is_some() {
        return Err(miette!(
            "--step picks a checkpoint of a run; {spec} is not a run directory"
        ));
    }
    match hicra_model::ModelSource::parse(spec) {
        hicra_model::ModelSource::Checkpoint(file) => {
            hicra_pretrained::load(&file).map_err(|e| miette!("{spec}: {e}"))
        }
        hicra_model::ModelSource::Random { .. } => Err(miette!(
            "{spec} has random weights and no tokenizer: there is nothing to export"
        )),
    }
}
