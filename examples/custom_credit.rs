//! A credit assigner written outside the workspace's crates, registered beside the built-in
//! stages and picked by `kind` in a TOML pipeline.
//!
//! `credit.length_penalized` takes GRPO's advantages (the library's [`CreditAssigner`]) and
//! shrinks the *positive* ones of long responses: a response of `len` tokens, longer than
//! `reference_tokens`, keeps `reference_tokens / len` of its advantage when it beat its group,
//! and all of it when it did worse. Among right answers the concise ones are reinforced most,
//! while wrong answers are pushed down as hard as before (a gentle cousin of DAPO's overlong
//! penalty that never turns a good answer's credit negative). Two figures join the credit
//! metrics: `length_penalty/scale_mean` (mean factor over responses with positive advantage)
//! and `length_penalty/shrunk_frac` (share of them that were shrunk).
//!
//! The stage is the usual two types: [`LengthPenalizedConfig`] (serde, `deny_unknown_fields`,
//! declares the ports, `check`s values, builds) and [`LengthPenalized`], a pure `step` that
//! hicra-flow's map-like loop ([`MapLoop`]) runs over every batch. `main` takes the `hicra`
//! binary's registry, adds the new kind, and loads `examples/custom_credit.toml` (the
//! quickstart with `kind = "credit.length_penalized"`) exactly as `hicra run` does, with
//! `--set` overrides; then it runs the pipeline and prints the final figures from the run's
//! `metrics.jsonl`.
//!
//! ```sh
//! cargo run --release --example custom_credit                  # the whole quickstart
//! cargo run --release --example custom_credit -- --steps 20 --sft-steps 100 --out runs/lp
//! ```

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use hicra::credit::metrics::token_metrics;
use hicra::credit::{CreditAssigner, CreditError, Estimator, ZeroVariance};
use hicra::flow::map::{self, MapLoop, Reporting};
use hicra::flow::{
    BoxError, BuildContext, Invalid, Pipeline, Ports, Stage, StageConfig, StageContext,
    StageResult, refuse,
};
use hicra::messages::{Metrics, PLANNING_MASK, RolloutBatch};
use hicra::metrics::report::Series;
use serde::Deserialize;

/// `credit.length_penalized`: GRPO advantages, positive ones shrunk for long responses.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LengthPenalizedConfig {
    /// Responses up to this many tokens keep their whole advantage; a longer one's positive
    /// advantage is scaled by `reference_tokens / length`. Default 24.
    pub reference_tokens: usize,
    /// Added to the group's standard deviation when normalising. Default 1e-6.
    pub eps: f64,
}

impl Default for LengthPenalizedConfig {
    fn default() -> Self {
        Self {
            reference_tokens: 24,
            eps: 1e-6,
        }
    }
}

impl StageConfig for LengthPenalizedConfig {
    const KIND: &'static str = "credit.length_penalized";
    const SUMMARY: &'static str = "GRPO advantages, the positive ones shrunk for long responses";
    const EXAMPLE: &'static str = r#"[stages.credit]
kind = "credit.length_penalized"
inputs = { rollouts = "tagger.rollouts" }
reference_tokens = 24
eps = 1e-6
"#;

    fn ports(&self) -> Ports {
        map::ports_with_metrics::<RolloutBatch>(
            "verified, tagged rollouts",
            "the batch with per-token advantages",
            "advantage and length-penalty figures",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if self.reference_tokens == 0 {
            problems.push(Invalid::new(
                "reference_tokens",
                "reference_tokens must be at least 1",
            ));
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            problems.push(Invalid::new(
                "eps",
                format!("eps must be finite and >= 0, got {}", self.eps),
            ));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let grpo = CreditAssigner {
            estimator: Estimator::Grpo,
            eps: self.eps,
            transforms: Vec::new(),
            zero_variance: ZeroVariance::Keep,
            step_credit: None,
        };
        Ok(Box::new(LengthPenalized {
            grpo,
            reference_tokens: self.reference_tokens,
        }))
    }
}

/// The running stage.
pub struct LengthPenalized {
    grpo: CreditAssigner,
    reference_tokens: usize,
}

impl LengthPenalized {
    /// GRPO's advantages, then the length factor on the positive ones; the batch's figures.
    pub fn step(&self, batch: &mut RolloutBatch) -> Result<Metrics, CreditError> {
        self.grpo.assign(batch)?;
        let (mut rewarded, mut shrunk, mut scale_sum) = (0usize, 0usize, 0.0f64);
        for rollout in batch.rollouts_mut() {
            if !rollout.advantages.iter().any(|a| *a > 0.0) {
                continue;
            }
            let scale = (self.reference_tokens as f64 / rollout.len() as f64).min(1.0);
            rollout
                .advantages
                .iter_mut()
                .filter(|a| **a > 0.0)
                .for_each(|a| *a *= scale as f32);
            rewarded += 1;
            shrunk += usize::from(scale < 1.0);
            scale_sum += scale;
        }
        let mut metrics = token_metrics(batch, PLANNING_MASK);
        if rewarded > 0 {
            metrics.insert(
                "length_penalty/scale_mean".into(),
                scale_sum / rewarded as f64,
            );
            metrics.insert(
                "length_penalty/shrunk_frac".into(),
                shrunk as f64 / rewarded as f64,
            );
        }
        Ok(metrics)
    }
}

impl Stage for LengthPenalized {
    /// The map-like loop: each batch's figures go to `metrics` and ride on the batch.
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let map = MapLoop::new().reporting(Reporting::Each);
        map.run(ctx, |batch: &mut RolloutBatch| Ok(self.step(batch)?))
    }
}

/// Runs the quickstart task with `credit.length_penalized` as its credit stage.
#[derive(Parser)]
struct Args {
    /// Pipeline file(s), merged in order as `hicra run` merges them.
    #[arg(default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/custom_credit.toml"))]
    files: Vec<PathBuf>,
    /// RL steps (the sampler's `steps` and the progress bar's total); absent = the file's.
    #[arg(long)]
    steps: Option<u64>,
    /// Supervised warm-up steps before RL (the learner's `sft.steps`); absent = the file's.
    #[arg(long)]
    sft_steps: Option<u64>,
    /// Override one value, as `hicra run --set` does (repeatable).
    #[arg(long = "set", value_name = "DOTTED.KEY=VALUE")]
    overrides: Vec<String>,
    /// Output directory; absent = a fresh one under the system's temporary directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn run(args: Args) -> Result<Series, String> {
    let mut overrides = Vec::new();
    if let Some(steps) = args.steps {
        overrides.push(format!("stages.sampler.steps={steps}"));
        overrides.push(format!("stages.metrics.total_steps={steps}"));
    }
    if let Some(steps) = args.sft_steps {
        overrides.push(format!("stages.learner.sft.steps={steps}"));
    }
    overrides.extend(args.overrides);
    let mut registry = hicra::registry();
    registry.register::<LengthPenalizedConfig>();
    let pipeline = Pipeline::from_files(&registry, &args.files, &overrides)
        .map_err(|d| format!("the pipeline has problems; nothing was run\n{d}"))?;
    let out = common::out_dir(args.out, "custom-credit")?;
    let show = [
        "reward/mean",
        "accuracy/train",
        "accuracy/eval",
        "length_penalty/scale_mean",
        "length_penalty/shrunk_frac",
        "advantage/mean_abs",
    ];
    common::run_and_summarize(pipeline, &out, &show)
}

fn main() -> ExitCode {
    common::exit("custom_credit", run(Args::parse()))
}

#[cfg(test)]
mod tests {

