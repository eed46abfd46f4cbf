//! `reward.process`: a trained process reward model scores every step of every training
//! response, for a credit stage to turn into per-token advantages
//! (docs/formulas/step-credit.md#process-rewards).
//!
//! Placed after a verifier, the stage cuts each response of a training batch into steps the
//! way the PRM's labels were made (the PRM's [`Segmentation`], recorded in its `prm.json`, and
//! the cut of `hicra_prm::annotate::cut`): the steps are found on the response's *own* tokens
//! ([`Segmentation::token_step_ends`] over `Rollout::token_spans`, the stop token left out), a
//! step's text runs to the end of its last token's span ([`step_texts`]), and the PRM scores
//! those texts ([`PrmScorer::score_cut`]). So there is one score per token range by
//! construction, and the ranges never disagree with the scores in number:
//!
//! ```text
//!  tokens   | 3 | * | 4 | = | 1 | 2 | \n | 2 | + | ... | 4 | <eos> |
//!  steps    |<-------- step 1 ---------->|<------ step 2 ---------->|
//!  written  StepReward { start: 0, end: 7, score: p1 }, { start: 7, end: n, score: p2 }
//! ```
//!
//! The ranges are contiguous, the first starts at token 0 and the last ends at the response's
//! length: tokens after the last step's text (the stop token) belong to the last step. A
//! response with no tokens gets no steps; one whose tokens decode to no text (a lone stop
//! token) gets one step over all of them, scored as the PRM scores an empty solution (at the
//! prompt's last token). Where the cut is made on the response's tokens and not on its text,
//! it is the cut of the labels the PRM learnt from: a step that ends inside a token (a BPE
//! token holding a delimiter and the next step's first letters) ends with that token.
//!
//! Evaluation batches pass untouched. The PRM must read prompts with the policy's tokenizer:
//! the first training batch checks that the PRM's codec encodes every rollout's prompt into
//! exactly its `prompt_tokens`.

use std::path::PathBuf;
use std::time::Instant;

use hicra_flow::files::{self, Wanted};
use hicra_flow::map::{self, Figures, MapLoop, Reporting};
use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult, refuse,
};
use hicra_messages::{FinishReason, Prompt, Rollout, RolloutBatch, StepReward};
use hicra_model::DeviceSpec;
use hicra_tasks::steps::Segmentation;
use serde::Deserialize;

use crate::prm::{Aggregate, PrmScorer, prm_dir, step_texts};

/// How a PRM is made: the help line of a missing or unusable `prm`.
pub const MAKE_PRM: &str = "a process reward model is trained by `hicra prm train` or a \
    `learner.prm` stage (docs/process-supervision.md)";

/// `reward.process`: step scores from a process reward model.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessRewardConfig {
    /// The process reward model: its directory (holding `prm.json`) or a run directory holding
    /// one (a `learner.prm` run keeps it in `prm/`), as `hicra eval --scorers prm:PATH` takes;
    /// relative to the working directory, like the runs it comes from (`learner.prm`'s
    /// `labels`, a learner's `model.checkpoint`). Required.
    pub prm: PathBuf,
    /// Positions of the PRM's RoPE tables: the longest prompt + response (tokens) it scores.
    /// Default 1024.
    pub max_seq_len: usize,
    /// Responses per PRM forward pass. Default 16.
    pub batch: usize,
    /// Where the PRM runs: `cpu`, `cuda[:N]`, `wgpu[:N]`. Default `cpu`.
    pub device: DeviceSpec,
}

impl Default for ProcessRewardConfig {
    fn default() -> Self {
        Self {
            prm: PathBuf::new(),
            max_seq_len: 1024,
            batch: 16,
            device: DeviceSpec::default(),
        }
    }
}

impl ProcessRewardConfig {
    /// The PRM directory `prm` names (relative to the working directory), or why it is
    /// unusable, as a problem on `prm`.
    fn prm_dir(&self) -> Result<PathBuf, Invalid> {
        if self.prm.as_os_str().is_empty() {
            return Err(
                Invalid::new("prm", "name the process reward model to score steps with")
                    .help(MAKE_PRM),
            );
        }
        let path = self.prm.clone();
        files::check(&path, Wanted::Dir).map_err(|p| p.help(MAKE_PRM).invalid("prm"))?;
        let dir = prm_dir(&path).map_err(|e| Invalid::new("prm", e).help(MAKE_PRM))?;
        hicra_prm::store::read_info(&dir).map_err(|e| Invalid::new("prm", e).help(MAKE_PRM))?;
        Ok(dir)
    }
}

impl StageConfig for ProcessRewardConfig {
    const KIND: &'static str = "reward.process";
    const SUMMARY: &'static str =
        "a process reward model's score for every step of each training response (step_rewards)";
    const EXAMPLE: &'static str = r#"[stages.process]
kind = "reward.process"
inputs = { rollouts = "verifier.rollouts" }
prm = ""                      # required: a PRM directory or a run holding one (prm/)
max_seq_len = 1024            # positions of the PRM's RoPE tables
batch = 16                    # responses per PRM forward pass
device = "cpu"
"#;

