//! `label.montecarlo`: Monte-Carlo step labels as a pipeline stage. It reads prompts until its
//! input closes (a source with a `count`, or `max_prefixes` to stop an endless one), labels
//! `solutions` responses of its policy to each ([`crate::annotate`]), appends them to
//! `RUN/<out>` as they are made, writes `RUN/<out>.summary.json` at the end and sends running
//! figures (label cost and, for tasks that judge steps, agreement with the truth) on `metrics`.

use std::io::Write;
use std::path::PathBuf;

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext};
use hicra_flow::{StageResult, refuse};
use hicra_messages::{Metrics, MetricsRecord, Prompt};
use hicra_model::DeviceSpec;
use hicra_tasks::answers::Checker;
use hicra_tasks::steps::Segmentation;
use hicra_train::TextCodec;
use serde::Deserialize;

use crate::annotate::{AnnotateSettings, Cost, Sharing, Strategy, Writer, annotate};
use crate::labels::{LabelledSolution, agreement, write_jsonl};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonteCarloLabelsConfig {
    /// The policy whose solutions are labelled: a hicra run, a checkpoint, a GGUF file or a
    /// Hugging Face directory (`smollm2` for the fetched SmolLM2).
    pub model: String,
    /// The policy that finishes step prefixes ("" = `model`); it must share its tokenizer.
    pub completer: String,
    /// The checker: `boxed`, `math` or `countdown`.
    pub verifier: String,
    /// Solutions sampled per problem.
    pub solutions: usize,
    /// Completions per step prefix (K).
    pub completions: usize,
    /// Temperature of solutions and completions (> 0).
    pub temperature: f32,
    /// Nucleus mass (1 = off).
    pub top_p: f32,
    /// Most tokens per response.
    pub max_new_tokens: usize,
    /// How responses are cut into steps: `newline`, `blank-line`, `numbered`, `tokens:N`,
    /// `text:DELIM`.
    pub steps: Segmentation,
    /// `full` (every step prefix) or `binary_search` (for the first bad step).
    pub strategy: Strategy,
    /// Most step prefixes rolled out in all (0 = no limit); the stage stops after the
    /// solution that reaches it.
    pub max_prefixes: usize,
    /// Positions of a pretrained model's RoPE tables.
    pub max_seq_len: usize,
    /// The labels file, relative to the run directory.
    pub out: PathBuf,
    /// Where the policies run.
    pub device: DeviceSpec,
}

impl Default for MonteCarloLabelsConfig {
    fn default() -> Self {
        let s = AnnotateSettings::default();
        Self {
            model: String::new(),
            completer: String::new(),
            verifier: "math".into(),
            solutions: s.solutions,
            completions: s.completions,
            temperature: s.temperature,
            top_p: s.top_p,
            max_new_tokens: s.max_new_tokens,
            steps: s.segmentation,
            strategy: s.strategy,
            max_prefixes: 0,
            max_seq_len: 1024,
            out: PathBuf::from("labels.jsonl"),
            device: DeviceSpec::default(),
        }
    }
}

impl MonteCarloLabelsConfig {
    fn settings(&self, seed: u64) -> AnnotateSettings {
        AnnotateSettings {
            solutions: self.solutions,
            completions: self.completions,
            temperature: self.temperature,
            top_p: self.top_p,
            max_new_tokens: self.max_new_tokens,
            segmentation: self.steps.clone(),
            max_prefixes: self.max_prefixes,
            strategy: self.strategy,
            sharing: Sharing::Shared,
            seed,
        }
    }

    fn checker(&self) -> Result<Box<dyn Checker>, String> {
        let empty = hicra_flow::Value::parse_document("", 0).expect("an empty document parses");
        hicra_tasks::checkers::checker_for(&format!("verifier.{}", self.verifier), &empty)
    }
}

impl StageConfig for MonteCarloLabelsConfig {
    const KIND: &'static str = "label.montecarlo";
    const SUMMARY: &'static str = "Monte-Carlo step labels (Math-Shepherd): K completions from every step prefix of a policy's solutions";
    const EXAMPLE: &'static str = r#"[stages.labels]
kind = "label.montecarlo"
inputs = { prompts = "problems.prompts" }
model = ""                    # required: the policy (a run, checkpoint, GGUF or HF directory)
completer = ""                # "" = the policy itself
verifier = "math"             # boxed, math or countdown
solutions = 4
completions = 8
temperature = 0.8
top_p = 1.0
max_new_tokens = 64
steps = "newline"             # newline, blank-line, numbered, tokens:N, text:DELIM
strategy = "full"             # or "binary_search"
max_prefixes = 0              # 0 = no limit
max_seq_len = 1024
out = "labels.jsonl"          # under the run directory
device = "cpu"
"#;

