//! The quickstart's pipeline built in Rust instead of TOML.
//!
//! Every stage is its typed config (`SamplerConfig { group_size: 8, ..Default::default() }`)
//! and every edge a `("port", "stage.port")` pair; [`PipelineBuilder::build`] runs the checks
//! `hicra validate` runs on a file (each config's values, ports and their types, required
//! inputs, endless sources, cycles) and reports every problem at once, located in the wiring
//! it writes out. Useful when a sweep or a notebook-style driver makes configs
//! programmatically, or to embed hicra in a larger program. `--credit grpo` swaps the credit
//! assigner, the one-line change of the TOML file, here a different type.
//!
//! ```sh
//! cargo run --release --example pipeline_in_code                    # 60 RL steps
//! cargo run --release --example pipeline_in_code -- --credit grpo --steps 120 --out runs/code
//! ```

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use hicra::credit::taggers::StrategicGramsConfig;
use hicra::credit::{GrpoConfig, HicraConfig};
use hicra::flow::{Pipeline, PipelineBuilder, RunSettings};
use hicra::metrics::report::Series;
use hicra::metrics::{MetricsSinkConfig, RolloutSinkConfig};
use hicra::tasks::boxed::BoxedVerifierConfig;
use hicra::tasks::plan_puzzles::{ALPHABET, PlanPuzzlesConfig};
use hicra::train::sft::SftConfig;
use hicra::train::{LearnerConfig, PolicyModelConfig, SamplerConfig};

#[derive(Clone, Copy, ValueEnum)]
enum Credit {
    /// Planning tokens' advantages amplified (`credit.hicra`).
    Hicra,
    /// Plain group-normalised advantages (`credit.grpo`).
    Grpo,
}

/// Trains the quickstart's tiny policy on plan puzzles, the pipeline written in Rust.
#[derive(Parser)]
struct Args {
    /// RL steps.
    #[arg(long, default_value_t = 60)]
    steps: u64,
    /// Supervised warm-up steps before RL.
    #[arg(long, default_value_t = 400)]
    sft_steps: u64,
    /// The credit assigner.
    #[arg(long, value_enum, default_value_t = Credit::Hicra)]
    credit: Credit,
    /// Seed of the whole run (stages derive theirs from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory; absent = a fresh one under the system's temporary directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The quickstart's stages and edges (pipelines/quickstart.toml, evaluation and rollouts
/// included): with the same steps the run is the TOML run, figure for figure. The output
/// directory is set when it runs.
fn quickstart(args: &Args) -> PipelineBuilder {
    let run = RunSettings {
        seed: args.seed,
        channel_capacity: 2,
        ..RunSettings::default()
    };
    let learner = LearnerConfig {
        learning_rate: 5e-4,
        grad_clip: 1.0,
        total_steps: args.steps,
        micro_batch_size: 64,
        micro_batch_tokens: 4096,
        model: PolicyModelConfig {
            alphabet: ALPHABET.into(),
            hidden_size: 64,
            intermediate_size: 192,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            max_seq_len: 48,
            ..PolicyModelConfig::default()
        },
        sft: SftConfig {
            steps: args.sft_steps,
            batch_size: 32,
            learning_rate: 1e-3,
        },
        ..LearnerConfig::default()
    };
    let puzzles = |split: &str| PlanPuzzlesConfig {
        split: split.into(),
        ..PlanPuzzlesConfig::default()
    };
    let builder = PipelineBuilder::new(run)
        .stage(
            "warmup",
            PlanPuzzlesConfig {
                worked_solutions: true,
                ..puzzles("warmup")
            },
            &[],
        )
        .stage("puzzles", puzzles("train"), &[])
        .stage(
            "heldout",
            PlanPuzzlesConfig {
                count: 60,
                ..puzzles("heldout")
            },
            &[],
        )
        .stage(
            "learner",
            learner,
            &[("rollouts", "credit.rollouts"), ("sft", "warmup.prompts")],
        )
        .stage(
            "sampler",
            SamplerConfig {
                steps: args.steps,
                ..SamplerConfig::default()
            },
            &[
                ("prompts", "puzzles.prompts"),
                ("weights", "learner.weights"),
            ],
        )
        .stage(
            "verifier",
            BoxedVerifierConfig::default(),
            &[("rollouts", "sampler.rollouts")],
        )
        .stage(
            "tagger",
            StrategicGramsConfig {
                grams: Some(
                    ["let me double", "let me square", "let me triple"]
                        .map(String::from)
                        .to_vec(),
                ),
                ..StrategicGramsConfig::default()
            },
            &[("rollouts", "verifier.rollouts")],
        );
    let credit_input = [("rollouts", "tagger.rollouts")];
    let builder = match args.credit {
        Credit::Hicra => builder.stage("credit", HicraConfig::default(), &credit_input),
        Credit::Grpo => builder.stage("credit", GrpoConfig::default(), &credit_input),
    };
    builder
        .stage(
            "evaluator",
            SamplerConfig {
                group_size: 4,
                temperature: 0.6,
                eval_every: 40,
                ..SamplerConfig::default()
            },
            &[
                ("prompts", "heldout.prompts"),
                ("weights", "learner.weights"),
            ],
        )
        .stage(
            "eval_verifier",
            BoxedVerifierConfig::default(),
            &[("rollouts", "evaluator.rollouts")],
        )
        .stage(
            "rollouts",
            RolloutSinkConfig {
                every_steps: 40,
                sample: 32,
                ..RolloutSinkConfig::default()
            },
            &[
                ("rollouts", "credit.rollouts"),
                ("rollouts", "eval_verifier.rollouts"),
            ],
        )
        .stage(
            "metrics",
            MetricsSinkConfig {
                total_steps: args.steps,
                ..MetricsSinkConfig::default()
            },
            &[
                ("metrics", "learner.metrics"),
                ("metrics", "eval_verifier.metrics"),
                ("metrics", "credit.metrics"),
            ],
        )
}

fn run(args: Args) -> Result<Series, String> {
    let out = common::out_dir(args.out.clone(), "pipeline-in-code")?;
    let pipeline: Pipeline = quickstart(&args)
        .build()
        .map_err(|d| format!("the pipeline has problems; nothing was run\n{d}"))?;
    let show = [
        "reward/mean",
        "accuracy/train",
        "accuracy/eval",
        "planning_ratio",
        "advantage_mass/planning",
    ];
    common::run_and_summarize(pipeline, &out, &show)
}

fn main() -> ExitCode {
    common::exit("pipeline_in_code", run(Args::parse()))
}

#[cfg(test)]
mod tests {
    use hicra::flow::Cancel;

