//! Monte-Carlo step labels, after Math-Shepherd (Wang et al. 2024, arXiv:2312.08935, section
//! 3.3): a step is good when the solution so far can still reach the gold answer, and that is
//! estimated by finishing the solution from there.
//!
//! For a solution cut into steps `s_1 .. s_n` (by the [`Segmentation`]), the prefix ending
//! with step `i < n` (prompt, then `s_1 .. s_i`) is continued `K` times by a *completer*
//! policy; each completion is judged with the verifier's checker as part of the whole response
//! (`s_1 .. s_i` + completion). With `c_i` of the `K` correct, the **soft** label is `c_i / K`
//! and the **hard** label is `c_i > 0`. The last step's label is the verdict on the solution
//! itself (its prefix is the whole solution: nothing is left to complete).
//!
//! **Shared prefill.** The `K` completions of a prefix are drawn as `n = K` samples of one
//! prompt, so the prefix is prefilled once and its key/value cache repeated per sample
//! (`hicra_model::sample_batch`); [`Sharing::Separate`] draws them as `K` prompts instead, to
//! measure what sharing saves. [`Cost`] counts prefilled and generated tokens either way.
//!
//! **Binary search** ([`Strategy::BinarySearch`]): labels read as "the first wrong step" are
//! monotone (after a step that cannot reach the answer, none can), so the first step whose
//! hard label is false can be found with `O(log n)` rollouts instead of `n - 1`: a correct
//! solution needs none (it reached the answer itself: every hard label is true), a wrong one
//! halves the interval between the last step known good and the first known bad. Steps not
//! rolled out get inferred labels (1 before the first bad step, 0 from it on) and `rollouts`
//! 0. Sampling noise can break the monotone reading; the full labelling is the reference.
//!
//! **Budget and order.** Problems are labelled in a seeded shuffled order; a budget of step
//! prefixes stops the labelling after the solution that reaches it (whole solutions only).
//! Every draw has its own random stream: the solutions of problem `p` come from
//! `derive_seed(seed, "solve/{p}")`, the completions of step `i` of solution `j` from
//! `derive_seed(seed, "complete/{p}/{j}/{i}")`, so a label does not depend on which other
//! prefixes were drawn beside it.
//!
//! This module holds the settings and the entry point [`annotate`]; the steps are cut by
//! [`cut`], rolled out by [`roll_out`], and one solution's labels are put together by the
//! labeller (`labeller.rs`).

mod labeller;
mod rollout;
mod step_cut;

pub use rollout::{Prefix, Rolled, roll_out};
pub use step_cut::{Cut, cut};

use std::time::Instant;

use hicra_flow::derive_seed;
use hicra_messages::Prompt;
use hicra_model::{Device, Generator, RuntimeBackend, Sample, SampleRequest, SamplingParams};
use hicra_tasks::answers::Checker;
use hicra_tasks::steps::Segmentation;
use hicra_train::TextCodec;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::labels::LabelledSolution;
use labeller::Labeller;

/// What draws solutions and completions: a policy, or a scripted stand-in in tests.
pub trait Completer {
    /// How the policy reads and writes text.
    fn codec(&self) -> &TextCodec;
    /// Positions the policy can attend to (prompt and response together).
    fn context(&self) -> usize;
    /// `n` samples after each of `prompts` (as [`Generator::sample`] draws them).
    fn draw(&self, request: &SampleRequest<'_>) -> Vec<Vec<Sample>>;
}

/// A policy that writes text: the weights held for generation, how it reads and writes, and
/// where it runs.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    pub generator: &'a Generator<RuntimeBackend>,
    pub codec: &'a TextCodec,
    pub device: &'a Device,
}

impl Completer for Writer<'_> {
    fn codec(&self) -> &TextCodec {
        self.codec
    }

    fn context(&self) -> usize {
        self.generator.model().max_seq_len()
    }

    fn draw(&self, request: &SampleRequest<'_>) -> Vec<Vec<Sample>> {
        self.generator.sample(request, self.device)
    }
}

/// A task's own verdict on each step (see `hicra_tasks::chains::step_truth`): per step,
/// whether every step up to it is right; `None` when the task cannot judge steps.
pub type StepTruth = fn(&Prompt, &[&str]) -> Option<Vec<bool>>;

/// How the `K` completions of a prefix are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// `n = K` samples of one prompt: the prefix is prefilled once.
    #[default]
    Shared,
    /// `K` copies of the prompt, one sample each: `K` prefills (for measuring).
    Separate,
}

/// Which prefixes are rolled out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every step but the last.
    #[default]
    Full,
    /// Only those a binary search for the first bad step visits.
    BinarySearch,
}

