//! `hicra prm`: process reward models. `train` fits one on a labels file ([`hicra_prm::fit`])
//! and writes it as a directory transformers loads (`AutoModelForTokenClassification`) and
//! `hicra eval --scorers prm:DIR` scores with; `eval` measures a PRM on any labels file: loss,
//! step AUC against the Monte-Carlo labels and against the task's truth, response AUC, each
//! with a 95% interval.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hicra_eval::EvalPolicy;
use hicra_eval::Judge;
use hicra_eval::baselines::prefix_scores;
use hicra_eval::scorer::{Confidence, Scorer};
use hicra_model::DeviceSpec;
use hicra_prm::fit::{FitJob, fit};
use hicra_prm::labels::read_jsonl;
use hicra_prm::ranking::ranking;
use hicra_prm::train::{PrmTarget, PrmTrainConfig, evaluate};
use miette::{IntoDiagnostic, miette};

use crate::inputs::Inputs;
use crate::model_arg::{self, DEVICE_HELP, MODEL_HELP};

#[derive(Args, Debug)]
pub struct PrmArgs {
    #[command(subcommand)]
    command: PrmCommand,
}

#[derive(Subcommand, Debug)]
enum PrmCommand {
    /// Train a PRM on labelled solutions and save it.
    Train(TrainArgs),
    /// Measure a PRM on labelled solutions.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Labelled solutions (JSONL from `hicra annotate` or `label.montecarlo`).
    #[arg(long)]
    labels: PathBuf,
    /// The model the PRM starts from.
    #[arg(long, help = format!("the model the PRM starts from: {MODEL_HELP}"))]
    model: String,
    /// The PRM directory to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing `--out`.
    #[arg(long)]
    force: bool,
    /// What each step's score predicts: soft, hard, truth (oracle) or outcome (an ORM).
    #[arg(long, default_value = "soft")]
    target: String,
    /// Optimiser steps (default: `--epochs` passes).
    #[arg(long, conflicts_with = "epochs")]
    steps: Option<u64>,
    /// Passes over the training solutions (default 1).
    #[arg(long)]
    epochs: Option<u64>,
    /// Solutions per optimiser step.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 2e-5)]
    learning_rate: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Share of problems held out.
    #[arg(long, default_value_t = 0.1)]
    holdout_fraction: f64,
    /// Evaluate on the held-out problems every N steps (0: at the end only).
    #[arg(long, default_value_t = 50)]
    eval_every: u64,
    /// Seed of the head, the split and the order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Longest prompt + response, in tokens.
    #[arg(long, default_value_t = 1024)]
    max_seq_len: usize,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// The PRM directory.
    #[arg(long)]
    prm: Option<PathBuf>,
    /// Step scorers of `hicra eval` measured on the same steps: confidence, judge.
    #[arg(long, value_delimiter = ',')]
    baselines: Vec<String>,
    /// The policy whose confidence is measured (and the judge, unless `--judge`).
    #[arg(long)]
    policy: Option<String>,
    /// The judge model (default: `--policy`).
    #[arg(long)]
    judge: Option<String>,
    /// Labelled solutions to measure it on.
    #[arg(long)]
    labels: PathBuf,
    /// The loss's labels (default: the PRM's own training target).
    #[arg(long)]
    target: Option<String>,
    /// Longest prompt + response, in tokens.
    #[arg(long, default_value_t = 1024)]
    max_seq_len: usize,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
}

pub fn run(args: PrmArgs) -> miette::Result<()> {
    match args.command {
        PrmCommand::Train(a) => train(a),
        PrmCommand::Eval(a) => eval(a),
    }
}

fn target(text: &str) -> miette::Result<PrmTarget> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| miette!("unknown target `{text}`: use soft, hard, truth or outcome"))
}

