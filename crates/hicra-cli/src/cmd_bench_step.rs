//! `hicra bench step`: one whole RL step on one model: `prompts x group` responses sampled on
//! the sampler's device, scored, back-propagated and updated with AdamW on the learner's, and
//! the new weights moved back to the sampler (through host memory when the two devices are of
//! different backends). The learn phase cuts the batch into micro-batches as the learner does
//! ([`hicra_train::plan_micro_batches`]), accumulating gradients, on the path
//! `--learner-path` picks (the learner's `compute_path`: [`hicra_train::pass`]). Reports the
//! three phases' seconds and the step's throughput in generated tokens per second, the figure
//! a generation-bound RL run is limited by.

use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamWConfig, Optimizer};
use burn::tensor::backend::Backend;
use clap::Args;
use hicra_model::{
    ComputePath, DeviceSpec, Llama, Precision, RuntimeAutodiff, RuntimeBackend, sample_batch,
};
use hicra_train::lora::{Lora, LoraConfig};
use hicra_train::pass::Pass;
use hicra_train::plan_micro_batches;
use miette::{IntoDiagnostic, miette};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::bench_measure::{exactly, median, memory_mib, random_rows};
use crate::model_arg::{self, DEVICE_HELP, DTYPE_HELP, MODEL_HELP};

