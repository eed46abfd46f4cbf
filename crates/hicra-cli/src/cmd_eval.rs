//! `hicra eval`: a policy measured on a benchmark — pass@k, majority vote, best-of-K by each
//! scorer, or a step-level search — with `summary.json`, `responses.jsonl` and a table.
//!
//! The policy is a pretrained model or a hicra run (its newest checkpoint, or one
//! `checkpoints/step-N`). Given a run and no `--data`, the run's own evaluator is repeated:
//! its prompt source, its verifier, its sampling settings and its seed, so the figure equals
//! the run's last `accuracy/eval` for that checkpoint.
//!
//! The input is checked as a whole before a model loads (`--model`, `--judge`, `--data` and
//! its rows, `--judge-template`, the device): every problem is reported at once.

use std::path::{Path, PathBuf};

use clap::Args;
use hicra_eval::policy::is_run;
use hicra_eval::prm::{Aggregate, PrmScorer};
use hicra_eval::problems::{DatasetSpec, prompts_of_source};
use hicra_eval::scorer::Scorer;
use hicra_eval::{
    EvalJob, EvalPolicy, EvalSettings, Judge, Records, ScorerName, ScorerSpec, SearchKind,
    SearchSpec, TrainedRun,
};
use hicra_flow::{Registry, derive_seed};
use hicra_model::{Device, DeviceSpec, Precision};
use hicra_tasks::answers::Checker;
use hicra_tasks::checkers::checker_for;
use hicra_tasks::dataset::FETCH_DATA;
use hicra_tasks::steps::Segmentation;
use indicatif::{ProgressBar, ProgressStyle};
use miette::{IntoDiagnostic, miette};

use crate::inputs::Inputs;
use crate::model_arg::{self, DEVICE_HELP, DTYPE_HELP, MODEL_HELP};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The policy: a model (see `--help` of `generate`) or a hicra run / checkpoint directory.
    #[arg(long, help = format!("{MODEL_HELP}, or a hicra run directory (newest checkpoint) or checkpoints/step-N"))]
    model: String,
    /// Problems: a JSONL or Parquet file (default with a run: the run's evaluator prompts).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Field mapping of `--data`: `gsm8k`, `math500` or `custom` (with the two fields).
    #[arg(long)]
    preset: Option<String>,
    /// Question field of a custom dataset.
    #[arg(long)]
    question_field: Option<String>,
    /// Answer field of a custom dataset.
    #[arg(long)]
    answer_field: Option<String>,
    /// The first N problems of the file (0: all).
    #[arg(long, default_value_t = 0)]
    count: usize,
    /// The checker: `math`, `boxed` or `countdown` (default: `math`, or the run's verifier).
    #[arg(long)]
    verifier: Option<String>,
    /// Responses per problem, K (default 1, or the run evaluator's group size).
    #[arg(long)]
    samples: Option<usize>,
    /// Sampling temperature (default 0.6, or the run evaluator's).
    #[arg(long)]
    temperature: Option<f32>,
    /// Nucleus mass (default 1).
    #[arg(long)]
    top_p: Option<f32>,
    /// Keep the k likeliest tokens (default 0: off).
    #[arg(long)]
    top_k: Option<usize>,
    /// Most tokens per response (default 512, or the run evaluator's).
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// Seed of the draws (default 0, or the run evaluator's stage seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Responses decoded together (default 64, or every response of a run's evaluation).
    #[arg(long)]
    batch: Option<usize>,
    /// Best-of-K scorers, comma-separated: confidence, verifier (oracle), judge, prm:PATH (a
    /// process reward model).
    #[arg(long, value_delimiter = ',')]
    scorers: Vec<ScorerSpec>,
    /// Step-level search instead of K samples: `beam:W`, `lookahead:W:K` or
    /// `mcts:BUDGET[:E]` (BUDGET generated tokens per problem, E children per expansion).
    #[arg(long)]
    search: Option<SearchSpec>,
    /// The scorer of partial solutions in a search: judge, confidence or prm:PATH.
    #[arg(long, default_value = "judge")]
    step_scorer: ScorerSpec,
    /// How a search cuts steps: blank-line, newline, text:DELIM or tokens:N.
    #[arg(long, default_value = "blank-line")]
    steps: Segmentation,
    /// Most tokens generated per problem by a beam or lookahead search (mcts:BUDGET carries
    /// its own).
    #[arg(long)]
    search_budget: Option<usize>,
    /// MCTS's UCT exploration constant c.
    #[arg(long, default_value_t = 1.0)]
    mcts_c: f64,
    /// MCTS values each new child by the score of a greedy completion to the end (its tokens
    /// count against the budget).
    #[arg(long)]
    mcts_rollout: bool,
    /// Most tokens per search step.
    #[arg(long, default_value_t = 256)]
    step_tokens: usize,
    /// Most steps per searched solution.
    #[arg(long, default_value_t = 12)]
    max_steps: usize,
    /// Candidates drawn per kept partial solution (default: the beam width), or children per
    /// MCTS expansion (default: E of mcts:BUDGET:E, else 4).
    #[arg(long)]
    expand: Option<usize>,
    /// The judge model (default: the policy itself).
    #[arg(long)]
    judge: Option<String>,
    /// A file holding the judging prompt, with {question} and {solution} placeholders.
    #[arg(long)]
    judge_template: Option<PathBuf>,
    /// Judging prompts per forward pass.
    #[arg(long, default_value_t = 8)]
    judge_batch: usize,
    /// How a `prm:PATH` scorer turns step scores into one: min, last, product or mean.
    #[arg(long, default_value = "min")]
    prm_aggregate: Aggregate,
    /// Candidates per PRM forward pass.
    #[arg(long, default_value_t = 16)]
    prm_batch: usize,
    /// Problems from a pipeline's source stage, PIPELINE.toml:STAGE (the first `--count`,
    /// judged by the pipeline's verifier unless `--verifier` is given).
    #[arg(long, conflicts_with = "data")]
    problems: Option<String>,
    /// Positions of a pretrained model's RoPE tables (prompt + response).
    #[arg(long, default_value_t = 2048)]
    max_seq_len: usize,
    /// With a run: which evaluator stage to repeat (default: the first).
    #[arg(long)]
    evaluator: Option<String>,
    /// Output directory (default: RUN/eval, or runs/eval-<data>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
    #[arg(long, default_value = "f32", help = DTYPE_HELP)]
    dtype: Precision,
}