fn train(a: TrainArgs) -> miette::Result<()> {
    let mut inputs = Inputs::new();
    inputs.model("--model", &a.model);
    inputs.file(
        "--labels",
        &a.labels,
        Some("step labels are written by `hicra annotate`"),
    );
    let device = inputs.take(model_arg::open_device(a.device));
    let target = inputs.take(target(&a.target));
    let config = PrmTrainConfig {
        steps: a.steps,
        epochs: a.epochs,
        batch_size: a.batch_size,
        learning_rate: a.learning_rate,
        weight_decay: a.weight_decay,
        seed: a.seed,
        target: target.unwrap_or_default(),
        holdout_fraction: a.holdout_fraction,
        holdout_problems: None,
        eval_every: a.eval_every,
        max_seq_len: a.max_seq_len,
    };
    if let Err(e) = config.validate() {
        inputs.push(miette!("{e}"));
    }
    inputs.finish()?;
    let device = device.expect("checked");
    let job = FitJob {
        labels: a.labels,
        model: a.model,
        out: a.out.clone(),
        config,
        force: a.force,
    };
    let mut log: Vec<String> = Vec::new();
    let started = std::time::Instant::now();
    let info = fit(&job, &device, &mut |step, values| {
        let mut row = serde_json::Map::new();
        row.insert("step".into(), step.into());
        for (k, v) in values {
            if v.is_finite() {
                row.insert(k.clone(), (*v).into());
            }
        }
        let shown: Vec<String> = ["train/loss", "heldout/loss", "heldout/step_auc_truth"]
            .iter()
            .filter_map(|k| values.get(*k).map(|v| format!("{k} {v:.4}")))
            .collect();
        eprintln!("step {step}: {}", shown.join(", "));
        log.push(serde_json::Value::Object(row).to_string());
    })
    .map_err(|e| miette!("{e}"))?;
    let mut file = std::fs::File::create(a.out.join("metrics.jsonl")).into_diagnostic()?;
    for line in &log {
        writeln!(file, "{line}").into_diagnostic()?;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&info.training).into_diagnostic()?
    );
    eprintln!(
        "trained in {:.1} s; wrote {} (prm.json, metrics.jsonl)",
        started.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

fn eval(a: EvalArgs) -> miette::Result<()> {
    let mut inputs = Inputs::new();
    if let Some(prm) = &a.prm {
        inputs.dir(
            "--prm",
            prm,
            Some("a PRM directory is written by `hicra prm train`"),
        );
    }
    inputs.file(
        "--labels",
        &a.labels,
        Some("step labels are written by `hicra annotate`"),
    );
    for b in &a.baselines {
        if b != "confidence" && b != "judge" {
            inputs.push(miette!("unknown baseline `{b}`: use confidence or judge"));
        }
    }
    match &a.policy {
        Some(spec) => {
            inputs.model("--policy", spec);
        }
        None if !a.baselines.is_empty() => {
            inputs.push(miette!("--baselines need the --policy they measure"))
        }
        None => {}
    }
    if a.prm.is_none() && a.baselines.is_empty() {
        inputs.push(miette!(
            "name what to measure: --prm DIR and/or --baselines"
        ));
    }
    let device = inputs.take(model_arg::open_device(a.device));
    let target = match &a.target {
        Some(t) => inputs.take(target(t)),
        None => None,
    };
    inputs.finish()?;
    let device = device.expect("checked");
    let records = read_jsonl(&a.labels).map_err(|e| miette!("{e}"))?;
    let mut report = serde_json::Map::new();
    if let Some(dir) = &a.prm {
        let (model, codec, info) = hicra_prm::store::load(dir, Some(a.max_seq_len), &device)
            .map_err(|e| miette!("{e}"))?;
        if let Some(other) = records.iter().find(|r| r.segmentation != info.segmentation) {
            return Err(miette!(
                "the PRM reads steps cut by `{}`, the labels (problem `{}`) are cut by `{}`",
                info.segmentation,
                other.prompt.id,
                other.segmentation
            ));
        }
        let figures = evaluate(&model, &codec, &records, target.unwrap_or(info.target))
            .map_err(|e| miette!("{e}"))?;
        report.insert(
            "prm".into(),
            serde_json::to_value(figures).into_diagnostic()?,
        );
    }
    if let Some(spec) = &a.policy {
        let policy = EvalPolicy::pretrained(spec, a.max_seq_len, &device)
            .map_err(|e| miette!("--policy: {e}"))?;
        for name in &a.baselines {
            let started = std::time::Instant::now();
            let judge;
            let scorer: &dyn Scorer = if name == "judge" {
                let model = match &a.judge {
                    Some(j) => EvalPolicy::pretrained(j, a.max_seq_len, &device)
                        .map_err(|e| miette!("--judge: {e}"))?,
                    None => policy.clone(),
                };
                judge = Judge::new(model, device.clone(), None, 8).map_err(|e| miette!("{e}"))?;
                &judge
            } else {
                &Confidence
            };
            let bar = indicatif::ProgressBar::new(records.len() as u64);
            let scores = prefix_scores(&policy, scorer, &records, &device, &mut |d| {
                bar.set_position(d as u64)
            })
            .map_err(|e| miette!("{e}"))?;
            bar.finish_and_clear();
            let mut figures = ranking(&records, &scores).map_err(|e| miette!("{e}"))?;
            figures.insert("seconds".into(), started.elapsed().as_secs_f64());
            report.insert(
                name.clone(),
                serde_json::to_value(figures).into_diagnostic()?,
            );
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).into_diagnostic()?
    );
    Ok(())
}