#[derive(Args, Debug)]
pub struct StepArgs {
    #[arg(long, default_value = "random:smollm2-135m", help = MODEL_HELP)]
    model: String,
    /// Prompts per step.
    #[arg(long, default_value_t = 8)]
    prompts: usize,
    /// Responses per prompt (GRPO's G).
    #[arg(long, default_value_t = 8)]
    group: usize,
    /// Prompt tokens per row.
    #[arg(long, default_value_t = 64)]
    prompt_len: usize,
    /// Generated tokens per response (no stop tokens: every row generates them all).
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    /// Measured steps (median reported), after one warm-up step.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The learner's device.
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
    /// The sampler's device. Default: the learner's.
    #[arg(long)]
    sampler_device: Option<DeviceSpec>,
    /// The sampler stores its weights in this type, the learner computes in it over f32
    /// weights (mixed precision).
    #[arg(long, default_value = "f32", help = DTYPE_HELP)]
    dtype: Precision,
    /// Responses per forward/backward pass (the learner's `micro_batch_size`).
    #[arg(long, default_value_t = 32)]
    micro_batch_size: usize,
    /// Padded tokens per forward/backward pass, 0 = no limit (the learner's
    /// `micro_batch_tokens`).
    #[arg(long, default_value_t = 512)]
    micro_batch_tokens: usize,
    /// Which implementation runs the learner's forward and backward pass (its
    /// `compute_path`): `auto` (host kernels on the CPU in f32, burn's autodiff elsewhere),
    /// `host` or `tensor`.
    #[arg(long, default_value = "auto")]
    learner_path: ComputePath,
    /// Train LoRA adapters of this rank (alpha twice the rank, on all seven dense layers of
    /// each block) on the frozen weights instead of every weight, as `lora = { rank = R }`
    /// does in a learner.
    #[arg(long)]
    lora: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StepArgs) -> miette::Result<()> {
    let learner_spec = args.device;
    let sampler_spec = args.sampler_device.unwrap_or(learner_spec);
    let device = model_arg::open_device_in(learner_spec, args.dtype)?;
    let sampler_device = model_arg::open_device_in(sampler_spec, args.dtype)?;
    let seq = args.prompt_len + args.new_tokens;
    let loaded = model_arg::load_on::<RuntimeAutodiff>(&args.model, Some(seq), &device)?;
    let vocab = loaded.config.vocab_size;
    let mut model = loaded.model.computing_in(args.dtype);
    let to_sampler = |model: &Llama<RuntimeAutodiff>| -> Llama<RuntimeBackend> {
        model
            .valid()
            .to_device(&sampler_device)
            .stored_in(args.dtype)
    };
    let mut optim = AdamWConfig::new().init::<RuntimeAutodiff, Llama<RuntimeAutodiff>>();
    let mut lora = match args.lora {
        Some(rank) => {
            let config = LoraConfig {
                rank,
                alpha: 2.0 * rank as f64,
                ..LoraConfig::default()
            };
            Some(Lora::new(&config, &model, &args.model, None, 0, 1e-4).map_err(|e| miette!(e))?)
        }
        None => None,
    };
    // what one weights update carries between processes: the adapters, or every weight
    let update_bytes = 4 * match &lora {
        Some(l) => l.trainable_params(),
        None => model.num_params(),
    };
    let mut policy = to_sampler(&model);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let prompts = random_rows(&mut rng, args.prompts, args.prompt_len, vocab);
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let params = exactly(args.new_tokens);
    let (mut sample_secs, mut learn_secs, mut sync_secs, mut step_secs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut learner_path = "";
    for round in 0..=args.rounds {
        let seeds: Vec<u64> = refs.iter().map(|_| rng.random()).collect();
        let started = Instant::now();
        let groups = sample_batch(&policy, &refs, args.group, &params, &seeds, &sampler_device);
        let sampled = started.elapsed().as_secs_f64();

        let at = Instant::now();
        let pairs: Vec<(&[u32], &[u32])> = prompts
            .iter()
            .zip(&groups)
            .flat_map(|(p, g)| g.iter().map(move |s| (&p[..], &s.tokens[..])))
            .collect();
        let lengths: Vec<usize> = pairs.iter().map(|(p, r)| p.len() + r.len()).collect();
        let tokens = pairs.iter().map(|(_, r)| r.len()).sum::<usize>() as f32;
        // the host path copies the weights once per step, as the learner does
        let mut pass = Pass::new(&model, args.learner_path);
        learner_path = pass.name();
        for range in plan_micro_batches(&lengths, args.micro_batch_size, args.micro_batch_tokens) {
            let temperatures = vec![1.0; range.len()];
            // as the learner scores without an entropy bonus
            let (scored, tape) = pass.forward(&model, &pairs[range], &temperatures, false);
            let loss = (scored.logprobs * scored.mask).sum().neg() / tokens;
            pass.backward(&model, loss, tape);
        }
        let grads = pass.grads(&model);
        model = match &mut lora {
            Some(lora) => {
                let grads = lora.project(&model, &grads);
                lora.step(1e-6, model, grads)
            }
            None => optim.step(1e-6, model, grads),
        };
        RuntimeAutodiff::sync(&device).into_diagnostic()?;
        let learned = at.elapsed().as_secs_f64();

        let at = Instant::now();
        policy = to_sampler(&model);
        RuntimeBackend::sync(&sampler_device).into_diagnostic()?;
        let synced = at.elapsed().as_secs_f64();
        if round > 0 {
            sample_secs.push(sampled);
            learn_secs.push(learned);
            sync_secs.push(synced);
            step_secs.push(started.elapsed().as_secs_f64());
        }
    }
    let step = median(&mut step_secs);
    let (sample, learn, sync) = (
        median(&mut sample_secs),
        median(&mut learn_secs),
        median(&mut sync_secs),
    );
    let generated = (args.prompts * args.group * args.new_tokens) as f64;
    let trained = (args.prompts * args.group * seq) as f64;
    let mem = memory_mib(&device).max(memory_mib(&sampler_device));
    if args.json {
        println!(
            "{}",
            json!({"bench": "step", "model": args.model, "prompts": args.prompts, "group": args.group,
                "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
                "secs_per_step": step, "sample_secs": sample, "learn_secs": learn, "sync_secs": sync,
                "micro_batch_size": args.micro_batch_size, "micro_batch_tokens": args.micro_batch_tokens,
                "generated_tokens_per_sec": generated / step, "trained_tokens_per_sec": trained / learn,
                "peak_mib": mem, "device": learner_spec.to_string(), "sampler_device": sampler_spec.to_string(),
                "dtype": args.dtype.to_string(), "learner_path": learner_path,
                "lora_rank": args.lora, "update_bytes": update_bytes})
        );
    } else {
        match args.lora {
            Some(rank) => println!("learner: {learner_path} path, LoRA rank {rank}"),
            None => println!("learner: {learner_path} path"),
        }
        println!(
            "weights update: {:.1} MiB",
            update_bytes as f64 / (1024.0 * 1024.0)
        );
        println!("s/step  sample s  learn s  sync s  generated tok/s  trained tok/s  peak MiB");
        println!(
            "{step:>6.2}  {sample:>8.2}  {learn:>7.2}  {sync:>6.3}  {:>15.1}  {:>13.1}  {mem:>8.0}",
            generated / step,
            trained / learn
        );
    }
    Ok(())
}
