//! `reward.process`: every step of every training response gets a score, for a credit stage
//! to turn into per-token advantages (docs/formulas/step-credit.md#process-rewards). The
//! scores come from one of two sources: a trained process reward model (`prm`), or
//! Monte-Carlo estimates (`montecarlo`: the share of a fixed completer's continuations of the
//! step's prefix that the checker judges correct, see [`mc`]).
//!
//! Placed after a verifier, the stage cuts each response of a training batch into steps the
//! way the PRM's labels were made (the PRM's [`Segmentation`], recorded in its `prm.json`, and
//! the cut of `hicra_prm::annotate::cut`; `montecarlo.steps` for Monte-Carlo scores): the
//! steps are found on the response's *own* tokens ([`Segmentation::token_step_ends`] over
//! `Rollout::token_spans`, the stop token left out), a step's text runs to the end of its last
//! token's span ([`step_texts`]), and the PRM scores those texts ([`PrmScorer::score_cut`])
//! or the completer continues from those token ends. So there is one score per token range by
//! construction, the ranges never disagree with the scores in number, and both sources give
//! the same ranges for the same rule:
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
//! Evaluation batches pass untouched. The PRM (or the completer) must read prompts with the
//! policy's tokenizer: the first training batch checks that its codec encodes every rollout's
//! prompt into exactly its `prompt_tokens`.

use std::time::Instant;

use hicra_flow::map::Figures;
use hicra_messages::{FinishReason, Prompt, Rollout, RolloutBatch, StepReward};
use hicra_tasks::steps::Segmentation;

use crate::prm::{PrmScorer, step_texts};

#[path = "process_reward_config.rs"]
mod config;
#[path = "process_reward_mc.rs"]
pub mod mc;
pub use config::{MAKE_PRM, ProcessRewardConfig, SOURCES};
pub use mc::{MonteCarlo, MonteCarloConfig};

/// The pure step of `reward.process`: a loaded source of step scores and whether prompts
/// were checked.
pub struct ProcessReward {
    source: Source,
    prompts_checked: bool,
}

/// Where step scores come from.
enum Source {
    Prm(Box<PrmScorer>),
    MonteCarlo(MonteCarlo),
}

impl Source {
    fn codec(&self) -> &hicra_train::TextCodec {
        match self {
            Self::Prm(s) => s.codec(),
            Self::MonteCarlo(m) => m.codec(),
        }
    }

    fn segmentation(&self) -> &Segmentation {
        match self {
            Self::Prm(s) => s.segmentation(),
            Self::MonteCarlo(m) => m.segmentation(),
        }
    }

    /// What reads the prompts, and what to do about another tokenizer.
    fn reader(&self) -> (String, &'static str) {
        match self {
            Self::Prm(s) => (
                format!("the PRM {}", s.origin),
                "the PRM was trained on another tokenizer than the policy's (train it from the \
                 policy or a model with its tokenizer)",
            ),
            Self::MonteCarlo(m) => (
                format!("the completer {}", m.origin),
                "the completer has another tokenizer than the policy's (complete with the \
                 policy's starting point or a model with its tokenizer)",
            ),
        }
    }
}

/// One rollout cut into steps: their texts and, per step, the response tokens up to and
/// including its last one (increasing, the last the response's length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub steps: Vec<String>,
    pub token_ends: Vec<usize>,
}

impl ProcessReward {
    /// Step scores from a process reward model.
    pub fn new(scorer: PrmScorer) -> Self {
        Self {
            source: Source::Prm(Box::new(scorer)),
            prompts_checked: false,
        }
    }

    /// Step scores from Monte-Carlo completions.
    pub fn monte_carlo(scorer: MonteCarlo) -> Self {
        Self {
            source: Source::MonteCarlo(scorer),
            prompts_checked: false,
        }
    }

    /// The PRM, when the scores come from one.
    pub fn scorer(&self) -> Option<&PrmScorer> {
        match &self.source {
            Source::Prm(s) => Some(s),
            Source::MonteCarlo(_) => None,
        }
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
        let stops = self.source.codec().stop_tokens();
        let rule = self.source.segmentation().clone();
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
        let (scores, drawn) = match &self.source {
            Source::Prm(scorer) => {
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
                (scorer.score_cut(&items)?, None)
            }
            Source::MonteCarlo(mc) => {
                let (scores, drawn) = mc.score(batch, &cuts)?;
                (scores, Some(drawn))
            }
        };
        let mut scores = scores.into_iter();
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
        let mut m = figures(batch, started.elapsed().as_secs_f64());
        if let Some(d) = drawn {
            m.insert("process/completions".into(), d.completions as f64);
            m.insert(
                "process/completion_tokens".into(),
                d.completion_tokens as f64,
            );
        }
        Ok(m)
    }

    /// Errors unless the PRM's (or the completer's) codec encodes each rollout's prompt into
    /// its `prompt_tokens` (the policy's codec is not at hand here: the rollout carries what it
    /// read).
    pub fn check_prompts(&self, batch: &RolloutBatch) -> Result<(), String> {
        let (reader, why) = self.source.reader();
        for group in &batch.groups {
            if group.rollouts.is_empty() {
                continue;
            }
            let ours = self
                .source
                .codec()
                .encode_prompt(&group.prompt)
                .map_err(|e| format!("{reader} cannot read a prompt: {e}"))?;
            for (index, r) in group.rollouts.iter().enumerate() {
                if r.prompt_tokens != ours {
                    return Err(name(
                        &group.prompt.id,
                        index,
                        &format!(
                            "{reader} reads its prompt into {} tokens{} where the policy read \
                             {}: {why}",
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
            "{} steps but {} scores",
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
                return Err(format!("step {} scored {score}", k + 1));
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

#[cfg(test)]
#[path = "process_reward_stage_tests.rs"]
mod stage_tests;