    use super::*;

    /// Figures that depend on the machine's speed, not on the computation.
    fn timeless(series: Series) -> Series {
        series
            .into_iter()
            .filter(|(name, _)| !name.starts_with("timing/") && !name.starts_with("tokens_per_sec"))
            .collect()
    }

    #[test]
    fn the_pipeline_built_in_code_is_the_toml_quickstart() {
        let dir = tempfile::tempdir().unwrap();
        let code_dir = dir.path().join("code");
        let args = [
            "pipeline_in_code",
            "--steps",
            "3",
            "--sft-steps",
            "20",
            "--out",
        ];
        let code = run(Args::parse_from(
            args.into_iter().chain([code_dir.to_str().unwrap()]),
        ))
        .unwrap();

        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/quickstart.toml");
        let overrides = [
            "stages.sampler.steps=3",
            "stages.learner.total_steps=3",
            "stages.metrics.total_steps=3",
            "stages.learner.sft.steps=20",
        ]
        .map(String::from);
        let mut toml = Pipeline::from_files(&hicra::registry(), &[file], &overrides)
            .unwrap_or_else(|d| panic!("{d}"));
        toml.run.out_dir = dir.path().join("toml");
        toml.run(&Cancel::new()).unwrap();
        let toml = hicra::metrics::read_metrics(&dir.path().join("toml/metrics.jsonl")).unwrap();

        assert_eq!(code["reward/mean"].len(), 3);
        assert_eq!(
            timeless(code),
            timeless(toml),
            "same stages, same seeds, same figures"
        );
        let written = |run: &str| {
            std::fs::read_dir(dir.path().join(run).join("rollouts"))
                .unwrap()
                .count()
        };
        assert_eq!(written("code"), written("toml"));
    }

    #[test]
    fn a_wiring_mistake_is_reported_in_the_wiring_text() {
        let args = Args::parse_from(["pipeline_in_code"]);
        let error = quickstart(&args)
            .stage(
                "extra",
                BoxedVerifierConfig::default(),
                &[("rollouts", "sampler.rolouts")],
            )
            .build()
            .err()
            .expect("refused")
            .plain();
        assert!(error.contains("<pipeline built in code>:"), "{error}");
        assert!(error.contains("has no output `rolouts`"), "{error}");
    }
}
