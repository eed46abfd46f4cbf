//! `hicra bench sampler|learner|step|branch`: throughput of the two halves of RL on one model,
//! of a whole step (`step`, in [`crate::cmd_bench_step`]) and of tree rollouts' branching
//! (`branch`, in [`crate::cmd_bench_branch`]).
//!
//! * `sampler`: `batch` prompts of `prompt_len` random tokens, `new_tokens` tokens each (no stop
//!   tokens, so every row generates them all); prefill and decode timed apart; decode tokens/s
//!   is what generation-bound RL runs at. On the CPU in f32 this is the host path
//!   ([`hicra_model::native`]; the copy of the weights it makes per call is timed apart, as
//!   `weights_copy_ms`); `--tensors` times the burn-tensor path instead (every other device's),
//!   so the two compare in one run.
//! * `learner`: teacher-forced scoring of `batch` sequences of `seq_len` tokens, backward, one
//!   AdamW step; tokens/s and achieved model FLOP/s (6 x parameters x tokens, plus attention),
//!   and utilisation when `--peak-tflops` names the device's peak. `--path` picks the forward
//!   and backward pass as the learner's `compute_path` does ([`hicra_train::pass`]: host
//!   kernels on the CPU in f32 by default, burn's autodiff elsewhere or with `--path tensor`);
//!   on the host path the weights' copy, the forward and backward passes and the optimiser step
//!   are timed apart.
//!
//! One warm-up round runs first and is not counted; figures are medians over `--rounds`.
//! Peak memory is the process's resident high-water mark (`VmHWM`) on the CPU and the bytes
//! burn's memory pool reserved on a GPU. `--device` places the model (`cuda:0`, `wgpu:0`);
//! `--dtype bf16|f16` stores the sampler's weights in that type and runs the learner in mixed
//! precision (f32 weights and optimiser, low-precision layers).

use std::time::Instant;

use burn::optim::{AdamWConfig, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::{Args, Subcommand};
use hicra_model::{
    ComputePath, Llama, ModelConfig, NativeLlama, RuntimeAutodiff, SampleRequest, sample_on_tensors,
};
use hicra_train::pass::{Pass, takes_host_path};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::bench_measure::{
    Common, Generation, exactly, median, memory_mib, print_header, random_rows,
};
use crate::model_arg;
use miette::IntoDiagnostic;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Generation: prefill and decode tokens/s.
    Sampler(SamplerArgs),
    /// Training: forward + backward + AdamW tokens/s and FLOP/s.
    Learner(LearnerArgs),
    /// One RL step: sample groups, learn from them, move the weights back to the sampler.
    Step(crate::cmd_bench_step::StepArgs),
    /// Tree branching: children from the parent's kept cache against prefilling each prefix.
    Branch(crate::cmd_bench_branch::BranchArgs),
}

#[derive(Args, Debug)]
struct SamplerArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    generation: Generation,
}

#[derive(Args, Debug)]
struct LearnerArgs {
    #[command(flatten)]
    common: Common,
    /// Tokens per sequence (prompt + response).
    #[arg(long, default_value_t = 256, value_parser = model_arg::positive)]
    seq_len: usize,
    /// The device's peak dense FLOP/s in TFLOP/s, to report model FLOPs utilisation.
    #[arg(long)]
    peak_tflops: Option<f64>,
    /// Which implementation runs the forward and backward pass, as the learner's
    /// `compute_path`: `auto` (host kernels on the CPU in f32, burn's autodiff elsewhere),
    /// `host` or `tensor`.
    #[arg(long, default_value = "auto")]
    path: ComputePath,
}

pub fn run(args: BenchArgs) -> miette::Result<()> {
    match args.command {
        BenchCommand::Sampler(args) => sampler(args),
        BenchCommand::Learner(args) => learner(args),
        BenchCommand::Step(args) => crate::cmd_bench_step::run(args),
        BenchCommand::Branch(args) => crate::cmd_bench_branch::run(args),
    }
}

