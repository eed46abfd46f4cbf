//! # hicra-cli: the `hicra` command line
//!
//! The binary is a thin layer over the library crates. `run`, `validate` and `graph` read a
//! pipeline (one or more TOML files merged in order, plus `--set dotted.key=value` overrides)
//! through [`hicra_flow`], checking it completely before anything runs; `stages` lists every
//! registered stage kind with its TOML example. The family crates contribute their own tools
//! (`credit`, `tag`, `mine`, `verify`, `eval`, `experiment`, `model`, `generate`, ...), each in its own `cmd_*` module.
//!
//! Errors are rendered here, and only here, with miette: pipeline problems as one report each
//! with `FILE:LINE:COL`, the offending snippet and a help line; a command's own input (its file
//! arguments, checked in `inputs.rs`) with every problem at once. Any error exits non-zero.

mod allocator;
mod bench_measure;
mod cmd_annotate;
mod cmd_bench;
mod cmd_bench_branch;
mod cmd_bench_step;
mod cmd_credit;
mod cmd_device;
mod cmd_eval;
mod cmd_experiment;
mod cmd_export;
mod cmd_generate;
mod cmd_mine;
mod cmd_model;
mod cmd_prm;
mod cmd_report;
mod cmd_run;
mod cmd_stages;
mod cmd_tag;
mod cmd_validate;
mod cmd_verify;
mod eval_args;
mod inputs;
mod jsonl;
mod logging;
mod model_arg;
mod pipeline_args;
mod problem_source;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hicra_flow::Registry;

/// Every stage kind the `hicra` binary knows.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    hicra_metrics::register(&mut registry);
    hicra_credit::register(&mut registry);
    hicra_tasks::register(&mut registry);
    hicra_prm::register(&mut registry);
    hicra_eval::register(&mut registry);
    hicra_train::register(&mut registry);
    registry
}

/// The product registry plus the `mock.*` test stages (`hicra --test-stages ...`).
fn registry_for(test_stages: bool) -> Registry {
    let mut r = registry();
    if test_stages {
        hicra_flow::testing::register_mocks(&mut r);
    }
    r
}

#[derive(Parser)]
#[command(
    name = "hicra",
    version,
    about = "Reinforcement learning of language models with hierarchy-aware credit assignment"
)]
struct Cli {
    /// Also register the `mock.*` stages used by hicra's own tests.
    #[arg(long, global = true, hide = true)]
    test_stages: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline (the built-in quickstart when no file is given).
    Run(cmd_run::RunArgs),
    /// Check a pipeline completely without running it.
    Validate(cmd_validate::ValidateArgs),
    /// Print a pipeline's graph as text or Graphviz dot.
    Graph(cmd_validate::GraphArgs),
    /// List every stage kind with its documented TOML example.
    Stages(cmd_stages::StagesArgs),
    /// Draw a run's report: PNG charts and a self-contained report.html (curves, rollouts).
    Report(cmd_report::ReportArgs),
    /// Per-token advantages for rollouts given as JSON lines.
    Credit(cmd_credit::CreditArgs),
    /// Find strategic grams (planning phrases) in text.
    Tag(cmd_tag::TagArgs),
    /// Mine strategic grams from a run's rollouts (n-grams clustered, ranked by frequency).
    Mine(cmd_mine::MineArgs),
    /// Judge responses against gold answers (math or Countdown), as the verifiers do.
    Verify(cmd_verify::VerifyArgs),
    /// Run arms x seeds of a pipeline and compare them with intervals.
    Experiment(cmd_experiment::ExperimentArgs),
    /// Evaluate a policy on a benchmark: pass@k, majority vote, best-of-K, step-level search.
    Eval(Box<cmd_eval::EvalArgs>),
    /// Label the steps of a policy's solutions by Monte-Carlo completions (for a PRM).
    Annotate(Box<cmd_annotate::AnnotateArgs>),
    /// Process reward models: `train` on step labels, `eval` on labelled solutions.
    Prm(cmd_prm::PrmArgs),
    /// Inspect a model: `info`, `logits`.
    Model(cmd_model::ModelArgs),
    /// Write a policy (run, checkpoint or pretrained file) as a Hugging Face directory or GGUF,
    /// or a LoRA run's adapters as a PEFT adapter.
    Export(cmd_export::ExportArgs),
    /// Sample a continuation of a prompt.
    Generate(cmd_generate::GenerateArgs),
    /// Measure sampler and learner throughput.
    Bench(cmd_bench::BenchArgs),
    /// List the compute devices, or check one against the CPU.
    Device(cmd_device::DeviceArgs),
}

pub fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
    logging::init();
    render::install_hook();
    let registry = registry_for(cli.test_stages);
    let result = match cli.command {
        Command::Run(args) => cmd_run::run(&registry, args),
        Command::Validate(args) => cmd_validate::validate(&registry, args),
        Command::Graph(args) => cmd_validate::graph(&registry, args),
        Command::Stages(args) => cmd_stages::run(&registry, args),
        Command::Report(args) => cmd_report::run(args),
        Command::Credit(args) => cmd_credit::run(args),
        Command::Tag(args) => cmd_tag::run(args),
        Command::Mine(args) => cmd_mine::run(args),
        Command::Verify(args) => cmd_verify::run(args),
        Command::Experiment(args) => cmd_experiment::run(args),
        Command::Eval(args) => cmd_eval::run(&registry, *args),
        Command::Annotate(args) => cmd_annotate::run(&registry, *args),
        Command::Prm(args) => cmd_prm::run(args),
        Command::Model(args) => cmd_model::run(args),
        Command::Export(args) => cmd_export::run(args),
        Command::Generate(args) => cmd_generate::run(args),
        Command::Bench(args) => cmd_bench::run(args),
        Command::Device(args) => cmd_device::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}