/// What the problems and their checker are, and the settings a run suggests.
struct Plan {
    prompts: Vec<hicra_messages::Prompt>,
    checker: Box<dyn Checker>,
    verifier: String,
    data: String,
    defaults: EvalSettings,
    out: PathBuf,
}

pub fn run(registry: &Registry, args: EvalArgs) -> miette::Result<()> {
    // the whole input first, every problem reported at once: the files, the device, and the
    // problems read from `--data` (a bad file and a missing model are named together)
    let mut inputs = Inputs::new();
    let model_path = Path::new(&args.model);
    let model_there = inputs.model("--model", &args.model);
    if let Some(spec) = &args.judge {
        inputs.model("--judge", spec);
    }
    if let Some(path) = &args.judge_template {
        inputs.file("--judge-template", path, None);
    }
    let device = inputs.take(model_arg::open_device_in(args.device, args.dtype));
    let data = match (&args.problems, &args.data) {
        (Some(named), _) => inputs.take(pipeline_plan(registry, &args, named)),
        (None, Some(path)) if inputs.file("--data", path, Some(FETCH_DATA)) => {
            inputs.take(data_plan(registry, &args, path))
        }
        (None, None) if model_there && !is_run(model_path) => {
            inputs.push(miette!(
                "--data FILE or --problems PIPELINE.toml:STAGE is needed (only a hicra run \
                 brings its own problems)"
            ));
            None
        }
        _ => None,
    };
    inputs.finish()?;
    let device = device.expect("checked with the input");
    let (policy, plan) = if is_run(model_path) {
        let point =
            hicra_flow::checkpoint::resolve(model_path).map_err(|e| miette!("--model: {e}"))?;
        let loaded = crate::cmd_run::run_document(&point.run_dir)?;
        let trained = TrainedRun::new(&loaded.root, loaded.base_dir.clone(), model_path)
            .map_err(|e| miette!("{e}"))?;
        let policy = trained.policy(&device).map_err(|e| miette!("{e}"))?;
        let plan = match data {
            Some(plan) => plan,
            None => run_plan(registry, &args, &trained, &point.run_dir)?,
        };
        (policy, plan)
    } else {
        let plan = data.expect("checked with the input");
        let policy = EvalPolicy::pretrained(&args.model, args.max_seq_len, &device)
            .map_err(|e| miette!("{e}"))?;
        (policy, plan)
    };
    let settings = settings(&args, plan.defaults.clone())?;
    settings.validate().map_err(|e| miette!("{e}"))?;
    let judge = if settings.wants(ScorerName::Judge) {
        let model = match &args.judge {
            Some(spec) => EvalPolicy::pretrained(spec, args.max_seq_len, &device)
                .map_err(|e| miette!("--judge: {e}"))?,
            None => policy.clone(),
        };
        let template = match &args.judge_template {
            Some(path) => Some(std::fs::read_to_string(path).into_diagnostic()?),
            None => None,
        };
        Some(
            Judge::new(model, device.clone(), template, args.judge_batch)
                .map_err(|e| miette!("{e}"))?,
        )
    } else {
        None
    };
    let prm = match settings.prm_path().map_err(|e| miette!("{e}"))? {
        Some(path) => Some(
            load_prm(&args, path, &policy, &plan.prompts[0], &device)
                .map_err(|e| miette!("prm:{}: {e}", path.display()))?,
        ),
        None => None,
    };
    let job = EvalJob {
        policy: &policy,
        prompts: &plan.prompts,
        checker: plan.checker.as_ref(),
        verifier: plan.verifier.clone(),
        data: plan.data.clone(),
        settings: &settings,
        judge: judge.as_ref(),
        prm: prm.as_ref().map(|p| p as &dyn Scorer),
        device: &device,
    };
    let bar = ProgressBar::new(plan.prompts.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} problems  {elapsed} (eta {eta})")
            .expect("valid template"),
    );
    let (mut summary, records) =
        hicra_eval::evaluate(&job, &mut |done| bar.set_position(done as u64))
            .map_err(|e| miette!("{e}"))?;
    if let Some(prm) = &prm {
        summary
            .seconds
            .insert("prm_per_candidate".into(), prm.seconds_per_candidate());
        summary.metrics.insert(
            "prm/candidates_scored".into(),
            prm.candidates_scored() as f64,
        );
    }
    bar.finish_and_clear();
    let out = args.out.clone().unwrap_or(plan.out);
    let written = match &records {
        Records::Sampled(r) => summary.write(&out, r),
        Records::Searched(r) => summary.write(&out, r),
    };
    written.map_err(|e| miette!("{e}"))?;
    print!("{}", summary.table());
    eprintln!(
        "wrote {}/summary.json and responses.jsonl ({} records)",
        out.display(),
        records.len()
    );
    Ok(())
}

