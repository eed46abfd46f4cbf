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

/// A response cut into steps: their texts and where each ends in the tokens.
pub struct Cut {
    pub text: String,
    pub steps: Vec<String>,
    /// Per step, the tokens up to and including its last one.
    pub token_ends: Vec<usize>,
}

/// Cuts `tokens` (a response without its stop token) into steps by `segmentation`: a step's
/// text runs to the end of its last token's span, the last step to the end of the text.
pub fn cut(tokens: &[u32], codec: &TextCodec, segmentation: &Segmentation) -> Result<Cut, String> {
    let (text, spans) = codec.decode_with_spans(tokens)?;
    let token_ends = segmentation.token_step_ends(&text, &spans);
    let mut steps = Vec::with_capacity(token_ends.len());
    let mut start = 0;
    for (i, &end) in token_ends.iter().enumerate() {
        let byte_end = if i + 1 == token_ends.len() {
            text.len()
        } else {
            spans[end - 1].1.max(start)
        };
        steps.push(text[start..byte_end].to_string());
        start = byte_end;
    }
    Ok(Cut {
        text,
        steps,
        token_ends,
    })
}

struct Labeller<'a> {
    completer: &'a dyn Completer,
    checker: &'a dyn Checker,
    truth: Option<StepTruth>,
    settings: &'a AnnotateSettings,
}

/// The labels of one solution's steps as they are filled in.
struct StepLabels {
    soft: Vec<Option<f64>>,
    hard: Vec<Option<bool>>,
    rollouts: Vec<usize>,
}

impl Labeller<'_> {
    /// Labels solution `j` to `prompt` (its tokens without the stop token).
    fn label(
        &self,
        prompt: &Prompt,
        j: usize,
        tokens: Vec<u32>,
        cost: &mut Cost,
    ) -> Result<LabelledSolution, String> {
        let codec = self.completer.codec();
        let cut = cut(&tokens, codec, &self.settings.segmentation)?;
        let outcome = self.checker.judge(prompt, &cut.text).correct;
        let n = cut.steps.len();
        let mut labels = StepLabels {
            soft: vec![None; n],
            hard: vec![None; n],
            rollouts: vec![0; n],
        };
        if n > 0 {
            labels.soft[n - 1] = Some(f64::from(u8::from(outcome)));
            labels.hard[n - 1] = Some(outcome);
        }
        let prompt_ids = codec.encode_prompt(prompt)?;
        let roll = |steps: &[usize], labels: &mut StepLabels, cost: &mut Cost| {
            self.roll_out(
                prompt,
                (&prompt_ids, &tokens),
                (j, steps),
                &cut,
                labels,
                cost,
            )
        };
        match self.settings.strategy {
            Strategy::Full => {
                let steps: Vec<usize> = (0..n.saturating_sub(1)).collect();
                roll(&steps, &mut labels, cost)?;
            }
            Strategy::BinarySearch if outcome => {
                labels.hard.iter_mut().for_each(|h| *h = Some(true));
            }
            Strategy::BinarySearch => {
                // steps < good are known good; step bad is known bad (the last, at first)
                let (mut good, mut bad) = (0usize, n.saturating_sub(1));
                while good < bad {
                    let mid = good + (bad - good) / 2;
                    roll(&[mid], &mut labels, cost)?;
                    if labels.hard[mid] == Some(true) {
                        good = mid + 1;
                    } else {
                        bad = mid;
                    }
                }
                for i in 0..n {
                    labels.hard[i].get_or_insert(i < bad);
                }
            }
        }
        let hard: Vec<bool> = labels.hard.iter().map(|h| h.unwrap_or(false)).collect();
        let soft: Vec<f64> = labels
            .soft
            .iter()
            .zip(&hard)
            .map(|(s, &h)| s.unwrap_or(f64::from(u8::from(h))))
            .collect();
        let step_refs: Vec<&str> = cut.steps.iter().map(String::as_str).collect();
        let truth = self.truth.and_then(|t| t(prompt, &step_refs));
        cost.solutions += 1;
        cost.steps += n;
        let record = LabelledSolution {
            prompt: prompt.clone(),
            response: cut.text,
            segmentation: self.settings.segmentation.clone(),
            steps: cut.steps,
            soft,
            hard,
            rollouts: labels.rollouts,
            truth,
            outcome,
        };
        record.check()?;
        Ok(record)
    }

    /// Rolls out the prefixes ending with `steps` of solution `j` (one batched draw) and fills
    /// in their labels.
    fn roll_out(
        &self,
        prompt: &Prompt,
        (prompt_ids, tokens): (&[u32], &[u32]),
        (j, steps): (usize, &[usize]),
        cut: &Cut,
        labels: &mut StepLabels,
        cost: &mut Cost,
    ) -> Result<(), String> {
        let s = self.settings;
        let prefixes: Vec<Prefix<'_>> = steps
            .iter()
            .map(|&i| Prefix {
                prompt,
                prompt_ids,
                tokens,
                used: cut.token_ends[i],
                seed: derive_seed(s.seed, &format!("complete/{}/{j}/{i}", prompt.id)),
            })
            .collect();
        let rolled = roll_out(self.completer, self.checker, &prefixes, s, cost)?;
        for (&i, r) in steps.iter().zip(rolled) {
            labels.soft[i] = Some(r.correct as f64 / r.drawn.max(1) as f64);
            labels.hard[i] = Some(r.correct > 0);
            labels.rollouts[i] = r.drawn;
        }
        Ok(())
    }
}

