//! # hicra-eval: measuring a policy, and spending test-time compute on it
//!
//! Training ends with a policy; this crate says how good it is on a benchmark and how much
//! better it gets with more samples at test time. One entry point, [`evaluate`], takes a
//! policy ([`EvalPolicy`]: a pretrained checkpoint or a hicra run's checkpoint, rebuilt from
//! the run's own pipeline), problems (any prompt source, run alone: [`problems`]), the
//! checker of a verifier stage ([`hicra_tasks::answers::Checker`]) and [`EvalSettings`], and
//! returns a [`Summary`] with the records behind it.
//!
//! **Sampling** ([`sampled`]): K responses per problem through the training sampler's own
//! batch code (so a run's evaluator stage and `hicra eval` draw the same responses from one
//! seed), judged by the checker, then graded with [`hicra_tasks::grading`], the functions
//! every verifier stage uses for `pass@k/eval` and `maj@K/eval` during training: pass@k by
//! the unbiased estimator of Chen et al. (2021) for every power of two up to K and K itself,
//! maj@K by self-consistency over the checker's answer equivalence (ties: the earliest
//! answer), and best-of-K for each [`scorer`]: `confidence` (mean token log-prob),
//! `verifier` (the oracle upper bound, labelled so), `judge` ([`judge`]: a generative
//! reward model from any causal LM, the probability of "yes" after a judging prompt) and
//! `prm:PATH` (a process reward model, loaded by the caller and handed over in
//! [`EvalJob::prm`]).
//!
//! **Search** ([`search`]): `beam:W` and `lookahead:W:K` grow solutions step by step, keeping
//! the W best partial solutions by a step scorer; `mcts:BUDGET[:E]` grows a tree of steps by
//! UCT, expanding E children at a time and backing up their scores. Steps are cut by the
//! shared rule of [`hicra_tasks::steps`]. Every search reports the tokens it generated, and
//! each can be held to a token budget (MCTS always is), so searches compare at equal cost.
//!
//! **In training** ([`process_reward`]): the `reward.process` stage scores every step of each
//! training response with a trained PRM and writes the scores on the rollout's token ranges
//! (`Rollout::step_rewards`), for a credit stage to turn into per-token advantages
//! (docs/formulas/step-credit.md#process-rewards); [`register`] adds it to a registry.
//!
//! Everything is seeded: the same policy, problems, settings and seed give the same summary
//! (only its `seconds` differ). `hicra eval` is the command line over it.

pub mod baselines;
pub mod judge;
pub mod policy;
pub mod prm;
pub mod problems;
pub mod process_reward;
pub mod report;
pub mod sampled;
pub mod scorer;
pub mod search;
pub mod settings;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Instant;

use hicra_messages::Prompt;
use hicra_model::Device;
use hicra_tasks::answers::Checker;

pub use judge::Judge;
pub use policy::{EvalPolicy, TrainedRun};
pub use report::Summary;
pub use sampled::ResponseRecord;
pub use search::SearchRecord;
pub use settings::{EvalSettings, ScorerName, ScorerSpec, SearchKind, SearchSpec};

use crate::scorer::{Confidence, Scorer, VerifierOracle};
use crate::search::{StepSearch, search_all};

/// Registers the stages of this crate (`reward.process`).
pub fn register(registry: &mut hicra_flow::Registry) {
    registry.register::<process_reward::ProcessRewardConfig>();
}

/// One evaluation to run.
pub struct EvalJob<'a> {
    /// The policy evaluated.
    pub policy: &'a EvalPolicy,
    /// The problems.
    pub prompts: &'a [Prompt],
    /// Judges the answers.
    pub checker: &'a dyn Checker,
    /// The checker's name, for the summary (`verifier.math`).
    pub verifier: String,
    /// Where the problems came from, for the summary.
    pub data: String,
    pub settings: &'a EvalSettings,
    /// The judge, when a `judge` scorer is asked for.
    pub judge: Option<&'a Judge>,
    /// The process reward model, when a `prm:PATH` scorer is asked for (the caller loads
    /// the one [`EvalSettings::prm_path`] names).
    pub prm: Option<&'a dyn Scorer>,
    /// Where the policy runs.
    pub device: &'a Device,
}

/// The records behind a summary.
pub enum Records {
    /// One record per sampled response.
    Sampled(Vec<ResponseRecord>),
    /// One record per searched problem.
    Searched(Vec<SearchRecord>),
}

