//! Step-level search guided by a step scorer (a process reward model), after Snell et al.
//! 2024, *Scaling LLM Test-Time Compute Optimally...*, section 5.
//!
//! A solution grows one *step* at a time (a step ends at the delimiter, a blank line by
//! default, or after `step_tokens`). **Beam (`beam:W`)**: the first step is drawn `W * E`
//! times from the prompt; candidates with the same tokens are merged into one (at
//! temperature 0 every draw from one path is the same, and a beam of copies searches
//! nothing); every candidate is scored; the `W` best are kept; each kept partial solution is
//! extended by `E` new steps, and so on. Kept candidates that have ended (a stop token, or the
//! response budget) leave the beam for the pool of finished solutions; the search stops when
//! the beam is empty or after `max_steps` (unfinished beams then join the pool as truncated).
//! The answer is the pool's best-scored solution. **Lookahead (`lookahead:W:K`)**: the same,
//! but a candidate is scored on its greedy continuation `K` steps further, which sees whether
//! a step leads somewhere before keeping it. Ties keep the earlier candidate.
//!
//! **Budget.** Each path has its own room: its next step takes at most `step_tokens`, within
//! what `max_new_tokens` leaves after that path's own tokens and what the context leaves
//! after its own prefix ([`paths::step_room`]); a step that the budget cuts marks its path
//! truncated. Paths are sampled in one batch when the batch's context limit cuts none of
//! them below its room, else one by one (the same tokens either way, see below).
//!
//! **One temperature.** Every log-probability a path records is at one temperature, the
//! sampling temperature (1 when it is 0), so the `confidence` scorer compares like with like:
//! the lookahead's greedy continuation is drawn as the single most likely token at that
//! temperature (top-k = 1), which records the log-probability of the tempered distribution
//! the candidate's own step was drawn from, not the T = 1 one of plain greedy decoding.
//!
//! **Randomness.** Each drawn step has its own random stream ([`hicra_model::streams`]): a
//! problem's seed is `derive_seed(eval seed, "search/{problem id}")`; the paths extended at
//! search step `s` take `derive_seed(problem seed, "{s}/step/{i}")` for parent path `i` (its
//! index in the beam) and the lookahead's round `r` `"{s}/ahead-{r}/{i}"` for candidate `i`;
//! the `j`-th sample of a parent is stream `j` of its seed. So a search is reproducible, and a
//! step does not depend on which other paths are sampled beside it.
//!
//! MCTS is not offered: with a generative judge every node costs a prefill of the whole
//! solution so far, and on the CPU this repository targets its budget would buy far fewer
//! rollouts than beam search for the same time; the scorer trait is where it would plug in.

mod paths;
#[cfg(test)]
mod tests;

use hicra_flow::derive_seed;
use hicra_messages::Prompt;
use hicra_model::{Device, Sample, SampleRequest, SamplingParams};
use hicra_tasks::answers::Checker;
use serde::Serialize;

use crate::policy::EvalPolicy;
use crate::scorer::{Candidate, Scorer};
use crate::settings::{EvalSettings, SearchSpec};
use paths::{Path, fits_one_batch, keep_best, merge_identical, step_room};

/// The outcome of one problem's search, as written to `responses.jsonl`.
#[derive(Clone, Debug, Serialize)]
pub struct SearchRecord {
    pub problem: String,
    pub response: String,
    pub answer: Option<String>,
    pub gold: String,
    pub correct: bool,
    pub reason: Option<String>,
    /// The step scorer's score of the chosen solution.
    pub score: f64,
    pub steps: usize,
    pub tokens: usize,
    pub truncated: bool,
    /// Tokens drawn for this problem, candidates and lookahead rollouts together.
    pub tokens_drawn: usize,
    /// Candidates scored.
    pub candidates_scored: usize,
}