/// One step prefix of a response to finish: the prompt, then the response's first `used`
/// tokens.
#[derive(Clone, Copy, Debug)]
pub struct Prefix<'a> {
    pub prompt: &'a Prompt,
    /// The prompt as the completer reads it.
    pub prompt_ids: &'a [u32],
    /// The response's tokens (at least `used` of them).
    pub tokens: &'a [u32],
    /// Response tokens the prefix keeps: the end of a step.
    pub used: usize,
    /// The seed of the prefix's completions.
    pub seed: u64,
}

/// What the completions of one prefix came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rolled {
    /// Completions the checker judged correct, as part of the whole response.
    pub correct: usize,
    /// Completions drawn: `settings.completions`, or 0 where none had room.
    pub drawn: usize,
}

/// Draws `settings.completions` completions of each of `prefixes` in one request (shared or
/// separate prefills, as `settings.sharing`) and judges each with `checker` as part of its
/// whole response (prefix + completion). A completion takes what its prefix leaves of
/// `settings.max_new_tokens` and of the completer's positions. Adds the draw's cost (prefixes,
/// prefill and completion tokens, seconds) to `cost`. The labelling's own rollouts go through
/// here; `reward.process` uses it to score the steps of training responses.
pub fn roll_out(
    completer: &dyn Completer,
    checker: &dyn Checker,
    prefixes: &[Prefix<'_>],
    settings: &AnnotateSettings,
    cost: &mut Cost,
) -> Result<Vec<Rolled>, String> {
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let s = settings;
    let k = s.completions;
    let context = completer.context();
    let ids: Vec<Vec<u32>> = prefixes
        .iter()
        .map(|p| {
            p.prompt_ids
                .iter()
                .chain(&p.tokens[..p.used])
                .copied()
                .collect()
        })
        .collect();
    let rooms: Vec<usize> = prefixes
        .iter()
        .zip(&ids)
        .map(|(p, prefix)| {
            s.max_new_tokens
                .saturating_sub(p.used)
                .min(context.saturating_sub(prefix.len() + 1))
        })
        .collect();
    let widest = rooms.iter().copied().max().unwrap_or(0);
    let seeds: Vec<u64> = prefixes.iter().map(|p| p.seed).collect();
    let started = Instant::now();
    let completions: Vec<Vec<Sample>> = if widest == 0 {
        vec![Vec::new(); prefixes.len()]
    } else {
        draw(completer, s, &ids, widest, &seeds)
    };
    cost.complete_seconds += started.elapsed().as_secs_f64();
    let prefill: usize = ids.iter().map(Vec::len).sum();
    cost.prefill_tokens_unshared += prefill * k;
    cost.prefill_tokens += match s.sharing {
        Sharing::Shared => prefill,
        Sharing::Separate => prefill * k,
    };
    cost.prefixes += prefixes.len();
    let mut out = Vec::with_capacity(prefixes.len());
    for ((x, p), mut samples) in prefixes.iter().enumerate().zip(completions) {
        let mut correct = 0usize;
        for sample in &mut samples {
            sample.tokens.truncate(rooms[x]);
            cost.completion_tokens += sample.tokens.len();
            let mut whole: Vec<u32> = p.tokens[..p.used].to_vec();
            whole.extend(&sample.tokens);
            let (text, _) = completer.codec().decode_with_spans(&whole)?;
            correct += usize::from(checker.judge(p.prompt, &text).correct);
        }
        out.push(Rolled {
            correct,
            drawn: samples.len(),
        });
    }
    Ok(out)
}

/// `K` completions of each prefix, shared or separate prefills.
fn draw(
    completer: &dyn Completer,
    s: &AnnotateSettings,
    prefixes: &[Vec<u32>],
    room: usize,
    seeds: &[u64],
) -> Vec<Vec<Sample>> {
    let k = s.completions;
    let params = s.params(completer.codec(), room);
    match s.sharing {
        Sharing::Shared => {
            let refs: Vec<&[u32]> = prefixes.iter().map(Vec::as_slice).collect();
            completer.draw(&SampleRequest::new(&refs, k, &params, seeds))
        }
        Sharing::Separate => {
            let refs: Vec<&[u32]> = prefixes
                .iter()
                .flat_map(|p| std::iter::repeat_n(p.as_slice(), k))
                .collect();
            let copies: Vec<u64> = seeds
                .iter()
                .flat_map(|&seed| (0..k).map(move |c| derive_seed(seed, &c.to_string())))
                .collect();
            let flat = completer.draw(&SampleRequest::new(&refs, 1, &params, &copies));
            flat.chunks(k)
                .map(|c| c.iter().flat_map(|v| v.iter().cloned()).collect())
                .collect()
        }
    }
}

#[cfg(test)]
mod tests;
