//! `hicra bench branch`: what a tree rollout's branching costs, against sampling the same
//! children by prefilling their prefixes.
//!
//! `batch` prompts of `prompt_len` random tokens each get one response of `new_tokens` tokens
//! (kept, with its cache: [`Generator::sample_kept`]); every row is then branched at `at` into
//! `children` children of `new_tokens - at` tokens. Two ways to draw those children are timed
//! on the same rows with the same streams: `branch`, continuing the parent's kept cache
//! ([`Generator::branch`]: the prefix is never run again), and `prefill`, plain sampling with
//! each prefix (prompt + first `at` tokens) as the prompt (what independent sampling, and the
//! tensor path before it kept caches, pays). The children are the same draws either way; the
//! share whose tokens agree is reported, and the largest log-probability gap over the tokens
//! two draws share (float noise between a prefilled and a decoded cache can flip a near-tie;
//! a gap near 1e-5 says that is all it is). On the CPU in f32 this is the host path; `--tensors` (or a bf16/f16
//! `--dtype`, or a GPU) times the burn-tensor path.

use std::time::Instant;

use clap::Args;
use hicra_model::{
    Branch, Generator, KeptRows, Llama, RuntimeBackend, Sample, SampleRequest, SamplingParams,
    branch_on_tensors, sample_kept_on_tensors, sample_on_tensors,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::bench_measure::{
    Common, Generation, exactly, median, memory_mib, print_header, random_rows,
};
use crate::model_arg;

#[derive(Args, Debug)]
pub struct BranchArgs {
    #[command(flatten)]
    common: Common,
    // `new_tokens` is each parent response's length; children draw `new_tokens - at`
    #[command(flatten)]
    generation: Generation,
    /// Children per branch.
    #[arg(long, default_value_t = 4, value_parser = model_arg::positive)]
    children: usize,
    /// Response position every row branches at (default: the middle of `--new-tokens`);
    /// children draw the `new_tokens - at` tokens after it.
    #[arg(long)]
    at: Option<usize>,
}

/// The two ways of drawing children, on one path.
struct Paths<'a> {
    generator: Generator<RuntimeBackend>,
    tensors: bool,
    device: &'a hicra_model::Device,
}

impl Paths<'_> {
    fn model(&self) -> &Llama<RuntimeBackend> {
        self.generator.model()
    }

    fn kept(&self, request: &SampleRequest) -> KeptRows<RuntimeBackend> {
        if self.tensors {
            sample_kept_on_tensors(self.model(), request, self.device).1
        } else {
            self.generator.sample_kept(request, self.device).1
        }
    }

    fn branch(
        &self,
        kept: &KeptRows<RuntimeBackend>,
        branches: &[Branch],
        n: usize,
        params: &SamplingParams,
    ) -> Vec<Vec<Sample>> {
        let never = |_: &[u32]| false;
        if self.tensors {
            branch_on_tensors(self.model(), kept, branches, n, params, &never, self.device).0
        } else {
            let g = &self.generator;
            g.branch(kept, branches, n, params, &never, self.device).0
        }
    }

    fn plain(&self, request: &SampleRequest) -> Vec<Vec<Sample>> {
        if self.tensors {
            sample_on_tensors(self.model(), request, self.device)
        } else {
            self.generator.sample(request, self.device)
        }
    }
}