fn sampler(args: SamplerArgs) -> miette::Result<()> {
    let (c, args) = (&args.common, &args.generation);
    let device = model_arg::open_device_in(c.device, c.dtype)?;
    let loaded = model_arg::load(&c.model, Some(args.prompt_len + args.new_tokens), &device)?;
    // the f32 copy is dropped as it is cast: peak memory is that of the stored type
    let (model, config) = (&loaded.model.stored_in(c.dtype), &loaded.config);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let started = Instant::now();
    let native = if args.tensors {
        None
    } else {
        NativeLlama::for_model(model)
    };
    let copy_ms = native
        .as_ref()
        .map(|_| started.elapsed().as_secs_f64() * 1e3);
    let path = if native.is_some() { "host" } else { "tensors" };
    print_header(
        c.json,
        "batch  prefill tok/s  decode tok/s  ms/decode step      peak MiB",
    );
    for &batch in &c.batch {
        let prompts = random_rows(&mut rng, batch, args.prompt_len, config.vocab_size);
        let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        let params = exactly(args.new_tokens);
        let mut prefill_secs = Vec::new();
        let mut decode_secs = Vec::new();
        for round in 0..=c.rounds {
            let started = Instant::now();
            match &native {
                Some(native) => drop(native.prefill_logits(&refs)),
                None => prefill(model, &prompts, &device),
            }
            let prefill = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let seeds: Vec<u64> = refs.iter().map(|_| rng.random()).collect();
            let request = SampleRequest::new(&refs, 1, &params, &seeds);
            let out = match &native {
                Some(native) => native.sample(&request),
                None => sample_on_tensors(model, &request, &device),
            };
            let total = started.elapsed().as_secs_f64();
            assert!(out.iter().all(|g| g[0].tokens.len() == args.new_tokens));
            if round > 0 {
                prefill_secs.push(prefill);
                decode_secs.push((total - prefill).max(1e-9));
            }
        }
        let (prefill, decode) = (median(&mut prefill_secs), median(&mut decode_secs));
        let prefill_tps = (batch * args.prompt_len) as f64 / prefill;
        let decode_tps = (batch * args.new_tokens) as f64 / decode;
        let step_ms = decode / args.new_tokens as f64 * 1e3;
        let mem = memory_mib(&device);
        if c.json {
            println!(
                "{}",
                json!({"bench": "sampler", "model": c.model, "batch": batch,
                    "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
                    "prefill_tokens_per_sec": prefill_tps, "decode_tokens_per_sec": decode_tps,
                    "ms_per_decode_step": step_ms, "peak_mib": mem, "device": c.device.to_string(),
                    "dtype": c.dtype.to_string(), "path": path, "weights_copy_ms": copy_ms})
            );
        } else {
            println!(
                "{batch:>5}  {prefill_tps:>13.1}  {decode_tps:>12.1}  {step_ms:>14.1}  {mem:>12.0}"
            );
        }
    }
    if let (Some(ms), false) = (copy_ms, c.json) {
        println!("host path; copying the weights to it took {ms:.0} ms (once per call in a run)");
    }
    Ok(())
}

/// The prompt forward pass alone (as `sample_on_tensors` runs it), for the prefill figure.
fn prefill<B: Backend>(model: &Llama<B>, prompts: &[Vec<u32>], device: &B::Device) {
    let len = prompts[0].len();
    let ids: Vec<i64> = prompts.iter().flatten().map(|&t| i64::from(t)).collect();
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [prompts.len(), len]), device);
    let mut cache = hicra_model::KvCache::new(model.blocks.len());
    let last = model.hidden(input, Some(&mut cache)).narrow(1, len - 1, 1);
    let _ = model.project(last, model.inference_head()).into_data();
}