/// What a labelling run is asked to do.
#[derive(Clone, Debug)]
pub struct AnnotateSettings {
    /// Solutions sampled from the solver per problem, each labelled.
    pub solutions: usize,
    /// Completions per step prefix (`K`).
    pub completions: usize,
    /// Temperature of solutions and completions.
    pub temperature: f32,
    /// Nucleus mass of the draws (1 = off).
    pub top_p: f32,
    /// Most tokens per whole response (a completion takes what its prefix leaves).
    pub max_new_tokens: usize,
    /// How responses are cut into steps.
    pub segmentation: Segmentation,
    /// Most step prefixes rolled out in all (0 = no limit); whole solutions only.
    pub max_prefixes: usize,
    pub strategy: Strategy,
    pub sharing: Sharing,
    /// Seed of the order and of every draw.
    pub seed: u64,
}

impl Default for AnnotateSettings {
    fn default() -> Self {
        Self {
            solutions: 4,
            completions: 8,
            temperature: 0.8,
            top_p: 1.0,
            max_new_tokens: 64,
            segmentation: Segmentation::default(),
            max_prefixes: 0,
            strategy: Strategy::Full,
            sharing: Sharing::Shared,
            seed: 0,
        }
    }
}

impl AnnotateSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.solutions == 0 || self.completions == 0 || self.max_new_tokens == 0 {
            return Err("solutions, completions and max_new_tokens must be positive".into());
        }
        if !(self.temperature > 0.0 && self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!(
                "Monte-Carlo labels need random completions: temperature > 0 and 0 < top_p <= 1, \
                 got {} and {}",
                self.temperature, self.top_p
            ));
        }
        self.segmentation.validate()
    }

    fn params(&self, codec: &TextCodec, room: usize) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: 0,
            max_new_tokens: room,
            stop_tokens: codec.stop_tokens(),
        }
    }
}

/// What a labelling cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Solutions labelled.
    pub solutions: usize,
    /// Steps in them.
    pub steps: usize,
    /// Step prefixes rolled out.
    pub prefixes: usize,
    /// Tokens generated for the solutions themselves.
    pub solution_tokens: usize,
    /// Tokens generated by completions.
    pub completion_tokens: usize,
    /// Prompt and prefix tokens prefilled for completions.
    pub prefill_tokens: usize,
    /// What the prefill would have been with one prefill per completion.
    pub prefill_tokens_unshared: usize,
    /// Seconds spent drawing solutions.
    pub solve_seconds: f64,
    /// Seconds spent drawing completions.
    pub complete_seconds: f64,
}

/// Samples `settings.solutions` responses per problem from `solver` and labels each of their
/// steps with completions from `completer`; `progress` hears problems done. Returns the
/// labelled solutions (in the seeded order) and the cost.
pub fn annotate(
    solver: &dyn Completer,
    completer: &dyn Completer,
    checker: &dyn Checker,
    truth: Option<StepTruth>,
    problems: &[Prompt],
    settings: &AnnotateSettings,
    progress: &mut dyn FnMut(usize),
) -> Result<(Vec<LabelledSolution>, Cost), String> {
    settings.validate()?;
    let mut order: Vec<usize> = (0..problems.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
        settings.seed,
        "annotate/order",
    )));
    let labeller = Labeller {
        completer,
        checker,
        truth,
        settings,
    };
    let mut cost = Cost::default();
    let mut out = Vec::new();
    for (done, &p) in order.iter().enumerate() {
        if settings.max_prefixes > 0 && cost.prefixes >= settings.max_prefixes {
            break;
        }
        let prompt = &problems[p];
        let started = Instant::now();
        let solutions = solve(solver, prompt, settings)?;
        cost.solve_seconds += started.elapsed().as_secs_f64();
        for (j, sample) in solutions.iter().enumerate() {
            if settings.max_prefixes > 0 && cost.prefixes >= settings.max_prefixes {
                break;
            }
            cost.solution_tokens += sample.tokens.len();
            let tokens = response_tokens(sample, solver.codec());
            let record = labeller.label(prompt, j, tokens, &mut cost)?;
            out.push(record);
        }
        progress(done + 1);
    }
    Ok((out, cost))
}

/// The solutions to `prompt`, drawn from `derive_seed(seed, "solve/{id}")`.
fn solve(
    solver: &dyn Completer,
    prompt: &Prompt,
    settings: &AnnotateSettings,
) -> Result<Vec<Sample>, String> {
    let ids = solver.codec().encode_prompt(prompt)?;
    let context = solver.context();
    if ids.len() + 1 >= context {
        return Err(format!(
            "prompt `{}` is {} tokens: no room to answer within the model's {context} positions",
            prompt.id,
            ids.len()
        ));
    }
    let params = settings.params(solver.codec(), settings.max_new_tokens);
    let seeds = [derive_seed(settings.seed, &format!("solve/{}", prompt.id))];
    let prompts = [ids.as_slice()];
    let request = SampleRequest::new(&prompts, settings.solutions, &params, &seeds);
    Ok(solver.draw(&request).pop().unwrap_or_default())
}

/// A response's tokens without its stop token (labels are about the text).
fn response_tokens(sample: &Sample, codec: &TextCodec) -> Vec<u32> {
    let stops = codec.stop_tokens();
    let mut tokens = sample.tokens.clone();
    if sample.stopped && tokens.last().is_some_and(|t| stops.contains(t)) {
        tokens.pop();
    }
    tokens
}

#[cfg(test)]
mod tests;