/// The largest log-probability difference between two draws of one child over the tokens
/// they share before they first differ (how far apart the two ways' logits are).
fn agreeing_gap(a: &Sample, b: &Sample) -> f32 {
    a.tokens
        .iter()
        .zip(&b.tokens)
        .zip(a.logprobs.iter().zip(&b.logprobs))
        .take_while(|((x, y), _)| x == y)
        .map(|(_, (x, y))| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn run(args: BranchArgs) -> miette::Result<()> {
    let (c, g) = (&args.common, &args.generation);
    let at = args.at.unwrap_or(g.new_tokens / 2);
    if at >= g.new_tokens {
        miette::bail!(
            "--at {at} leaves children nothing to draw (new_tokens {})",
            g.new_tokens
        );
    }
    let device = model_arg::open_device_in(c.device, c.dtype)?;
    let loaded = model_arg::load(&c.model, Some(g.prompt_len + g.new_tokens), &device)?;
    let model = loaded.model.stored_in(c.dtype);
    let tensors = g.tensors || !hicra_model::NativeLlama::takes_host_path(&model);
    let paths = Paths {
        generator: Generator::new(model),
        tensors,
        device: &device,
    };
    let path = if tensors { "tensors" } else { "host" };
    let n = args.children;
    let child_tokens = g.new_tokens - at;
    if !c.json {
        println!("{path} path; {n} children of {child_tokens} tokens per row, branched at {at}");
    }
    print_header(
        c.json,
        "batch  branch ms  prefill ms  branch/prefill  same tokens  logprob gap      peak MiB",
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for &batch in &c.batch {
        let prompts = random_rows(&mut rng, batch, g.prompt_len, loaded.config.vocab_size);
        let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        let params = exactly(g.new_tokens);
        let seeds: Vec<u64> = refs.iter().map(|_| rng.random()).collect();
        let kept = paths.kept(&SampleRequest::new(&refs, 1, &params, &seeds));
        let branches: Vec<Branch> = (0..batch)
            .map(|row| Branch {
                row,
                at,
                seed: seeds[row] ^ 0x5eed,
            })
            .collect();
        let prefixes: Vec<Vec<u32>> = (0..batch)
            .map(|row| kept.sequence(row)[..g.prompt_len + at].to_vec())
            .collect();
        let prefix_refs: Vec<&[u32]> = prefixes.iter().map(Vec::as_slice).collect();
        let branch_seeds: Vec<u64> = branches.iter().map(|b| b.seed).collect();
        let child_params = exactly(child_tokens);
        let plain_request = SampleRequest::new(&prefix_refs, n, &child_params, &branch_seeds);
        let (mut branch_secs, mut prefill_secs) = (Vec::new(), Vec::new());
        let (mut same, mut gap) = (0.0, 0.0f32);
        for round in 0..=c.rounds {
            let started = Instant::now();
            let branched = paths.branch(&kept, &branches, n, &params);
            let branch = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let plain = paths.plain(&plain_request);
            let prefill = started.elapsed().as_secs_f64();
            let children = || branched.iter().flatten().zip(plain.iter().flatten());
            let agree = children().filter(|(b, p)| b.tokens == p.tokens).count();
            same = agree as f64 / (batch * n) as f64;
            gap = children()
                .map(|(b, p)| agreeing_gap(b, p))
                .fold(0.0, f32::max);
            if round > 0 {
                branch_secs.push(branch);
                prefill_secs.push(prefill);
            }
        }
        let (branch, prefill) = (median(&mut branch_secs), median(&mut prefill_secs));
        let ratio = branch / prefill;
        let mem = memory_mib(&device);
        if c.json {
            println!(
                "{}",
                json!({"bench": "branch", "model": c.model, "batch": batch,
                    "prompt_len": g.prompt_len, "new_tokens": g.new_tokens, "at": at,
                    "children": n, "branch_ms": branch * 1e3, "prefill_ms": prefill * 1e3,
                    "branch_over_prefill": ratio, "same_tokens": same, "logprob_gap": gap, "peak_mib": mem,
                    "device": c.device.to_string(), "dtype": c.dtype.to_string(), "path": path})
            );
        } else {
            println!(
                "{batch:>5}  {:>9.1}  {:>10.1}  {ratio:>14.3}  {same:>11.3}  {gap:>11.1e}  {mem:>12.0}",
                branch * 1e3,
                prefill * 1e3
            );
        }
    }
    Ok(())
}
