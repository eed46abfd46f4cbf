//! Step-level search guided by a step scorer (a process reward model), after Snell et al.
//! 2024, *Scaling LLM Test-Time Compute Optimally...*, section 5.
//!
//! A solution grows one *step* at a time: a step ends by the shared step rule
//! ([`hicra_tasks::steps::Segmentation`]: at its delimiter, a blank line by default, or after
//! `N` tokens for `tokens:N`), or after `step_tokens`. **Beam (`beam:W`)**: the first step is
//! drawn `W * E` times from the prompt; candidates with the same tokens are merged into one
//! (at temperature 0 every draw from one path is the same, and a beam of copies searches
//! nothing); every candidate is scored; the `W` best are kept; each kept partial solution is
//! extended by `E` new steps, and so on. Kept candidates that have ended (a stop token, or the
//! response budget) leave the beam for the pool of finished solutions; the search stops when
//! the beam is empty, after `max_steps` or when the token budget is spent (unfinished beams
//! then join the pool as truncated). The answer is the pool's best-scored solution.
//! **Lookahead (`lookahead:W:K`)**: the same, but a candidate is scored on its greedy
//! continuation `K` steps further, which sees whether a step leads somewhere before keeping
//! it. Ties keep the earlier candidate.
//!
//! **MCTS (`mcts:BUDGET[:E]`)**: a tree whose nodes are steps (a node's partial solution is
//! the prompt and the steps on the way to it). Each iteration descends from the root by UCT
//! (an unvisited child first, else the best `mean value + c * sqrt(ln N_parent / n_child)`,
//! the earlier child on ties; [`tree`]) to a leaf. A leaf that can still grow is *expanded*:
//! `E` child steps are drawn from its prefix in one batched draw (they share its prefill),
//! identical children are merged, and each new child's value, the scorer's score of its
//! partial solution (a PRM's or judge's in [0, 1]; for `confidence`, `exp` of the mean
//! log-prob, in (0, 1]), is backed up into every ancestor (a node's value is the mean of what
//! was backed up through it). With `rollout`, a child's value is instead the score of its
//! greedy completion to the end, whose tokens are counted. A *terminal* leaf (finished by a
//! stop token, out of room, or `max_steps` deep) is backed up again with its own value when
//! selected. The search stops when the budget is spent, when every leaf is terminal, or
//! after [`mcts::IDLE_LIMIT`] iterations in a row that only re-selected terminal leaves. The
//! answer is the finished solution with the best mean value (ties: more visits, then the
//! earlier node); when none finished, the end of the path of most-visited children, marked
//! truncated.
//!
//! **Budget.** Each path has its own room: its next step takes at most `step_tokens`, within
//! what `max_new_tokens` leaves after that path's own tokens and what the context leaves
//! after its own prefix ([`paths::step_room`]); a step that the budget cuts marks its path
//! truncated. Paths are sampled in one batch when the batch's context limit cuts none of
//! them below its room, else one by one (the same tokens either way, see below). A search
//! with a token budget (MCTS always; beam and lookahead with one) never *generates* more
//! tokens than it: when a batch could (its samples times its widest room) exceed what is
//! left, each path's draw is capped instead ([`paths::capped_draw`]: as many whole-room
//! samples as fit, or one sample with the room that is left), and the search goes on while
//! tokens are left, so a binding budget is spent exactly. `tokens_drawn` counts every token
//! generated for a problem (steps, lookahead continuations and rollouts).
//!
//! **One temperature.** Every log-probability a path records is at one temperature, the
//! sampling temperature (1 when it is 0), so the `confidence` scorer compares like with like:
//! the lookahead's continuation and MCTS's rollout are drawn as the single most likely token
//! at that temperature (top-k = 1), which records the log-probability of the tempered
//! distribution the candidate's own step was drawn from, not the T = 1 one of plain greedy
//! decoding.
//!
//! **Randomness.** Each drawn step has its own random stream ([`hicra_model::streams`]): a
//! problem's seed is `derive_seed(eval seed, "search/{problem id}")`; the paths extended at
//! beam step `s` take `derive_seed(problem seed, "{s}/step/{i}")` for parent path `i` (its
//! index in the beam) and the lookahead's round `r` `"{s}/ahead-{r}/{i}"` for candidate `i`;
//! MCTS's expansion at iteration `t` takes `"{t}/expand"` and the rollout of its `i`-th new
//! child `"{t}/rollout/{i}"`; the `j`-th sample of a parent is stream `j` of its seed. So a
//! search is reproducible, and a step does not depend on which other paths are sampled
//! beside it.

mod beam;
mod draw;
mod mcts;
mod paths;
pub mod spec;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_mcts;
mod tree;

use hicra_flow::derive_seed;
use hicra_messages::Prompt;
use hicra_model::{Device, SamplingParams};
use hicra_tasks::answers::Checker;
use serde::{Deserialize, Serialize};

use crate::policy::EvalPolicy;
use crate::scorer::{Candidate, Scorer};
use crate::settings::{EvalSettings, SearchKind, SearchSpec};
use paths::Path;

