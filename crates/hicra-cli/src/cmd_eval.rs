//! `hicra eval`: a policy measured on a benchmark — pass@k, majority vote, best-of-K by each
//! scorer, or a step-level search — with `summary.json`, `responses.jsonl` and a table.
//!
//! The policy is a pretrained model or a hicra run (its newest checkpoint, or one
//! `checkpoints/step-N`). Given a run and no `--data`, the run's own evaluator is repeated:
//! its prompt source, its verifier, its sampling settings and its seed, so the figure equals
//! the run's last `accuracy/eval` for that checkpoint.
//!
//! The input is checked as a whole before a model loads (`--model`, `--judge`, `--data` and
//! its rows, `--judge-template`, the device): every problem is reported at once. The flags
//! themselves, and how they become the settings, are [`crate::eval_args`].

use std::path::{Path, PathBuf};

use hicra_eval::policy::is_run;
use hicra_eval::prm::PrmScorer;
use hicra_eval::problems::{DatasetSpec, prompts_of_source};
use hicra_eval::scorer::Scorer;
use hicra_eval::{EvalJob, EvalPolicy, EvalSettings, Judge, Records, ScorerName, TrainedRun};
use hicra_flow::{Registry, derive_seed};
use hicra_model::Device;
use hicra_tasks::answers::Checker;
use hicra_tasks::checkers::checker_for;
use hicra_tasks::dataset::FETCH_DATA;
use indicatif::{ProgressBar, ProgressStyle};
use miette::{IntoDiagnostic, miette};

/// The flags of `hicra eval`, read by [`run`] (defined in `eval_args.rs`).
pub use crate::eval_args::EvalArgs;
use crate::eval_args::settings;
use crate::inputs::Inputs;
use crate::model_arg;

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