/// Problems from `--data` (`path`, checked to be a file).
fn data_plan(registry: &Registry, args: &EvalArgs, path: &Path) -> miette::Result<Plan> {
    let spec = DatasetSpec {
        path: path.to_path_buf(),
        preset: args.preset.clone(),
        question_field: args.question_field.clone(),
        answer_field: args.answer_field.clone(),
        count: args.count,
    };
    let problems = crate::problem_source::of_data(registry, &spec, args.verifier.as_deref())
        .map_err(|e| miette!("{e}"))?;
    let stem = path
        .file_stem()
        .map_or("data".into(), |s| s.to_string_lossy().into_owned());
    Ok(Plan {
        prompts: problems.prompts,
        checker: problems.checker,
        verifier: problems.verifier,
        data: path.display().to_string(),
        defaults: EvalSettings::default(),
        out: PathBuf::from("runs").join(format!("eval-{stem}")),
    })
}

/// Problems, checker and settings of the run's own evaluator.
fn run_plan(
    registry: &Registry,
    args: &EvalArgs,
    trained: &TrainedRun,
    run_dir: &Path,
) -> miette::Result<Plan> {
    let evaluator = trained
        .evaluator(args.evaluator.as_deref())
        .map_err(|e| miette!("{e}"))?;
    let source = evaluator.source;
    let prompts = prompts_of_source(
        registry,
        &source.id.name,
        &source.kind,
        &source.params,
        trained.seed(),
        &trained.base_dir,
    )
    .map_err(|e| miette!("the run's evaluation prompts: {e}"))?;
    let (kind, checker) = match &args.verifier {
        Some(v) => {
            let kind = format!("verifier.{v}");
            let checker =
                checker_for(&kind, &empty_table()).map_err(|e| miette!("--verifier: {e}"))?;
            (kind, checker)
        }
        None => {
            let v = evaluator.verifier;
            let checker = checker_for(&v.kind, &v.params).map_err(|e| miette!("{e}"))?;
            (v.kind.clone(), checker)
        }
    };
    let s = &evaluator.sampler;
    let defaults = EvalSettings {
        samples: s.group_size,
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        max_new_tokens: s.max_new_tokens,
        seed: derive_seed(trained.seed(), &evaluator.sampler_id),
        batch: prompts.len() * s.group_size,
        dtype: s.dtype,
        ..EvalSettings::default()
    };
    Ok(Plan {
        data: format!("{} ({})", source.id.name, source.kind),
        prompts,
        checker,
        verifier: kind,
        defaults,
        out: run_dir.join("eval"),
    })
}

