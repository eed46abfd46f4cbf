//! `hicra credit`: per-token advantages for rollouts given as JSON lines
//! `{"group": "<id>", "reward": <number>, "tags": [0|1, ...], "entropy": [...]?,
//! "correct": <bool>?}`; prints each line back with `"advantages": [...]`, in input order.
//! `correct` (default: reward > 0) matters only to the `hicra_authors` transform.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hicra_credit::{CreditAssigner, Estimator, Transform, ZeroVariance};
use hicra_messages::{Group, PLANNING_MASK, Prompt, Rollout, RolloutBatch};
use serde_json::{Map, Value};

use crate::inputs::Inputs;
use crate::jsonl::read_objects;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EstimatorArg {
    Grpo,
    Drgrpo,
    Rloo,
    ReinforcePp,
    Maxrl,
}

#[derive(Args, Debug)]
pub struct CreditArgs {
    /// JSON-lines input (`-` for stdin).
    #[arg(long)]
    input: PathBuf,
    /// Group advantage estimator.
    #[arg(long, value_enum, default_value = "grpo")]
    estimator: EstimatorArg,
    /// Token transform `name[:value]` applied in order: `hicra:0.2`, `hicra_authors:0.2`,
    /// `placebo:0.2`, `entropy_mask:0.2` (repeatable; `tags` is the mask).
    #[arg(long = "transform")]
    transforms: Vec<String>,
    /// Added to the standard deviation when normalising.
    #[arg(long, default_value_t = 1e-6)]
    eps: f64,
}

pub fn run(args: CreditArgs) -> miette::Result<()> {
    // the input file and the transforms, every problem at once
    let mut inputs = Inputs::new();
    let lines = inputs.take(read_objects(&args.input));
    let transforms = inputs.take(
        args.transforms
            .iter()
            .map(|t| Transform::parse_cli(t).map(retarget))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| miette::miette!("--transform: {e}")),
    );
    inputs.finish()?;
    let (lines, transforms) = lines.zip(transforms).expect("checked with the input");
    let estimator = match args.estimator {
        EstimatorArg::Grpo => Estimator::Grpo,
        EstimatorArg::Drgrpo => Estimator::Drgrpo,
        EstimatorArg::Rloo => Estimator::Rloo,
        EstimatorArg::ReinforcePp => Estimator::ReinforcePp,
        EstimatorArg::Maxrl => Estimator::Maxrl,
    };
    let (mut batch, positions) = to_batch(&args.input, &lines)?;
    let assigner = CreditAssigner {
        estimator,
        eps: args.eps,
        transforms,
        zero_variance: ZeroVariance::Keep,
        step_credit: None,
    };
    assigner
        .assign(&mut batch)
        .map_err(|e| miette::miette!("{e}"))?;
    for ((_, mut object), (g, i)) in lines.into_iter().zip(positions) {
        let advantages = &batch.groups[g].rollouts[i].advantages;
        object.insert(
            "advantages".into(),
            advantages
                .iter()
                .map(|a| Value::from(f64::from(*a)))
                .collect(),
        );
        println!("{}", Value::Object(object));
    }
    Ok(())
}

/// In this tool every transform reads the `tags` of each line.
fn retarget(t: Transform) -> Transform {
    match t {
        Transform::Placebo { alpha, .. } => Transform::Placebo {
            alpha,
            mask: PLANNING_MASK.into(),
        },
        other => other,
    }
}

/// Groups lines by `group` (first appearance order); returns where each line went.
fn to_batch(
    path: &std::path::Path,
    lines: &[(usize, Map<String, Value>)],
) -> miette::Result<(RolloutBatch, Vec<(usize, usize)>)> {
    let mut groups: Vec<Group> = Vec::new();
    let mut positions = Vec::new();
    for (line, object) in lines {
        let at = |what: &str| miette::miette!("{}:{line}: {what}", path.display());
        let id = match object.get("group") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(at("`group` must be a string or number")),
        };
        let reward = object
            .get("reward")
            .and_then(Value::as_f64)
            .ok_or_else(|| at("`reward` must be a finite number"))?;
        let tags: Vec<bool> = match object.get("tags") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| {
                    t.as_f64()
                        .map(|x| x != 0.0)
                        .ok_or_else(|| at("`tags` must hold 0 or 1"))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(at("`tags` must be an array of 0/1, one per token")),
        };
        // Without `entropy`, the entropy-based transforms report the missing values.
        let entropies: Vec<f32> = match object.get("entropy") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|e| {
                    e.as_f64()
                        .map(|x| x as f32)
                        .ok_or_else(|| at("`entropy` must hold numbers"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(at("`entropy` must be an array")),
        };
        if object.contains_key("entropy") && entropies.len() != tags.len() {
            return Err(at(&format!(
                "`entropy` has {} values for {} tags",
                entropies.len(),
                tags.len()
            )));
        }
        let correct = match object.get("correct") {
            None => reward > 0.0,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(at("`correct` must be true or false")),
        };
        let rollout = Rollout {
            tokens: vec![0; tags.len()],
            entropies,
            reward: Some(reward),
            correct: Some(correct),
            masks: [(PLANNING_MASK.to_string(), tags)].into(),
            ..Default::default()
        };
        let g = match groups.iter().position(|g| g.prompt.id == id) {
            Some(g) => g,
            None => {
                let prompt = Prompt {
                    task: "cli".into(),
                    ..Prompt::new(id, "", "")
                };
                groups.push(Group::new(prompt, Vec::new()));
                groups.len() - 1
            }
        };
        positions.push((g, groups[g].rollouts.len()));
        groups[g].rollouts.push(rollout);
    }
    Ok((RolloutBatch::new(0, groups), positions))
}
