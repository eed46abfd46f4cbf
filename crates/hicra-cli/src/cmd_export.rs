//! `hicra export`: a policy out to a Hugging Face directory or a GGUF file (see `hicra_export`).
//! A pretrained file converts directly (GGUF <-> Hugging Face, its stored values
//! dequantized); a run or checkpoint is rebuilt from its `policy.json` and weights. A run
//! trained with LoRA also exports its adapters as a PEFT adapter (`--format peft`), and the
//! frozen base they apply to (`--base`).

use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use clap::Args;
use hicra_export::{
    ExportDtype, ExportOptions, Exported, Format, HostTensor, LayerAdapter, LoraAdapter,
    LoraModule, Pretrained,
};
use hicra_model::{Llama, LoadedModel, RuntimeBackend};
use hicra_train::PolicyModelConfig;
use hicra_train::lora::checkpoint::{LORA_FILE, LoraFile, read_lora_file};
use miette::miette;

use crate::inputs::Inputs;
use crate::model_arg::MODEL_HELP;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(help = MODEL_HELP)]
    model: String,
    /// `hf` (a Hugging Face directory: transformers, vLLM), `gguf` (llama.cpp), or `peft`
    /// (a LoRA run's adapters as a PEFT adapter directory).
    #[arg(long)]
    format: Format,
    /// Where to write: a directory for `hf` and `peft`, a `.gguf` file for `gguf`.
    #[arg(long)]
    out: PathBuf,
    /// Storage type of the weights: `f32`, `f16`, `bf16`, or `q8_0` (GGUF only).
    #[arg(long, default_value = "f32")]
    dtype: ExportDtype,
    /// With a run directory: the checkpoint of this learner step (default: the newest).
    #[arg(long)]
    step: Option<u64>,
    /// With a LoRA run (`hf`, `gguf`): the frozen base its adapters apply to, rebuilt as the
    /// run built it and checked against `lora.json`'s sha256, instead of the merged policy.
    #[arg(long)]
    base: bool,
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
    let options = ExportOptions {
        dtype: args.dtype,
        force: args.force,
        max_shard_bytes: args.max_shard_bytes,
        ..ExportOptions::new(args.format)
    };
    if args.format == Format::Peft {
        if args.base {
            return Err(miette!(
                "--base exports the base model: use it with --format hf or gguf"
            ));
        }
        let adapter = lora_adapter(&args.model, args.step)?;
        let done =
            hicra_export::export_peft(&adapter, &args.out, &options).map_err(|e| miette!("{e}"))?;
        println!(
            "exported the LoRA adapters of {} (rank {}, alpha {}, {} on {} layers) as PEFT {:?} \
             to {} ({:.1} MB)",
            args.model,
            adapter.rank,
            adapter.alpha,
            modules_of(&adapter),
            adapter
                .layers
                .iter()
                .map(|l| l.layer)
                .max()
                .map_or(0, |l| l + 1),
            args.dtype,
            done.path.display(),
            done.bytes as f64 / 1e6,
        );
        return list(&done);
    }
    let model = source_model(&args.model, args.step, args.base)?;
    let done = hicra_export::export(&model, &args.out, &options).map_err(|e| miette!("{e}"))?;
    let c = &model.config;
    println!(
        "exported {}{} ({} layers, width {}, {} tokens, {} parameters) as {:?} {:?} to {} \
         ({:.1} MB)",
        if args.base { "the LoRA base of " } else { "" },
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
    list(&done)
}

fn list(done: &Exported) -> miette::Result<()> {
    for file in &done.files {
        println!("  {file}");
    }
    Ok(())
}

fn modules_of(adapter: &LoraAdapter) -> String {
    let names: Vec<&str> = adapter.modules().iter().map(|m| m.hf_name()).collect();
    names.join(", ")
}

/// The checkpoint directory of run `spec` (`None` when `spec` is no run).
fn checkpoint_dir(spec: &str, step: Option<u64>) -> miette::Result<Option<PathBuf>> {
    let path = Path::new(spec);
    if !hicra_train::trained::is_run(path) {
        if step.is_some() {
            return Err(miette!(
                "--step picks a checkpoint of a run; {spec} is not a run directory"
            ));
        }
        return Ok(None);
    }
    let point = hicra_train::trained::checkpoint_of(path, step).map_err(|e| miette!("{e}"))?;
    Ok(Some(point.dir))
}

/// The policy of checkpoint `dir`, as trained (the merged policy of a LoRA run).
fn trained(spec: &str, dir: &Path) -> miette::Result<LoadedModel<RuntimeBackend>> {
    hicra_train::trained::load_checkpoint::<RuntimeBackend>(dir, None, &hicra_model::cpu())
        .map_err(|e| miette!("{spec}: {e}"))
}