fn empty_table() -> hicra_flow::Value {
    hicra_flow::Value::parse_document("", 0).expect("an empty document parses")
}

/// The process reward model stored at `path` (a `prm:PATH` scorer), checked to read the
/// problems with the policy's tokenizer.
fn load_prm(
    args: &EvalArgs,
    path: &Path,
    policy: &EvalPolicy,
    probe: &hicra_messages::Prompt,
    device: &Device,
) -> Result<PrmScorer, String> {
    let prm = PrmScorer::load(
        path,
        args.max_seq_len,
        args.prm_aggregate,
        args.prm_batch,
        device,
    )?;
    prm.check_tokenizer(&policy.codec, probe)?;
    Ok(prm)
}

/// Problems from `--problems PIPELINE.toml:STAGE`.
fn pipeline_plan(registry: &Registry, args: &EvalArgs, named: &str) -> miette::Result<Plan> {
    let count = if args.count == 0 { 64 } else { args.count };
    let problems = crate::problem_source::parse(named)
        .and_then(|(file, stage)| {
            crate::problem_source::of_pipeline(
                registry,
                &file,
                &stage,
                count,
                args.verifier.as_deref(),
            )
        })
        .map_err(|e| miette!("--problems: {e}"))?;
    let stem = named
        .rsplit_once(':')
        .map_or("problems", |(_, s)| s)
        .to_string();
    Ok(Plan {
        prompts: problems.prompts,
        checker: problems.checker,
        verifier: problems.verifier,
        data: problems.origin,
        defaults: EvalSettings::default(),
        out: PathBuf::from("runs").join(format!("eval-{stem}")),
    })
}

/// The search asked for: `--search` with the step, scorer, budget and MCTS flags.
fn search_spec(args: &EvalArgs) -> miette::Result<Option<SearchSpec>> {
    let Some(mut s) = args.search.clone() else {
        return Ok(None);
    };
    s.scorer = args.step_scorer.clone();
    s.steps = args.steps.clone();
    s.step_tokens = args.step_tokens;
    s.max_steps = args.max_steps;
    if let Some(expand) = args.expand {
        s.expand = expand;
    }
    match &mut s.kind {
        SearchKind::Mcts {
            exploration,
            rollout,
        } => {
            if args.search_budget.is_some_and(|b| Some(b) != s.budget) {
                return Err(miette!(
                    "--search-budget: mcts:BUDGET carries the budget of an MCTS search"
                ));
            }
            *exploration = args.mcts_c;
            *rollout = args.mcts_rollout;
        }
        SearchKind::Beam { .. } => {
            if args.mcts_rollout || args.mcts_c != 1.0 {
                return Err(miette!(
                    "--mcts-c and --mcts-rollout apply to --search mcts:BUDGET only"
                ));
            }
            s.budget = args.search_budget;
        }
    }
    Ok(Some(s))
}

/// The settings: flags given on the command line over the plan's defaults.
fn settings(args: &EvalArgs, defaults: EvalSettings) -> miette::Result<EvalSettings> {
    let search = search_spec(args)?;
    if search.is_none() && args.search_budget.is_some() {
        return Err(miette!("--search-budget needs a --search"));
    }
    Ok(EvalSettings {
        samples: args.samples.unwrap_or(defaults.samples),
        temperature: args.temperature.unwrap_or(defaults.temperature),
        top_p: args.top_p.unwrap_or(defaults.top_p),
        top_k: args.top_k.unwrap_or(defaults.top_k),
        max_new_tokens: args.max_new_tokens.unwrap_or(defaults.max_new_tokens),
        seed: args.seed.unwrap_or(defaults.seed),
        batch: args.batch.unwrap_or(defaults.batch),
        device: args.device,
        dtype: args.dtype,
        scorers: args.scorers.clone(),
        search,
    })
}