fn learner(args: LearnerArgs) -> miette::Result<()> {
    let c = &args.common;
    let device = model_arg::open_device_in(c.device, c.dtype)?;
    let loaded = model_arg::load_on::<RuntimeAutodiff>(&c.model, Some(args.seq_len), &device)?;
    let config = loaded.config.clone();
    let mut model = loaded.model.computing_in(c.dtype);
    let mut optim = AdamWConfig::new().init::<RuntimeAutodiff, Llama<RuntimeAutodiff>>();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let path = if takes_host_path(&model, args.path) {
        "host"
    } else {
        "tensor"
    };
    if !c.json {
        println!("{path} path");
    }
    print_header(
        c.json,
        "batch  tokens/s  ms/step  model GFLOP/s  MFU      peak MiB",
    );
    for &batch in &c.batch {
        let rows = random_rows(&mut rng, batch, args.seq_len, config.vocab_size);
        let pairs: Vec<(&[u32], &[u32])> = rows.iter().map(|r| (&r[..1], &r[1..])).collect();
        let temperatures = vec![1.0; batch];
        let mut secs = Vec::new();
        let mut phases: [Vec<f64>; 4] = Default::default();
        for round in 0..=c.rounds {
            let started = Instant::now();
            let mut lap = Laps::new();
            // the host path copies the weights, as the learner does once per optimiser step
            let mut pass = Pass::new(&model, args.path);
            let copy = lap.next();
            // entropies computed and not trained through, as `score` always did here
            let (scored, tape) = pass.forward(&model, &pairs, &temperatures, true);
            let forward = lap.next();
            let loss = (scored.logprobs * scored.mask).mean().neg();
            pass.backward(&model, loss, tape);
            let backward = lap.next();
            let grads = pass.grads(&model);
            model = optim.step(1e-5, model, grads);
            RuntimeAutodiff::sync(&device).into_diagnostic()?;
            let step = lap.next();
            if round > 0 {
                secs.push(started.elapsed().as_secs_f64());
                for (all, one) in phases.iter_mut().zip([copy, forward, backward, step]) {
                    all.push(one);
                }
            }
        }
        let step = median(&mut secs);
        // phases are only timed apart on the host path (the tensor path runs asynchronously)
        let [copy, forward, backward, optimizer] =
            phases.map(|mut p| (path == "host").then(|| median(&mut p)));
        let tokens = (batch * args.seq_len) as f64;
        let flops = training_flops(&config, batch, args.seq_len);
        let gflops = flops / step / 1e9;
        let mfu = args.peak_tflops.map(|peak| gflops / (peak * 1e3));
        let mem = memory_mib(&device);
        if c.json {
            println!(
                "{}",
                json!({"bench": "learner", "model": c.model, "batch": batch, "seq_len": args.seq_len,
                    "tokens_per_sec": tokens / step, "secs_per_step": step,
                    "model_gflops_per_sec": gflops, "mfu": mfu, "peak_mib": mem, "device": c.device.to_string(),
                    "dtype": c.dtype.to_string(), "path": path, "weights_copy_secs": copy,
                    "forward_secs": forward, "backward_secs": backward, "optimizer_secs": optimizer})
            );
        } else {
            let mfu = mfu.map_or("-".to_string(), |m| format!("{:.1}%", m * 100.0));
            let phases = match (copy, forward, backward, optimizer) {
                (Some(c), Some(f), Some(b), Some(o)) => format!(
                    "  (copy {:.1} ms, forward {:.1} ms, backward {:.1} ms, optimiser {:.1} ms)",
                    c * 1e3,
                    f * 1e3,
                    b * 1e3,
                    o * 1e3
                ),
                _ => String::new(),
            };
            println!(
                "{batch:>5}  {:>8.1}  {:>7.0}  {gflops:>13.1}  {mfu:>4}  {mem:>12.0}{phases}",
                tokens / step,
                step * 1e3
            );
        }
    }
    Ok(())
}

/// Seconds between successive calls.
struct Laps(Instant);

impl Laps {
    fn new() -> Self {
        Self(Instant::now())
    }

    fn next(&mut self) -> f64 {
        let now = Instant::now();
        let secs = now.duration_since(self.0).as_secs_f64();
        self.0 = now;
        secs
    }
}

/// Forward + backward FLOPs of one step: 6 per matmul parameter per token (the embedding
/// lookup is no matmul, the head is; a tied matrix counts once) plus attention's `QK^T` and
/// `AV` (causal: half the square).
fn training_flops(c: &ModelConfig, batch: usize, seq: usize) -> f64 {
    let embedding = (c.vocab_size * c.hidden_size) as f64;
    let matmul_params = if c.tie_word_embeddings {
        c.num_parameters() as f64
    } else {
        c.num_parameters() as f64 - embedding
    };
    let tokens = (batch * seq) as f64;
    let attention = 2.0 * 2.0 * (c.num_heads * c.head_dim()) as f64 * seq as f64 / 2.0;
    3.0 * tokens * (2.0 * matmul_params + c.num_layers as f64 * attention)
}