/// `lora.json` of checkpoint `dir`, or why it is no LoRA checkpoint.
/// `instead` says how to export it then.
fn lora_file(spec: &str, dir: &Path, instead: &str) -> miette::Result<LoraFile> {
    if !dir.join(LORA_FILE).is_file() {
        return Err(miette!(
            "{spec}: this checkpoint trains every weight (it was not trained with LoRA: it has \
             no {LORA_FILE}): export it with {instead}"
        ));
    }
    read_lora_file(dir).map_err(|e| miette!("{e}"))
}

/// The adapters of LoRA run (or checkpoint) `spec` in PEFT's terms.
fn lora_adapter(spec: &str, step: Option<u64>) -> miette::Result<LoraAdapter> {
    let Some(dir) = checkpoint_dir(spec, step)? else {
        return Err(miette!(
            "{spec} is not a run: --format peft exports the adapters of a run trained with LoRA \
             (`lora` in the learner); export a model with --format hf or gguf"
        ));
    };
    lora_file(spec, &dir, "--format hf")?;
    let policy = trained(spec, &dir)?;
    let (file, adapters) =
        hicra_train::lora::load_adapters(&dir, &policy.model).map_err(|e| miette!("{e}"))?;
    let layers = adapters
        .entries()
        .map(|(layer, target, adapter)| LayerAdapter {
            layer,
            module: LoraModule::parse(target.name()).expect("every LoRA target has a module"),
            a: host(adapter.a.val()),
            b: host(adapter.b.val()),
        })
        .collect();
    let scratch = file.base.init_seed.is_some();
    Ok(LoraAdapter {
        rank: file.lora.rank,
        alpha: file.lora.alpha,
        base_model: if scratch {
            String::new()
        } else {
            file.base.path
        },
        base_sha256: Some(file.base.sha256),
        layers,
    })
}

/// A tensor on the host, in f32, in its own layout.
fn host(tensor: Tensor<RuntimeBackend, 2>) -> HostTensor {
    let shape = tensor.dims().to_vec();
    let data = tensor
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("converted to f32");
    HostTensor::new(shape, data, "F32").expect("a tensor's data fills its shape")
}

/// The frozen base of LoRA checkpoint `dir`, rebuilt as the learner built it (its
/// `model.checkpoint`, or the architecture from scratch with its init seed), refused unless
/// its hash is the one `lora.json` recorded.
fn lora_base(spec: &str, dir: &Path) -> miette::Result<LoadedModel<RuntimeBackend>> {
    let file = lora_file(spec, dir, "--format hf, without --base")?;
    let mut policy = trained(spec, dir)?;
    let described = dir.join(hicra_train::trained::POLICY_FILE);
    let text =
        std::fs::read_to_string(&described).map_err(|e| miette!("{}: {e}", described.display()))?;
    let model: PolicyModelConfig =
        serde_json::from_str(&text).map_err(|e| miette!("{}: {e}", described.display()))?;
    let device = hicra_model::cpu();
    let base: Llama<RuntimeBackend> = match (&model.checkpoint, file.base.init_seed) {
        (Some(source), _) => {
            hicra_train::trained::load_policy(source, Some(model.max_seq_len), &device)
                .map_err(|e| miette!("{spec}: the LoRA base {source}: {e}"))?
                .model
        }
        (None, Some(seed)) => Llama::init(&model.model_config(), seed, &device),
        (None, None) => return Err(miette!("{spec}: {LORA_FILE} names no base init seed")),
    };
    let sha = hicra_train::lora::weights_sha256(&base);
    if sha != file.base.sha256 {
        return Err(miette!(
            "{spec}: the rebuilt LoRA base ({}) has sha256 {sha}, not {} as {LORA_FILE} \
             recorded: its file changed since the run",
            file.base.path,
            file.base.sha256
        ));
    }
    policy.model = base;
    Ok(policy)
}

/// The model `spec` names (with `base`, a LoRA run's base), as host tensors with its
/// tokenizer and template.
fn source_model(spec: &str, step: Option<u64>, base: bool) -> miette::Result<Pretrained> {
    if let Some(dir) = checkpoint_dir(spec, step)? {
        let loaded = if base {
            lora_base(spec, &dir)?
        } else {
            trained(spec, &dir)?
        };
        return loaded
            .to_pretrained()
            .ok_or_else(|| miette!("{spec}: the policy has no tokenizer"));
    }
    if base {
        return Err(miette!(
            "--base exports the base of a run trained with LoRA; {spec} is not a run directory"
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