    fn ports(&self) -> Ports {
        Ports::new()
            .input::<Prompt>("prompts", "problems to sample and label solutions for")
            .output::<MetricsRecord>(
                "metrics",
                "label cost and agreement with the task's step truth, per problem",
            )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if self.model.is_empty() {
            problems.push(Invalid::new(
                "model",
                "name the policy to label solutions of",
            ));
        }
        for (field, spec) in [("model", &self.model), ("completer", &self.completer)] {
            if !spec.is_empty()
                && let Err(p) = hicra_train::trained::check_source(spec)
            {
                problems.push(p.invalid(field));
            }
        }
        if let Err(e) = self.checker() {
            problems.push(Invalid::new("verifier", e));
        }
        if let Err(e) = self.settings(0).validate() {
            problems.push(Invalid::whole(e));
        }
        if self.max_seq_len < 2 {
            problems.push(Invalid::new("max_seq_len", "need at least 2 positions"));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        Ok(Box::new(LabelStage {
            seed: ctx.stage_seed(),
            out: ctx.run.out_dir.join(&self.out),
            config: self,
        }))
    }
}

struct LabelStage {
    config: MonteCarloLabelsConfig,
    seed: u64,
    out: PathBuf,
}

impl Stage for LabelStage {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let c = &self.config;
        let device = c.device.open()?;
        let load = |spec: &str| {
            let loaded = hicra_train::trained::load_policy::<hicra_model::RuntimeBackend>(
                spec,
                Some(c.max_seq_len),
                &device,
            )?;
            let info = loaded
                .checkpoint
                .ok_or_else(|| format!("{spec} has random weights and no tokenizer"))?;
            Ok::<_, String>((
                hicra_model::Generator::new(loaded.model),
                TextCodec::Pretrained(Box::new(info)),
            ))
        };
        let policy = load(&c.model)?;
        let completer = if c.completer.is_empty() {
            None
        } else {
            Some(load(&c.completer)?)
        };
        fn writer<'a>(
            (generator, codec): &'a (
                hicra_model::Generator<hicra_model::RuntimeBackend>,
                TextCodec,
            ),
            device: &'a hicra_model::Device,
        ) -> Writer<'a> {
            Writer {
                generator,
                codec,
                device,
            }
        }
        let solver = writer(&policy, &device);
        let finisher = completer.as_ref().map_or(solver, |c| writer(c, &device));
        let checker = self.config.checker()?;
        let prompts = ctx.input::<Prompt>("prompts");
        let metrics = ctx.output::<MetricsRecord>("metrics");
        if let Some(dir) = self.out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::io::BufWriter::new(std::fs::File::create(&self.out)?);
        let mut settings = c.settings(self.seed);
        let (mut all, mut cost): (Vec<LabelledSolution>, Cost) = Default::default();
        let mut step = 0;
        while let Some(prompt) = prompts.recv() {
            ctx.check_cancelled()?;
            if c.max_prefixes > 0 {
                if cost.prefixes >= c.max_prefixes {
                    break;
                }
                settings.max_prefixes = c.max_prefixes - cost.prefixes;
            }
            let problems = [prompt.as_ref().clone()];
            let (records, spent) = annotate(
                &solver,
                &finisher,
                checker.as_ref(),
                Some(hicra_tasks::chains::step_truth),
                &problems,
                &settings,
                &mut |_| (),
            )?;
            write_jsonl(&mut file, &records)?;
            file.flush()?;
            add(&mut cost, &spent);
            all.extend(records);
            step += 1;
            metrics.send(MetricsRecord {
                step,
                source: ctx.id().to_string(),
                values: figures(&all, &cost),
            })?;
        }
        let summary = serde_json::json!({
            "model": c.model,
            "steps": c.steps.to_string(),
            "cost": cost,
            "labels": agreement(&all),
        });
        std::fs::write(
            self.out.with_extension("summary.json"),
            serde_json::to_string_pretty(&summary)?,
        )?;
        Ok(())
    }
}

fn add(total: &mut Cost, more: &Cost) {
    total.solutions += more.solutions;
    total.steps += more.steps;
    total.prefixes += more.prefixes;
    total.solution_tokens += more.solution_tokens;
    total.completion_tokens += more.completion_tokens;
    total.prefill_tokens += more.prefill_tokens;
    total.prefill_tokens_unshared += more.prefill_tokens_unshared;
    total.solve_seconds += more.solve_seconds;
    total.complete_seconds += more.complete_seconds;
}

/// The running figures: cost so far and agreement with the truth.
fn figures(records: &[LabelledSolution], cost: &Cost) -> Metrics {
    let a = agreement(records);
    let mut m = Metrics::new();
    m.insert("labels/solutions".into(), cost.solutions as f64);
    m.insert("labels/steps".into(), cost.steps as f64);
    m.insert("labels/prefixes".into(), cost.prefixes as f64);
    m.insert(
        "labels/completion_tokens".into(),
        cost.completion_tokens as f64,
    );
    m.insert(
        "labels/seconds".into(),
        cost.solve_seconds + cost.complete_seconds,
    );
    m.insert(
        "labels/outcome_accuracy".into(),
        a.correct_solutions as f64 / a.solutions.max(1) as f64,
    );
    m.insert(
        "labels/hard_true_frac".into(),
        a.hard_true as f64 / a.steps.max(1) as f64,
    );
    for (name, value) in [
        ("labels/hard_accuracy_vs_truth", a.hard_accuracy),
        ("labels/soft_mean_right", a.soft_mean_right),
        ("labels/soft_mean_wrong", a.soft_mean_wrong),
        ("labels/first_error_match", a.first_error_match),
    ] {
        if let Some(v) = value {
            m.insert(name.into(), v);
        }
    }
    m
}
