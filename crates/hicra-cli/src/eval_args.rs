//! The arguments of `hicra eval` ([`EvalArgs`]) and how they become the evaluation's
//! settings ([`settings`]): each flag given on the command line over the defaults of the plan
//! (a run's own evaluator, or the stock [`EvalSettings`]), and the search flags gathered into
//! one [`SearchSpec`] with the combinations that make no sense refused.
//!
//! The command itself, which reads the problems and loads the models, is [`crate::cmd_eval`].

use std::path::PathBuf;

use clap::Args;
use hicra_eval::prm::Aggregate;
use hicra_eval::{EvalSettings, ScorerSpec, SearchKind, SearchSpec};
use hicra_model::{DeviceSpec, Precision};
use hicra_tasks::steps::Segmentation;
use miette::miette;

use crate::model_arg::{DEVICE_HELP, DTYPE_HELP, MODEL_HELP};

/// The flags of `hicra eval`, as given (a run's own defaults are applied by `settings`).
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The policy: a model (see `--help` of `generate`) or a hicra run / checkpoint directory.
    #[arg(long, help = format!("{MODEL_HELP}, or a hicra run directory (newest checkpoint) or checkpoints/step-N"))]
    pub(crate) model: String,
    /// Problems: a JSONL or Parquet file (default with a run: the run's evaluator prompts).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Field mapping of `--data`: `gsm8k`, `math500` or `custom` (with the two fields).
    #[arg(long)]
    pub(crate) preset: Option<String>,
    /// Question field of a custom dataset.
    #[arg(long)]
    pub(crate) question_field: Option<String>,
    /// Answer field of a custom dataset.
    #[arg(long)]
    pub(crate) answer_field: Option<String>,
    /// The first N problems of the file (0: all).
    #[arg(long, default_value_t = 0)]
    pub(crate) count: usize,
    /// The checker: `math`, `boxed` or `countdown` (default: `math`, or the run's verifier).
    #[arg(long)]
    pub(crate) verifier: Option<String>,
    /// Responses per problem, K (default 1, or the run evaluator's group size).
    #[arg(long)]
    pub(crate) samples: Option<usize>,
    /// Sampling temperature (default 0.6, or the run evaluator's).
    #[arg(long)]
    pub(crate) temperature: Option<f32>,
    /// Nucleus mass (default 1).
    #[arg(long)]
    pub(crate) top_p: Option<f32>,
    /// Keep the k likeliest tokens (default 0: off).
    #[arg(long)]
    pub(crate) top_k: Option<usize>,
    /// Most tokens per response (default 512, or the run evaluator's).
    #[arg(long)]
    pub(crate) max_new_tokens: Option<usize>,
    /// Seed of the draws (default 0, or the run evaluator's stage seed).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Responses decoded together (default 64, or every response of a run's evaluation).
    #[arg(long)]
    pub(crate) batch: Option<usize>,
    /// Best-of-K scorers, comma-separated: confidence, verifier (oracle), judge, prm:PATH (a
    /// process reward model).
    #[arg(long, value_delimiter = ',')]
    pub(crate) scorers: Vec<ScorerSpec>,
    /// Step-level search instead of K samples: `beam:W`, `lookahead:W:K` or
    /// `mcts:BUDGET[:E]` (BUDGET generated tokens per problem, E children per expansion).
    #[arg(long)]
    pub(crate) search: Option<SearchSpec>,
    /// The scorer of partial solutions in a search: judge, confidence or prm:PATH.
    #[arg(long, default_value = "judge")]
    pub(crate) step_scorer: ScorerSpec,
    /// How a search cuts steps: blank-line, newline, text:DELIM or tokens:N.
    #[arg(long, default_value = "blank-line")]
    pub(crate) steps: Segmentation,
    /// Most tokens generated per problem by a beam or lookahead search (mcts:BUDGET carries
    /// its own).
    #[arg(long)]
    pub(crate) search_budget: Option<usize>,
    /// MCTS's UCT exploration constant c.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) mcts_c: f64,
    /// MCTS values each new child by the score of a greedy completion to the end (its tokens
    /// count against the budget).
    #[arg(long)]
    pub(crate) mcts_rollout: bool,
    /// Most tokens per search step.
    #[arg(long, default_value_t = 256)]
    pub(crate) step_tokens: usize,
    /// Most steps per searched solution.
    #[arg(long, default_value_t = 12)]
    pub(crate) max_steps: usize,
    /// Candidates drawn per kept partial solution (default: the beam width), or children per
    /// MCTS expansion (default: E of mcts:BUDGET:E, else 4).
    #[arg(long)]
    pub(crate) expand: Option<usize>,
    /// The judge model (default: the policy itself).
    #[arg(long)]
    pub(crate) judge: Option<String>,
    /// A file holding the judging prompt, with {question} and {solution} placeholders.
    #[arg(long)]
    pub(crate) judge_template: Option<PathBuf>,
    /// Judging prompts per forward pass.
    #[arg(long, default_value_t = 8)]
    pub(crate) judge_batch: usize,
    /// How a `prm:PATH` scorer turns step scores into one: min, last, product or mean.
    #[arg(long, default_value = "min")]
    pub(crate) prm_aggregate: Aggregate,
    /// Candidates per PRM forward pass.
    #[arg(long, default_value_t = 16)]
    pub(crate) prm_batch: usize,
    /// Problems from a pipeline's source stage, PIPELINE.toml:STAGE (the first `--count`,
    /// judged by the pipeline's verifier unless `--verifier` is given).
    #[arg(long, conflicts_with = "data")]
    pub(crate) problems: Option<String>,
    /// Positions of a pretrained model's RoPE tables (prompt + response).
    #[arg(long, default_value_t = 2048)]
    pub(crate) max_seq_len: usize,
    /// With a run: which evaluator stage to repeat (default: the first).
    #[arg(long)]
    pub(crate) evaluator: Option<String>,
    /// Output directory (default: RUN/eval, or runs/eval-<data>).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    pub(crate) device: DeviceSpec,
    #[arg(long, default_value = "f32", help = DTYPE_HELP)]
    pub(crate) dtype: Precision,
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
pub(crate) fn settings(args: &EvalArgs, defaults: EvalSettings) -> miette::Result<EvalSettings> {
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
