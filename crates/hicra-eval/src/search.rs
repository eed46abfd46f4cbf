//! Step-level search guided by a step scorer (a process reward model), after Snell et al.
//! 2024, *Scaling LLM Test-Time Compute Optimally...*, section 5.
//!
//! A solution grows one *step* at a time (a step ends at the delimiter, a blank line by
//! default, or after `step_tokens`). **Beam (`beam:W`)**: the first step is drawn `W * E`
//! times from the prompt; every candidate is scored; the `W` best are kept; each kept
//! partial solution is extended by `E` new steps, and so on. Kept candidates that have ended
//! (a stop token, or the response budget) leave the beam for the pool of finished solutions;
//! the search stops when the beam is empty or after `max_steps` (unfinished beams then join
//! the pool as truncated). The answer is the pool's best-scored solution. **Lookahead
//! (`lookahead:W:K`)**: the same, but a candidate is scored on its greedy (temperature 0)
//! continuation `K` steps further, which sees whether a step leads somewhere before keeping
//! it. Ties keep the earlier candidate, and each problem's draws come from a seed derived
//! from the evaluation seed and the problem id, so a search is reproducible.
//!
//! MCTS is not offered: with a generative judge every node costs a prefill of the whole
//! solution so far, and on the CPU this repository targets its budget would buy far fewer
//! rollouts than beam search for the same time; the scorer trait is where it would plug in.

use hicra_flow::derive_seed;
use hicra_messages::Prompt;
use hicra_model::{Device, SamplingParams};
use hicra_tasks::answers::Checker;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::policy::EvalPolicy;
use crate::scorer::{Candidate, Scorer};
use crate::settings::{EvalSettings, SearchSpec};

/// A partial or finished solution.
#[derive(Clone, Debug, Default)]
struct Path {
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    text: String,
    steps: usize,
    /// Ended with a stop token.
    finished: bool,
    /// Ran out of room (response budget, context or steps) before finishing.
    truncated: bool,
    score: f64,
}

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

/// Searches one problem; `rng` draws its steps.
pub struct StepSearch<'a> {
    pub policy: &'a EvalPolicy,
    pub spec: &'a SearchSpec,
    pub settings: &'a EvalSettings,
    pub scorer: &'a dyn Scorer,
    pub checker: &'a dyn Checker,
    pub device: &'a Device,
}