    use hicra::messages::{Group, Prompt, Rollout};

    use super::*;

    /// A group of three: a right answer of `long` tokens, a right one of 4, a wrong one of 4.
    fn batch(long: usize) -> RolloutBatch {
        let rollout = |n: usize, reward: f64| Rollout {
            tokens: vec![7; n],
            text: "x".repeat(n),
            token_spans: (0..n).map(|i| (i, i + 1)).collect(),
            logprobs: vec![-0.5; n],
            entropies: vec![0.1; n],
            reward: Some(reward),
            correct: Some(reward > 0.5),
            ..Default::default()
        };
        let rollouts = vec![rollout(long, 1.0), rollout(4, 1.0), rollout(4, 0.0)];
        RolloutBatch::new(0, vec![Group::new(Prompt::new("q", "?", "1"), rollouts)])
    }

    #[test]
    fn long_right_answers_keep_a_share_of_their_advantage_and_wrong_ones_all_of_it() {
        let config = LengthPenalizedConfig {
            reference_tokens: 8,
            ..Default::default()
        };
        let stage = LengthPenalized {
            grpo: CreditAssigner {
                estimator: Estimator::Grpo,
                eps: config.eps,
                transforms: Vec::new(),
                zero_variance: ZeroVariance::Keep,
                step_credit: None,
            },
            reference_tokens: config.reference_tokens,
        };
        let (mut plain, mut penalized) = (batch(4), batch(32));
        stage.step(&mut plain).unwrap();
        let metrics = stage.step(&mut penalized).unwrap();
        let adv = |b: &RolloutBatch, i: usize| b.groups[0].rollouts[i].advantages[0];
        // Same rewards, so GRPO gives the same advantages; only the long one is scaled, by 8/32.
        assert!((adv(&penalized, 0) - adv(&plain, 0) * 0.25).abs() < 1e-6);
        assert_eq!(adv(&penalized, 1), adv(&plain, 1));
        assert!(adv(&penalized, 2) < 0.0 && adv(&penalized, 2) == adv(&plain, 2));
        assert!((metrics["length_penalty/scale_mean"] - (0.25 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(metrics["length_penalty/shrunk_frac"], 0.5);
    }

    #[test]
    fn the_toml_pipeline_runs_the_registered_stage() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        // After the file's 400 warm-up steps about a third of the answers are right, so groups
        // differ (after 100 the policy is right on ~3% and two steps may see no right answer).
        let args = ["custom_credit", "--steps", "2", "--out", out];
        let series = run(Args::parse_from(args)).unwrap();
        assert_eq!(series["reward/mean"].len(), 2, "two RL steps");
        let scale = &series["length_penalty/scale_mean"];
        assert!(
            scale.iter().all(|&(_, v)| v > 0.0 && v <= 1.0),
            "the registered stage's own figures reach metrics.jsonl: {scale:?}"
        );
    }

    #[test]
    fn a_refused_value_is_reported_at_its_place_in_the_file() {
        let args = ["custom_credit", "--set", "stages.credit.reference_tokens=0"];
        let error = run(Args::parse_from(args)).unwrap_err();
        assert!(
            error.contains("--set stages.credit.reference_tokens=0:1:32: error: reference_tokens must be at least 1"),
            "the value's place, then the stage's message: {error}"
        );
        assert!(error.contains("nothing was run"), "{error}");
    }
}