    fn ports(&self) -> Ports {
        map::ports_with_metrics::<RolloutBatch>(
            "verified rollouts",
            "the batch with step_rewards on every training response",
            "step-score figures of every training batch (process/...)",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if let Err(p) = self.prm_dir() {
            problems.push(p);
        }
        if self.max_seq_len < 2 {
            problems.push(Invalid::new("max_seq_len", "need at least 2 positions"));
        }
        if self.batch == 0 {
            problems.push(Invalid::new(
                "batch",
                "score at least 1 response per forward pass",
            ));
        }
        if let Err(e @ hicra_model::DeviceError::NotBuilt { .. }) = self.device.device() {
            problems.push(Invalid::new("device", e.to_string()));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let dir = self.prm_dir().map_err(|p| p.message)?;
        Ok(Box::new(ProcessRewardStage { dir, config: self }))
    }
}

/// The stage before its PRM is loaded (on the stage's own thread, in `run`).
struct ProcessRewardStage {
    dir: PathBuf,
    config: ProcessRewardConfig,
}

impl Stage for ProcessRewardStage {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let c = &self.config;
        let device = c.device.open()?;
        let scorer = PrmScorer::load(&self.dir, c.max_seq_len, Aggregate::Min, c.batch, &device)?;
        let mut stage = ProcessReward::new(scorer);
        MapLoop::new()
            .reporting(Reporting::Each)
            .run(ctx, |batch: &mut RolloutBatch| Ok(stage.step(batch)?))
    }
}

/// The pure step of `reward.process`: a loaded PRM and whether prompts were checked.
pub struct ProcessReward {
    scorer: PrmScorer,
    prompts_checked: bool,
}

/// One rollout cut into steps: their texts and, per step, the response tokens up to and
/// including its last one (increasing, the last the response's length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub steps: Vec<String>,
    pub token_ends: Vec<usize>,
}

impl ProcessReward {
    pub fn new(scorer: PrmScorer) -> Self {
        Self {
            scorer,
            prompts_checked: false,
        }
    }

    /// The PRM.
    pub fn scorer(&self) -> &PrmScorer {
        &self.scorer
    }

