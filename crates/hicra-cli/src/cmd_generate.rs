//! `hicra generate`: sample a continuation of a prompt (optionally wrapped in the model's chat
//! template) and print it, with token counts and speed on stderr.

use std::time::Instant;

use clap::Args;
use hicra_model::{Generator, SampleRequest, SamplingParams, stop_strings};
use miette::IntoDiagnostic;

use crate::model_arg::{self, DEVICE_HELP, MODEL_HELP};
use hicra_model::DeviceSpec;

/// Positions of the RoPE tables `generate` loads: prompt and continuation together.
const CONTEXT: usize = 4096;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(long, help = MODEL_HELP)]
    model: String,
    /// The prompt (the user message with `--chat`).
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt in the model's chat template (ChatML for SmolLM2).
    #[arg(long)]
    chat: bool,
    /// System message for `--chat`.
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus mass (1 disables).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Keep the k likeliest tokens (0 disables).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// How many continuations to draw (in one batch).
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Stop once the response contains this text (repeatable); the model's end-of-turn
    /// tokens always stop it.
    #[arg(long)]
    stop: Vec<String>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
}

pub fn run(args: GenerateArgs) -> miette::Result<()> {
    let device = model_arg::open_device(args.device)?;
    let loaded = model_arg::load(&args.model, Some(CONTEXT), &device)?;
    let ckpt = model_arg::tokenizer(&loaded, &args.model)?;
    let text = if args.chat {
        ckpt.chat_template
            .render(args.system.as_deref(), &args.prompt)
    } else {
        args.prompt.clone()
    };
    let prompt = ckpt.tokenizer.encode_prompt(&text).into_diagnostic()?.ids;
    if prompt.is_empty() {
        miette::bail!("the prompt tokenizes to nothing");
    }
    if prompt.len() >= CONTEXT {
        miette::bail!(
            "the prompt is {} tokens; at most {} fit this command's {CONTEXT}-position context \
             with room for one new token",
            prompt.len(),
            CONTEXT - 1
        );
    }
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        max_new_tokens: args.max_new_tokens,
        stop_tokens: ckpt.config.eos_token_ids.clone(),
    };
    let started = Instant::now();
    let stop = stop_strings(&ckpt.tokenizer, &args.stop);
    let (prompts, seeds): ([&[u32]; 1], _) = ([&prompt], [args.seed]);
    let request = SampleRequest::new(&prompts, args.samples.max(1), &params, &seeds);
    let samples = Generator::new(loaded.model.clone())
        .sample(&request.until(&stop), &device)
        .remove(0);
    let secs = started.elapsed().as_secs_f64();
    let generated: usize = samples.iter().map(|s| s.tokens.len()).sum();
    for (i, sample) in samples.iter().enumerate() {
        if samples.len() > 1 {
            println!("--- sample {i}");
        }
        println!(
            "{}",
            ckpt.tokenizer
                .decode(&sample.tokens, true)
                .into_diagnostic()?
        );
    }
    eprintln!(
        "{} prompt tokens, {generated} generated in {secs:.2} s ({:.1} tokens/s)",
        prompt.len(),
        generated as f64 / secs
    );
    Ok(())
}
