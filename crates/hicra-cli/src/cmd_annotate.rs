//! `hicra annotate`: Monte-Carlo step labels for a policy's solutions (see
//! [`hicra_prm::annotate`]): solutions sampled from `--model`, each cut into steps, each step
//! prefix finished `--completions` times by `--completer` (the policy by default), written as
//! JSONL for the PRM trainer, with a summary of what the labels cost and, when the task can
//! judge steps itself (`source.chains`), how well they agree with the truth.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use hicra_eval::EvalPolicy;
use hicra_eval::problems::DatasetSpec;
use hicra_flow::Registry;
use hicra_model::DeviceSpec;
use hicra_prm::annotate::{AnnotateSettings, Sharing, Strategy, Writer, annotate};
use hicra_prm::labels::{LabelledSolution, write_jsonl};
use hicra_tasks::dataset::FETCH_DATA;
use hicra_tasks::steps::Segmentation;
use miette::{IntoDiagnostic, miette};
use serde_json::json;

use crate::inputs::Inputs;
use crate::model_arg::{self, DEVICE_HELP, MODEL_HELP};
use crate::problem_source::{self, Problems};

#[derive(Args, Debug)]
pub struct AnnotateArgs {
    /// The policy whose solutions are labelled.
    #[arg(long, help = format!("the policy whose solutions are labelled: {MODEL_HELP}"))]
    model: String,
    /// The policy that finishes step prefixes (default: `--model`); same tokenizer.
    #[arg(long)]
    completer: Option<String>,
    /// Problems from a pipeline's source stage: PIPELINE.toml:STAGE.
    #[arg(long, conflicts_with = "data")]
    problems: Option<String>,
    /// Problems from a JSONL or Parquet file.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Field mapping of `--data`: `gsm8k`, `math500`.
    #[arg(long)]
    preset: Option<String>,
    /// Problems to label (the first N).
    #[arg(long, default_value_t = 32)]
    count: usize,
    /// The checker: `math`, `boxed` or `countdown` (default: the pipeline's verifier, or math).
    #[arg(long)]
    verifier: Option<String>,
    /// Solutions sampled per problem.
    #[arg(long, default_value_t = 4)]
    solutions: usize,
    /// Completions per step prefix (K).
    #[arg(long, default_value_t = 8)]
    completions: usize,
    /// Temperature of solutions and completions.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Nucleus mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Most tokens per response.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// How responses are cut into steps: newline, blank-line, numbered, tokens:N, text:DELIM.
    #[arg(long, default_value = "newline")]
    steps: Segmentation,
    /// Most step prefixes rolled out (0: no limit); whole solutions only.
    #[arg(long, default_value_t = 0)]
    max_prefixes: usize,
    /// Which prefixes are rolled out.
    #[arg(long, value_enum, default_value_t = StrategyArg::Full)]
    strategy: StrategyArg,
    /// Draw each completion with its own prefill (to measure what sharing saves).
    #[arg(long)]
    separate_prefills: bool,
    /// Seed of the order and the draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Positions of a pretrained model's RoPE tables.
    #[arg(long, default_value_t = 1024)]
    max_seq_len: usize,
    /// The labels file (JSONL); a `.summary.json` is written beside it.
    #[arg(long, default_value = "runs/labels.jsonl")]
    out: PathBuf,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StrategyArg {
    /// Every step prefix.
    Full,
    /// Binary search for the first bad step.
    BinarySearch,
}

pub fn run(registry: &Registry, args: AnnotateArgs) -> miette::Result<()> {
    let mut inputs = Inputs::new();
    inputs.model("--model", &args.model);
    if let Some(spec) = &args.completer {
        inputs.model("--completer", spec);
    }
    let device = inputs.take(model_arg::open_device(args.device));
    let problems = match (&args.problems, &args.data) {
        (Some(named), _) => inputs.take(
            problem_source::parse(named)
                .and_then(|(file, stage)| {
                    problem_source::of_pipeline(
                        registry,
                        &file,
                        &stage,
                        args.count,
                        args.verifier.as_deref(),
                    )
                })
                .map_err(|e| miette!("--problems: {e}")),
        ),
        (None, Some(path)) if inputs.file("--data", path, Some(FETCH_DATA)) => {
            inputs.take(data_problems(registry, &args, path))
        }
        (None, Some(_)) => None,
        (None, None) => {
            inputs.push(miette!(
                "name the problems: --problems PIPELINE.toml:STAGE or --data FILE"
            ));
            None
        }
    };
    let settings = AnnotateSettings {
        solutions: args.solutions,
        completions: args.completions,
        temperature: args.temperature,
        top_p: args.top_p,
        max_new_tokens: args.max_new_tokens,
        segmentation: args.steps.clone(),
        max_prefixes: args.max_prefixes,
        strategy: match args.strategy {
            StrategyArg::Full => Strategy::Full,
            StrategyArg::BinarySearch => Strategy::BinarySearch,
        },
        sharing: if args.separate_prefills {
            Sharing::Separate
        } else {
            Sharing::Shared
        },
        seed: args.seed,
    };
    if let Err(e) = settings.validate() {
        inputs.push(miette!("{e}"));
    }
    inputs.finish()?;
    let (device, problems) = (device.expect("checked"), problems.expect("checked"));
    let policy = EvalPolicy::pretrained(&args.model, args.max_seq_len, &device)
        .map_err(|e| miette!("{e}"))?;
    let completer = match &args.completer {
        Some(spec) => {
            let c = EvalPolicy::pretrained(spec, args.max_seq_len, &device)
                .map_err(|e| miette!("--completer: {e}"))?;
            same_tokenizer(&policy, &c, &problems.prompts[0])?;
            Some(c)
        }
        None => None,
    };
    fn writer<'a>(p: &'a EvalPolicy, device: &'a hicra_model::Device) -> Writer<'a> {
        Writer {
            generator: &p.generator,
            codec: &p.codec,
            device,
        }
    }
    let solver = writer(&policy, &device);
    let finisher = completer.as_ref().map_or(solver, |c| writer(c, &device));
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(problems.prompts.len() as u64);
    let (records, cost) = annotate(
        &solver,
        &finisher,
        problems.checker.as_ref(),
        Some(hicra_tasks::chains::step_truth),
        &problems.prompts,
        &settings,
        &mut |done| bar.set_position(done as u64),
    )
    .map_err(|e| miette!("{e}"))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    write_labels(&args.out, &records)?;
    let quality = hicra_prm::labels::agreement(&records);
    let summary = json!({
        "model": args.model,
        "completer": args.completer.as_deref().unwrap_or(&args.model),
        "problems": problems.origin,
        "verifier": problems.verifier,
        "settings": {
            "solutions": settings.solutions,
            "completions": settings.completions,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_new_tokens": settings.max_new_tokens,
            "steps": settings.segmentation.to_string(),
            "max_prefixes": settings.max_prefixes,
            "strategy": settings.strategy,
            "sharing": settings.sharing,
            "seed": settings.seed,
        },
        "cost": cost,
        "labels": quality,
        "seconds": seconds,
    });
    let summary_path = args.out.with_extension("summary.json");
    std::fs::write(
        &summary_path,
        serde_json::to_string_pretty(&summary).into_diagnostic()?,
    )
    .into_diagnostic()?;
    println!(
        "{}",
        serde_json::to_string_pretty(&summary["labels"]).into_diagnostic()?
    );
    eprintln!(
        "labelled {} solutions ({} steps, {} prefixes rolled out, {} completion tokens) in {seconds:.1} s: {} and {}",
        cost.solutions,
        cost.steps,
        cost.prefixes,
        cost.completion_tokens,
        args.out.display(),
        summary_path.display()
    );
    Ok(())
}

/// Problems from `--data`.
fn data_problems(
    registry: &Registry,
    args: &AnnotateArgs,
    path: &Path,
) -> miette::Result<Problems> {
    let spec = DatasetSpec {
        path: path.to_path_buf(),
        preset: args.preset.clone(),
        count: args.count,
        ..DatasetSpec::default()
    };
    problem_source::of_data(registry, &spec, args.verifier.as_deref()).map_err(|e| miette!("{e}"))
}

/// Errors unless the two policies write a prompt with the same token ids.
fn same_tokenizer(
    a: &EvalPolicy,
    b: &EvalPolicy,
    probe: &hicra_messages::Prompt,
) -> miette::Result<()> {
    let ids = |p: &EvalPolicy| p.codec.encode_prompt(probe).map_err(|e| miette!("{e}"));
    if ids(a)? != ids(b)? || a.codec.vocab_size() != b.codec.vocab_size() {
        return Err(miette!(
            "--completer {} reads text with another tokenizer than --model {}: the completer \
             continues the policy's own tokens, so both need one tokenizer",
            b.origin,
            a.origin
        ));
    }
    Ok(())
}

fn write_labels(path: &Path, records: &[LabelledSolution]) -> miette::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).into_diagnostic()?;
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).into_diagnostic()?);
    write_jsonl(&mut file, records).into_diagnostic()
}