    /// Writes `step_rewards` on every rollout of a training batch and returns the batch's
    /// figures; an evaluation batch is left as it is. Errors name the rollout.
    pub fn step(&mut self, batch: &mut RolloutBatch) -> Result<Figures, String> {
        if batch.eval {
            return Ok(Figures::new());
        }
        let started = Instant::now();
        if !self.prompts_checked && batch.num_rollouts() > 0 {
            self.check_prompts(batch)?;
            self.prompts_checked = true;
        }
        let stops = self.scorer.codec().stop_tokens();
        let rule = self.scorer.segmentation().clone();
        let mut cuts: Vec<Vec<Option<Cut>>> = Vec::with_capacity(batch.groups.len());
        for group in &batch.groups {
            let cut = group
                .rollouts
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    cut(r, &rule, &stops).map_err(|e| name(&group.prompt.id, index, &e))
                })
                .collect::<Result<_, _>>()?;
            cuts.push(cut);
        }
        let items: Vec<(&Prompt, &[String])> = batch
            .groups
            .iter()
            .zip(&cuts)
            .flat_map(|(g, cut)| {
                cut.iter()
                    .flatten()
                    .map(|c| (g.prompt.as_ref(), c.steps.as_slice()))
            })
            .collect();
        let mut scores = self.scorer.score_cut(&items)?.into_iter();
        for (group, cut) in batch.groups.iter_mut().zip(cuts) {
            for (index, (r, cut)) in group.rollouts.iter_mut().zip(cut).enumerate() {
                r.step_rewards = match cut {
                    None => Vec::new(),
                    Some(cut) => {
                        let scores = scores.next().unwrap_or_default();
                        rewards(&cut, &scores).map_err(|e| name(&group.prompt.id, index, &e))?
                    }
                };
            }
        }
        Ok(figures(batch, started.elapsed().as_secs_f64()))
    }

    /// Errors unless the PRM's codec encodes each rollout's prompt into its `prompt_tokens`
    /// (the policy's codec is not at hand here: the rollout carries what it read).
    pub fn check_prompts(&self, batch: &RolloutBatch) -> Result<(), String> {
        for group in &batch.groups {
            if group.rollouts.is_empty() {
                continue;
            }
            let ours = self
                .scorer
                .codec()
                .encode_prompt(&group.prompt)
                .map_err(|e| format!("the PRM {} cannot read a prompt: {e}", self.scorer.origin))?;
            for (index, r) in group.rollouts.iter().enumerate() {
                if r.prompt_tokens != ours {
                    return Err(name(
                        &group.prompt.id,
                        index,
                        &format!(
                            "the PRM {} reads its prompt into {} tokens{} where the policy read \
                             {}: the PRM was trained on another tokenizer than the policy's \
                             (train it from the policy or a model with its tokenizer)",
                            self.scorer.origin,
                            ours.len(),
                            if ours.len() == r.prompt_tokens.len() {
                                " (other ids)"
                            } else {
                                ""
                            },
                            r.prompt_tokens.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `rollout INDEX of group `ID`: WHAT`.
fn name(group: &str, index: usize, what: &str) -> String {
    format!("rollout {index} of group `{group}`: {what}")
}

/// `r` cut into steps by `rule` on its own tokens (see the [module documentation](self));
/// `None` for a response with no tokens. `stops` are the codec's stop tokens: a final one of a
/// stopped response is no part of the text and joins the last step.
pub fn cut(r: &Rollout, rule: &Segmentation, stops: &[u32]) -> Result<Option<Cut>, String> {
    let n = r.tokens.len();
    if n == 0 {
        return Ok(None);
    }
    if r.token_spans.len() != n {
        return Err(format!(
            "{} token spans for {n} tokens, so its steps cannot be placed on tokens",
            r.token_spans.len()
        ));
    }
    if let Some((t, span)) = r
        .token_spans
        .iter()
        .enumerate()
        .find(|(_, s)| s.0 > s.1 || s.1 > r.text.len())
    {
        return Err(format!(
            "token {t} spans bytes {}..{} of a {}-byte text",
            span.0,
            span.1,
            r.text.len()
        ));
    }
    let stopped =
        r.finish == Some(FinishReason::Stop) && r.tokens.last().is_some_and(|t| stops.contains(t));
    let text_tokens = n - usize::from(stopped);
    let spans = &r.token_spans[..text_tokens];
    let mut token_ends = rule.token_step_ends(&r.text, spans);
    let steps = if token_ends.is_empty() {
        // nothing but the stop token: one (empty) step, read after the prompt
        token_ends.push(n);
        vec![String::new()]
    } else {
        step_texts(&r.text, spans, &token_ends)?
    };
    if let Some(last) = token_ends.last_mut() {
        *last = n;
    }
    Ok(Some(Cut { steps, token_ends }))
}

/// The step rewards of `cut` with one score per step, or why they cannot be.
fn rewards(cut: &Cut, scores: &[f64]) -> Result<Vec<StepReward>, String> {
    if scores.len() != cut.token_ends.len() {
        return Err(format!(
            "{} steps but the PRM gave {} scores",
            cut.token_ends.len(),
            scores.len()
        ));
    }
    let mut start = 0u32;
    cut.token_ends
        .iter()
        .zip(scores)
        .enumerate()
        .map(|(k, (&end, &score))| {
            let end =
                u32::try_from(end).map_err(|_| format!("step {} ends past u32 tokens", k + 1))?;
            if end <= start {
                return Err(format!("step {} spans tokens {start}..{end}", k + 1));
            }
            if !score.is_finite() {
                return Err(format!("the PRM scored step {} {score}", k + 1));
            }
            let step = StepReward { start, end, score };
            start = end;
            Ok(step)
        })
        .collect()
}

/// The figures of a scored training batch (see docs/process-supervision.md#process-rewards-in-rl).
pub fn figures(batch: &RolloutBatch, seconds: f64) -> Figures {
    let mut m = Figures::new();
    m.insert("process/score_secs".into(), seconds);
    let responses = batch.num_rollouts();
    if responses == 0 {
        return m;
    }
    let mean = |rs: &mut dyn Iterator<Item = &Rollout>| {
        let (sum, count) = rs
            .flat_map(|r| &r.step_rewards)
            .fold((0.0, 0usize), |(s, c), step| (s + step.score, c + 1));
        (count > 0).then(|| sum / count as f64)
    };
    let steps: usize = batch.rollouts().map(|r| r.step_rewards.len()).sum();
    m.insert(
        "process/steps_per_response".into(),
        steps as f64 / responses as f64,
    );
    for (key, filter) in [
        ("process/step_score_mean", None),
        ("process/step_score_correct_mean", Some(true)),
        ("process/step_score_wrong_mean", Some(false)),
    ] {
        let mut chosen = batch
            .rollouts()
            .filter(|r| filter.is_none() || r.correct == filter);
        if let Some(v) = mean(&mut chosen) {
            m.insert(key.into(), v);
        }
    }
    let (weakest, correct): (Vec<f64>, Vec<bool>) = batch
        .rollouts()
        .filter_map(|r| {
            let weakest = r.step_rewards.iter().map(|s| s.score).reduce(f64::min)?;
            Some((weakest, r.correct?))
        })
        .unzip();
    if let Some(auc) = hicra_prm::auc::roc_auc(&weakest, &correct) {
        m.insert("process/response_auc".into(), auc.auc);
    }
    m
}

#[cfg(test)]
#[path = "process_reward_tests.rs"]
mod tests;