/// Searches one problem at a time.
pub struct StepSearch<'a> {
    pub policy: &'a EvalPolicy,
    pub spec: &'a SearchSpec,
    pub settings: &'a EvalSettings,
    pub scorer: &'a dyn Scorer,
    pub checker: &'a dyn Checker,
    pub device: &'a Device,
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

    /// The lookahead's continuation: greedy, with its log-probabilities recorded at the
    /// sampling temperature (the most likely token is the same at every temperature; top-k
    /// = 1 draws it and records the tempered distribution's log-probability).
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

    /// Extends each of `paths` by `n` steps drawn under `params`, path `i` from the prompt
    /// seed `seeds[i]`: `n` new paths per path, in order. Each path's step stays within its
    /// own room ([`step_room`]).
    fn extend(
        &self,
        prompt_ids: &[u32],
        paths: &[Path],
        n: usize,
        params: &SamplingParams,
        seeds: &[u64],
        drawn: &mut usize,
    ) -> Result<Vec<Path>, String> {
        let context = self.policy.generator.model().max_seq_len();
        let max_new = self.settings.max_new_tokens;
        let stops = self.policy.codec.stop_tokens();
        let codec = &self.policy.codec;
        let rooms: Vec<usize> = paths
            .iter()
            .map(|p| {
                let used = p.tokens.len();
                step_room(
                    used,
                    prompt_ids.len(),
                    max_new,
                    context,
                    self.spec.step_tokens,
                )
            })
            .collect();
        let open: Vec<usize> = (0..paths.len()).filter(|&i| rooms[i] > 0).collect();
        let prefixes: Vec<Vec<u32>> = open
            .iter()
            .map(|&i| prompt_ids.iter().chain(&paths[i].tokens).copied().collect())
            .collect();
        let open_rooms: Vec<usize> = open.iter().map(|&i| rooms[i]).collect();
        let open_seeds: Vec<u64> = open.iter().map(|&i| seeds[i]).collect();
        let mut sampled = self.draw(&prefixes, &open_rooms, n, params, &open_seeds);
        let mut out = Vec::with_capacity(paths.len() * n);
        for (i, path) in paths.iter().enumerate() {
            if rooms[i] == 0 {
                // no room for a step: the path ends here, unfinished
                out.extend(std::iter::repeat_n(path.clone(), n).map(|mut p| {
                    p.truncated = true;
                    p
                }));
                continue;
            }
            let k = open.iter().position(|&o| o == i).expect("an open path");
            for s in std::mem::take(&mut sampled[k]) {
                *drawn += s.tokens.len();
                let mut next = path.clone();
                let finished = s.tokens.last().is_some_and(|t| stops.contains(t));
                next.tokens.extend(&s.tokens);
                next.logprobs.extend(&s.logprobs);
                next.steps += 1;
                next.finished = finished;
                // a step that stops at the budget (or the context) has been cut by it
                next.truncated = !finished
                    && (next.tokens.len() >= max_new
                        || prompt_ids.len() + next.tokens.len() + 1 >= context);
                next.text = codec.decode_with_spans(&next.tokens)?.0;
                out.push(next);
            }
        }
        Ok(out)
    }

    /// `n` steps after each prefix, prefix `i`'s within `rooms[i]` tokens: in one batch
    /// (the widest room as its limit, each step cut to its own room afterwards) when the
    /// batch's context limit cuts none below its room, else prefix by prefix. Each response
    /// has its own random stream, so both ways give the same steps.
    fn draw(
        &self,
        prefixes: &[Vec<u32>],
        rooms: &[usize],
        n: usize,
        params: &SamplingParams,
        seeds: &[u64],
    ) -> Vec<Vec<Sample>> {
        let context = self.policy.generator.model().max_seq_len();
        let delimiter = self.spec.delimiter.as_str();
        let codec = &self.policy.codec;
        let window = delimiter.len() + 1;
        let ends_step = |tokens: &[u32]| {
            let tail = &tokens[tokens.len().saturating_sub(window)..];
            codec
                .decode_with_spans(tail)
                .is_ok_and(|(text, _)| text.contains(delimiter))
        };
        let lengths: Vec<usize> = prefixes.iter().map(Vec::len).collect();
        let generate = |prefixes: &[&[u32]], room: usize, seeds: &[u64]| {
            let params = SamplingParams {
                max_new_tokens: room,
                ..params.clone()
            };
            let g = &self.policy.generator;
            let request = SampleRequest::new(prefixes, n, &params, seeds);
            g.sample(&request.until(&ends_step), self.device)
        };
        let mut sampled = if prefixes.is_empty() {
            Vec::new()
        } else if fits_one_batch(&lengths, rooms, context) {
            let refs: Vec<&[u32]> = prefixes.iter().map(Vec::as_slice).collect();
            let widest = rooms.iter().copied().max().unwrap_or(0);
            generate(&refs, widest, seeds)
        } else {
            (0..prefixes.len())
                .flat_map(|i| generate(&[prefixes[i].as_slice()], rooms[i], &seeds[i..=i]))
                .collect()
        };
        for (samples, &room) in sampled.iter_mut().zip(rooms) {
            for s in samples {
                if s.tokens.len() > room {
                    s.tokens.truncate(room);
                    s.logprobs.truncate(room);
                    s.entropies.truncate(room);
                    s.stopped = false;
                }
            }
        }
        sampled
    }

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

    /// The candidates continued greedily `lookahead` steps further: the paths the scorer
    /// sees.
    fn ahead(
        &self,
        prompt_ids: &[u32],
        candidates: &[Path],
        (problem, step): (u64, usize),
        drawn: &mut usize,
    ) -> Result<Vec<Path>, String> {
        let mut ahead: Vec<Path> = candidates.to_vec();
        let params = self.continuation_params();
        for round in 0..self.spec.lookahead {
            let open: Vec<usize> = (0..ahead.len())
                .filter(|&i| !ahead[i].finished && !ahead[i].truncated)
                .collect();
            if open.is_empty() {
                break;
            }
            let paths: Vec<Path> = open.iter().map(|&i| ahead[i].clone()).collect();
            let seeds: Vec<u64> = path_seeds(problem, step, &format!("ahead-{round}"), ahead.len());
            let seeds: Vec<u64> = open.iter().map(|&i| seeds[i]).collect();
            let extended = self.extend(prompt_ids, &paths, 1, &params, &seeds, drawn)?;
            for (i, path) in open.into_iter().zip(extended) {
                ahead[i] = path;
            }
        }
        Ok(ahead)
    }

    /// Searches for a solution to `prompt`.
    pub fn run(&self, prompt: &Prompt) -> Result<SearchRecord, String> {
        let spec = self.spec;
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
        let params = self.params(self.settings.temperature);
        let (mut drawn, mut scored) = (0usize, 0usize);
        let mut live = vec![Path::default()];
        let mut pool: Vec<Path> = Vec::new();
        for step in 0..spec.max_steps {
            if live.is_empty() {
                break;
            }
            let n = if step == 0 {
                spec.width * spec.expand
            } else {
                spec.expand
            };
            let seeds = path_seeds(problem, step, "step", live.len());
            let candidates = self.extend(&prompt_ids, &live, n, &params, &seeds, &mut drawn)?;
            let mut candidates = merge_identical(candidates);
            let scores = if spec.lookahead == 0 {
                self.scores(prompt, &candidates)?
            } else {
                let ahead = self.ahead(&prompt_ids, &candidates, (problem, step), &mut drawn)?;
                self.scores(prompt, &ahead)?
            };
            scored += candidates.len();
            for (c, s) in candidates.iter_mut().zip(&scores) {
                c.score = if s.is_nan() { f64::NEG_INFINITY } else { *s };
            }
            let kept = keep_best(candidates, spec.width);
            live.clear();
            for path in kept {
                if path.finished || path.truncated {
                    pool.push(path);
                } else {
                    live.push(path);
                }
            }
        }
        pool.extend(live.into_iter().map(|mut p| {
            p.truncated = true;
            p
        }));
        let best = keep_best(pool, 1)
            .into_iter()
            .next()
            .ok_or("the search kept no solution")?;
        let verdict = self.checker.judge(prompt, &best.text);
        Ok(SearchRecord {
            problem: prompt.id.clone(),
            response: best.text,
            answer: verdict.answer,
            gold: prompt.answer.clone(),
            correct: verdict.correct,
            reason: verdict.reason,
            score: best.score,
            steps: best.steps,
            tokens: best.tokens.len(),
            truncated: best.truncated,
            tokens_drawn: drawn,
            candidates_scored: scored,
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