impl Records {
    /// How many records.
    pub fn len(&self) -> usize {
        match self {
            Self::Sampled(r) => r.len(),
            Self::Searched(r) => r.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EvalJob<'_> {
    fn scorer(&self, spec: &ScorerSpec) -> Result<&dyn Scorer, String> {
        Ok(match spec {
            ScorerSpec::Confidence => &Confidence,
            ScorerSpec::Verifier => &VerifierOracle,
            ScorerSpec::Judge => self
                .judge
                .map(|j| j as &dyn Scorer)
                .ok_or("the judge scorer needs a judge model")?,
            ScorerSpec::Prm(path) => self
                .prm
                .ok_or_else(|| format!("the scorer prm:{} needs a loaded PRM", path.display()))?,
        })
    }

    fn summary(&self, metrics: BTreeMap<String, f64>, seconds: BTreeMap<String, f64>) -> Summary {
        let s = self.settings;
        let mut notes = BTreeMap::new();
        let oracle = format!("best_of_{}/verifier", s.samples);
        if metrics.contains_key(&oracle) {
            notes.insert(
                oracle,
                "oracle upper bound: the gold answer picks the response (equals pass@K)".into(),
            );
        }
        if metrics.contains_key(&format!("maj@{}", s.samples)) {
            notes.insert(
                format!("maj@{}", s.samples),
                "self-consistency: answers grouped by the verifier's equivalence; ties go to the answer given first".into(),
            );
        }
        Summary {
            model: self.policy.origin.clone(),
            policy_version: self.policy.version,
            data: self.data.clone(),
            verifier: self.verifier.clone(),
            judge: self.judge.map(|j| j.origin.clone()),
            prm: s.prm_path().ok().flatten().map(|p| p.display().to_string()),
            problems: self.prompts.len(),
            samples: s.samples,
            seed: s.seed,
            temperature: s.temperature,
            top_p: s.top_p,
            top_k: s.top_k,
            max_new_tokens: s.max_new_tokens,
            batch: s.batch,
            search: s.search.as_ref().map(SearchSpec::label),
            metrics,
            notes,
            seconds,
        }
    }
}

/// Runs the evaluation; `progress` hears how many problems are done.
pub fn evaluate(
    job: &EvalJob<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<(Summary, Records), String> {
    job.settings.validate()?;
    if job.prompts.is_empty() {
        return Err("no problems to evaluate".into());
    }
    let started = Instant::now();
    if let Some(spec) = &job.settings.search {
        let search = StepSearch {
            policy: job.policy,
            spec,
            settings: job.settings,
            scorer: job.scorer(&spec.scorer)?,
            checker: job.checker,
            device: job.device,
        };
        let records = search_all(&search, job.prompts, progress)?;
        let n = records.len() as f64;
        let label = spec.label();
        let mut metrics = BTreeMap::new();
        let mean = |f: &dyn Fn(&SearchRecord) -> f64| records.iter().map(f).sum::<f64>() / n;
        metrics.insert(
            format!("search/{label}"),
            mean(&|r| f64::from(u8::from(r.correct))),
        );
        metrics.insert(
            format!("search/{label}/tokens_drawn"),
            mean(&|r| r.tokens_drawn as f64),
        );
        metrics.insert(
            format!("search/{label}/candidates_scored"),
            mean(&|r| r.candidates_scored as f64),
        );
        metrics.insert(format!("search/{label}/nodes"), mean(&|r| r.nodes as f64));
        metrics.insert(
            format!("search/{label}/iterations"),
            mean(&|r| r.iterations as f64),
        );
        metrics.insert("response_length/mean".into(), mean(&|r| r.tokens as f64));
        metrics.insert(
            "truncated_frac".into(),
            mean(&|r| f64::from(u8::from(r.truncated))),
        );
        metrics.insert(
            "unparsed_frac".into(),
            mean(&|r| f64::from(u8::from(r.answer.is_none()))),
        );
        let mut seconds = BTreeMap::new();
        seconds.insert("search".into(), started.elapsed().as_secs_f64());
        seconds.insert("total".into(), started.elapsed().as_secs_f64());
        return Ok((job.summary(metrics, seconds), Records::Searched(records)));
    }
    let scorers: Vec<&dyn Scorer> = job
        .settings
        .scorers
        .iter()
        .map(|n| job.scorer(n))
        .collect::<Result<_, _>>()?;
    let outcome = sampled::sample_and_grade(
        job.policy,
        job.prompts,
        job.checker,
        job.settings,
        &scorers,
        job.device,
        progress,
    )?;
    let mut seconds = outcome.seconds;
    seconds.insert("total".into(), started.elapsed().as_secs_f64());
    Ok((
        job.summary(outcome.metrics, seconds),
        Records::Sampled(outcome.records),
    ))
}