/// The outcome of one problem's search, as written to `responses.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchRecord {
    /// The problem's id.
    pub problem: String,
    /// The chosen solution.
    pub response: String,
    /// The answer the verifier read from it.
    pub answer: Option<String>,
    /// The gold answer.
    pub gold: String,
    /// The verifier's verdict.
    pub correct: bool,
    /// Why it is not correct, in the verifier's words.
    pub reason: Option<String>,
    /// The step scorer's score of the chosen solution (for MCTS, its node's mean value).
    pub score: f64,
    /// Steps of the chosen solution.
    pub steps: usize,
    /// Tokens of the chosen solution.
    pub tokens: usize,
    /// The chosen solution did not finish (out of room, steps or budget).
    pub truncated: bool,
    /// Tokens generated for this problem: steps, lookahead continuations and rollouts.
    pub tokens_drawn: usize,
    /// Candidates scored.
    pub candidates_scored: usize,
    /// Partial solutions the search made: candidates (beam), tree nodes besides the root
    /// (MCTS).
    #[serde(default)]
    pub nodes: usize,
    /// Beam steps run, or MCTS iterations.
    #[serde(default)]
    pub iterations: usize,
}

/// Searches one problem at a time.
pub struct StepSearch<'a> {
    /// The policy that draws the steps.
    pub policy: &'a EvalPolicy,
    /// Which search.
    pub spec: &'a SearchSpec,
    /// How steps are sampled (temperature, top-p/k, seed, response budget).
    pub settings: &'a EvalSettings,
    /// The scorer of partial solutions.
    pub scorer: &'a dyn Scorer,
    /// Judges the chosen solution.
    pub checker: &'a dyn Checker,
    /// Where the policy runs.
    pub device: &'a Device,
}

/// What a search found for one problem, before it is judged.
pub(crate) struct Found {
    pub(crate) path: Path,
    pub(crate) score: f64,
    pub(crate) tokens_drawn: usize,
    pub(crate) candidates_scored: usize,
    pub(crate) nodes: usize,
    pub(crate) iterations: usize,
}

/// The seeds of the paths extended together: path `i` takes `"{step}/{phase}/{i}"` of the
/// problem's seed (see the module's docs).
fn path_seeds(problem: u64, step: usize, phase: &str, paths: usize) -> Vec<u64> {
    (0..paths)
        .map(|i| derive_seed(problem, &format!("{step}/{phase}/{i}")))
        .collect()
}

impl StepSearch<'_> {
    /// How steps are drawn at `temperature` (the room is set per call).
    fn params(&self, temperature: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            top_p: self.settings.top_p,
            top_k: self.settings.top_k,
            max_new_tokens: self.spec.step_tokens,
            stop_tokens: self.policy.codec.stop_tokens(),
        }
    }

    /// Greedy continuations (lookahead, rollouts), with their log-probabilities recorded at
    /// the sampling temperature (the most likely token is the same at every temperature;
    /// top-k = 1 draws it and records the tempered distribution's log-probability).
    fn continuation_params(&self) -> SamplingParams {
        let temperature = self.settings.temperature;
        if temperature > 0.0 {
            SamplingParams {
                top_k: 1,
                top_p: 1.0,
                ..self.params(temperature)
            }
        } else {
            self.params(0.0)
        }
    }

    /// The beam's width (1 for MCTS).
    fn width(&self) -> usize {
        match self.spec.kind {
            SearchKind::Beam { width, .. } => width,
            SearchKind::Mcts { .. } => 1,
        }
    }

    /// The lookahead's steps (0 for plain beam and MCTS).
    fn lookahead(&self) -> usize {
        match self.spec.kind {
            SearchKind::Beam { lookahead, .. } => lookahead,
            SearchKind::Mcts { .. } => 0,
        }
    }

    /// The scorer's scores of `paths`, in order.
    fn scores(&self, prompt: &Prompt, paths: &[Path]) -> Result<Vec<f64>, String> {
        let candidates: Vec<Candidate<'_>> = paths
            .iter()
            .map(|p| Candidate {
                prompt,
                text: &p.text,
                logprobs: &p.logprobs,
                correct: None,
            })
            .collect();
        self.scorer.score(&candidates)
    }

    /// Searches for a solution to `prompt`.
    pub fn run(&self, prompt: &Prompt) -> Result<SearchRecord, String> {
        let prompt_ids = self.policy.codec.encode_prompt(prompt)?;
        if prompt_ids.len() + 1 >= self.policy.generator.model().max_seq_len() {
            return Err(format!(
                "prompt `{}` is {} tokens: no room to answer within the model's {} positions",
                prompt.id,
                prompt_ids.len(),
                self.policy.generator.model().max_seq_len()
            ));
        }
        let problem = derive_seed(self.settings.seed, &format!("search/{}", prompt.id));
        let found = match self.spec.kind {
            SearchKind::Beam { .. } => self.beam(prompt, &prompt_ids, problem)?,
            SearchKind::Mcts { .. } => self.mcts(prompt, &prompt_ids, problem)?,
        };
        let best = found.path;
        let verdict = self.checker.judge(prompt, &best.text);
        Ok(SearchRecord {
            problem: prompt.id.clone(),
            response: best.text,
            answer: verdict.answer,
            gold: prompt.answer.clone(),
            correct: verdict.correct,
            reason: verdict.reason,
            score: found.score,
            steps: best.steps,
            tokens: best.tokens.len(),
            truncated: best.truncated,
            tokens_drawn: found.tokens_drawn,
            candidates_scored: found.candidates_scored,
            nodes: found.nodes,
            iterations: found.iterations,
        })
    }
}

/// Searches every problem and grades the chosen solutions.
pub fn search_all(
    search: &StepSearch<'_>,
    prompts: &[Prompt],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<SearchRecord>, String> {
    let mut records = Vec::with_capacity(prompts.len());
    for (i, prompt) in prompts.iter().enumerate() {
        records.push(search.run(prompt)?);
        progress(i + 1);
    }
    Ok(records)
}
