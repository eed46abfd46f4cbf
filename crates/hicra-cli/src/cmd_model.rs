//! `hicra model info|logits`: what a checkpoint holds, and its next-token distributions.

use clap::{Args, Subcommand};
use hicra_model::prompt_logits;
use miette::IntoDiagnostic;
use serde_json::json;

use crate::model_arg::{self, DEVICE_HELP, MODEL_HELP};
use hicra_model::DeviceSpec;

#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Architecture, parameter count, storage types, tokenizer.
    Info {
        #[arg(help = MODEL_HELP)]
        model: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Top next-token logits at the last prompt positions, as JSON.
    Logits(LogitsArgs),
}

#[derive(Args, Debug)]
struct LogitsArgs {
    #[arg(long, help = MODEL_HELP)]
    model: String,
    /// The prompt, tokenized as-is (special tokens in it are parsed; BOS only if the model's
    /// metadata asks for it).
    #[arg(long)]
    prompt: String,
    /// How many final positions to report.
    #[arg(long, default_value_t = 1)]
    last: usize,
    /// How many logits per position, highest first.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Output JSON (the only format; accepted for explicitness).
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
}

pub fn run(args: ModelArgs) -> miette::Result<()> {
    match args.command {
        ModelCommand::Info { model, json } => info(&model, json),
        ModelCommand::Logits(args) => logits(args),
    }
}

fn info(spec: &str, as_json: bool) -> miette::Result<()> {
    let loaded = model_arg::load(spec, None, &hicra_model::cpu())?;
    let c = &loaded.config;
    let mut value = json!({
        "model": spec,
        "parameters": c.num_parameters(),
        "layers": c.num_layers,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "heads": c.num_heads,
        "kv_heads": c.num_kv_heads,
        "head_dim": c.head_dim(),
        "vocab_size": c.vocab_size,
        "rope_theta": c.rope_theta,
        "rms_norm_eps": c.rms_norm_eps,
        "tied_embeddings": c.tie_word_embeddings,
        "attention_bias": c.attention_bias,
    });
    if let Some(ckpt) = &loaded.checkpoint {
        let special = ckpt.tokenizer.special_tokens();
        value["architecture"] = json!(ckpt.config.architecture);
        value["context_length"] = json!(ckpt.config.max_position_embeddings);
        value["rope_layout"] = json!(format!("{:?}", ckpt.config.rope_layout));
        value["storage_types"] = json!(ckpt.dtypes);
        value["tokenizer"] = json!({
            "vocab_size": ckpt.tokenizer.vocab_size(),
            "bos": special.bos,
            "eos": special.eos,
            "add_bos": special.add_bos,
        });
        value["stop_tokens"] = json!(ckpt.config.eos_token_ids);
    } else {
        value["architecture"] = json!("llama (random init)");
    }
    if as_json {
        println!("{value}");
    } else {
        for (key, v) in value.as_object().into_iter().flatten() {
            println!("{key:>18}  {v}");
        }
    }
    Ok(())
}

fn logits(args: LogitsArgs) -> miette::Result<()> {
    let device = model_arg::open_device(args.device)?;
    let loaded = model_arg::load(&args.model, None, &device)?;
    let ckpt = model_arg::tokenizer(&loaded, &args.model)?;
    let ids = ckpt
        .tokenizer
        .encode_prompt(&args.prompt)
        .into_diagnostic()?
        .ids;
    if ids.is_empty() {
        miette::bail!("the prompt tokenizes to nothing");
    }
    if ids.len() > loaded.config.max_seq_len {
        miette::bail!(
            "the prompt has {} tokens; the model covers {}",
            ids.len(),
            loaded.config.max_seq_len
        );
    }
    let out = prompt_logits(&loaded.model, &ids, args.last, args.top_k, &device);
    println!("{}", serde_json::to_string(&out).into_diagnostic()?);
    Ok(())
}