impl StepSearch<'_> {
    fn params(&self, temperature: f32, room: usize) -> SamplingParams {
        SamplingParams {
            temperature,
            top_p: self.settings.top_p,
            top_k: self.settings.top_k,
            max_new_tokens: self.spec.step_tokens.min(room),
            stop_tokens: self.policy.codec.stop_tokens(),
        }
    }

    /// Extends each of `paths` by `n` sampled steps at `temperature`: `n` new paths per path.
    fn extend(
        &self,
        prompt_ids: &[u32],
        paths: &[Path],
        n: usize,
        temperature: f32,
        rng: &mut ChaCha8Rng,
        drawn: &mut usize,
    ) -> Result<Vec<Path>, String> {
        let context = self.policy.generator.model().max_seq_len();
        let stops = self.policy.codec.stop_tokens();
        let delimiter = self.spec.delimiter.as_str();
        let codec = &self.policy.codec;
        let window = delimiter.len() + 1;
        let ends_step = |tokens: &[u32]| {
            let tail = &tokens[tokens.len().saturating_sub(window)..];
            codec
                .decode_with_spans(tail)
                .is_ok_and(|(text, _)| text.contains(delimiter))
        };
        let prefixes: Vec<Vec<u32>> = paths
            .iter()
            .map(|p| prompt_ids.iter().chain(&p.tokens).copied().collect())
            .collect();
        let longest = prefixes.iter().map(Vec::len).max().unwrap_or(0);
        let used = paths.iter().map(|p| p.tokens.len()).max().unwrap_or(0);
        let room = (self.settings.max_new_tokens.saturating_sub(used))
            .min(context.saturating_sub(longest + 1));
        if room == 0 {
            return Ok(paths
                .iter()
                .flat_map(|p| std::iter::repeat_n(p.clone(), n))
                .map(|mut p| {
                    p.truncated = true;
                    p
                })
                .collect());
        }
        let refs: Vec<&[u32]> = prefixes.iter().map(Vec::as_slice).collect();
        let params = self.params(temperature, room);
        let sampled = self.policy.generator.sample_batch_until(
            &refs,
            n,
            &params,
            &ends_step,
            rng,
            self.device,
        );
        let mut out = Vec::with_capacity(paths.len() * n);
        for (path, samples) in paths.iter().zip(sampled) {
            for s in samples {
                *drawn += s.tokens.len();
                let mut next = path.clone();
                let finished = s.tokens.last().is_some_and(|t| stops.contains(t));
                next.tokens.extend(&s.tokens);
                next.logprobs.extend(&s.logprobs);
                next.steps += 1;
                next.finished = finished;
                next.truncated = !finished
                    && (next.tokens.len() >= self.settings.max_new_tokens
                        || prompt_ids.len() + next.tokens.len() + 1 >= context);
                next.text = codec.decode_with_spans(&next.tokens)?.0;
                out.push(next);
            }
        }
        Ok(out)
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

    /// Scores candidates, on their greedy `lookahead`-step continuations when asked.
    fn score_candidates(
        &self,
        prompt: &Prompt,
        prompt_ids: &[u32],
        candidates: &[Path],
        rng: &mut ChaCha8Rng,
        drawn: &mut usize,
    ) -> Result<Vec<f64>, String> {
        if self.spec.lookahead == 0 {
            return self.scores(prompt, candidates);
        }
        let mut ahead: Vec<Path> = candidates.to_vec();
        for _ in 0..self.spec.lookahead {
            let open: Vec<usize> = (0..ahead.len())
                .filter(|&i| !ahead[i].finished && !ahead[i].truncated)
                .collect();
            if open.is_empty() {
                break;
            }
            let paths: Vec<Path> = open.iter().map(|&i| ahead[i].clone()).collect();
            let extended = self.extend(prompt_ids, &paths, 1, 0.0, rng, drawn)?;
            for (i, path) in open.into_iter().zip(extended) {
                ahead[i] = path;
            }
        }
        self.scores(prompt, &ahead)
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
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
            self.settings.seed,
            &format!("search/{}", prompt.id),
        ));
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
            let temperature = self.settings.temperature;
            let mut candidates =
                self.extend(&prompt_ids, &live, n, temperature, &mut rng, &mut drawn)?;
            let scores =
                self.score_candidates(prompt, &prompt_ids, &candidates, &mut rng, &mut drawn)?;
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

/// The `width` best-scored paths, best first; equal scores keep their order.
fn keep_best(mut paths: Vec<Path>, width: usize) -> Vec<Path> {
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by(|&a, &b| paths[b].score.total_cmp(&paths[a].score).then(a.cmp(&b)));
    order.truncate(width);
    order
        .iter()
        .map(|&i| std::mem::take(&mut paths[i]))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(text: &str, score: f64) -> Path {
        Path {
            text: text.into(),
            score,
            ..Path::default()
        }
    }

    #[test]
    fn the_beam_keeps_the_best_width_by_score_and_ties_in_order() {
        let paths = vec![
            scored("a", 0.2),
            scored("b", 0.9),
            scored("c", 0.5),
            scored("d", 0.9),
            scored("e", f64::NEG_INFINITY),
        ];
        let kept: Vec<String> = keep_best(paths.clone(), 3)
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(kept, ["b", "d", "c"]);
        let all: Vec<String> = keep_best(paths, 10).into_iter().map(|p| p.text).collect();
        assert_eq!(all, ["b", "d", "c", "a", "e"]);
    }
}
