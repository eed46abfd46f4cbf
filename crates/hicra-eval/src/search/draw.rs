//! Drawing steps for a search: each path's next step within its own room and the search's
//! token budget, in one batch when that costs nothing, and greedy completions to the end for
//! MCTS rollouts.

use hicra_model::{Sample, SampleRequest, SamplingParams};

use super::StepSearch;
use super::paths::{Budget, Path, capped_draw, fits_one_batch, step_room};

/// Where a drawn piece of text ends (besides stop tokens and its room).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Until {
    /// At the end of a step, by the search's step rule.
    StepEnd,
    /// Nowhere: a completion to the end of the solution.
    End,
}

impl StepSearch<'_> {
    /// The most tokens a step may take: `step_tokens`, and `N` for steps of `tokens:N`.
    pub(crate) fn step_limit(&self) -> usize {
        match self.spec.steps {
            hicra_tasks::steps::Segmentation::Tokens(n) => n.min(self.spec.step_tokens),
            _ => self.spec.step_tokens,
        }
    }

    /// Whether `tokens`, the step drawn so far, end a step by the step rule (text rules
    /// only: `tokens:N` steps end by their room). The delimiter is looked for in the last
    /// few tokens first, so a step is decoded whole only when it may have ended.
    pub(crate) fn ends_step(&self, tokens: &[u32]) -> bool {
        let Some(delimiter) = self.spec.steps.delimiter() else {
            return false;
        };
        let codec = &self.policy.codec;
        let tail = &tokens[tokens.len().saturating_sub(delimiter.len() + 1)..];
        codec
            .decode_with_spans(tail)
            .is_ok_and(|(text, _)| text.contains(delimiter))
            && codec
                .decode_with_spans(tokens)
                .is_ok_and(|(text, _)| self.spec.steps.ends_step(&text) == Some(true))
    }

    /// Extends each of `paths` by up to `n` steps drawn under `params`, path `i` from the
    /// prompt seed `seeds[i]`: the new paths of each path, in order. Each path's step stays
    /// within its own room ([`step_room`]), and the draws within what `budget` leaves: all in
    /// one batch when even its worst case fits, else path by path, each draw capped by
    /// [`capped_draw`] (fewer samples, or a shorter room, whose cut step marks its path
    /// truncated). A path that gets no step (no room, or no budget) comes back alone, marked
    /// truncated.
    pub(crate) fn extend(
        &self,
        prompt_ids: &[u32],
        paths: &[Path],
        n: usize,
        params: &SamplingParams,
        seeds: &[u64],
        budget: &mut Budget,
    ) -> Result<Vec<Vec<Path>>, String> {
        let context = self.policy.generator.model().max_seq_len();
        let max_new = self.settings.max_new_tokens;
        let limit = self.step_limit();
        let rooms: Vec<usize> = paths
            .iter()
            .map(|p| step_room(p.tokens.len(), prompt_ids.len(), max_new, context, limit))
            .collect();
        let open: Vec<usize> = (0..paths.len()).filter(|&i| rooms[i] > 0).collect();
        let prefix =
            |i: usize| -> Vec<u32> { prompt_ids.iter().chain(&paths[i].tokens).copied().collect() };
        let widest = open.iter().map(|&i| rooms[i]).max().unwrap_or(0);
        let worst = n.saturating_mul(open.len()).saturating_mul(widest);
        let mut out: Vec<Vec<Path>> = vec![Vec::new(); paths.len()];
        if worst <= budget.left() {
            let prefixes: Vec<Vec<u32>> = open.iter().map(|&i| prefix(i)).collect();
            let open_rooms: Vec<usize> = open.iter().map(|&i| rooms[i]).collect();
            let open_seeds: Vec<u64> = open.iter().map(|&i| seeds[i]).collect();
            let sampled = self.draw(
                &prefixes,
                &open_rooms,
                n,
                params,
                &open_seeds,
                Until::StepEnd,
            );
            for (&i, samples) in open.iter().zip(sampled) {
                out[i] = self.grow(prompt_ids, &paths[i], samples, rooms[i], rooms[i], budget)?;
            }
        } else {
            for &i in &open {
                let (m, room) = capped_draw(n, rooms[i], budget.left());
                if m == 0 {
                    continue;
                }
                let sampled = self.draw(
                    &[prefix(i)],
                    &[room],
                    m,
                    params,
                    &seeds[i..=i],
                    Until::StepEnd,
                );
                let samples = sampled.into_iter().next().unwrap_or_default();
                out[i] = self.grow(prompt_ids, &paths[i], samples, rooms[i], room, budget)?;
            }
        }
        for (path, children) in paths.iter().zip(&mut out) {
            if children.is_empty() {
                // no room or no budget for a step: the path ends here, unfinished
                let mut end = path.clone();
                end.truncated = true;
                children.push(end);
            }
        }
        Ok(out)
    }

    /// The paths `path` grows into by the drawn `samples`, each drawn within `room` of the
    /// `full` room its step had (a step cut short by the budget marks its path truncated);
    /// their tokens are counted in `budget`.
    fn grow(
        &self,
        prompt_ids: &[u32],
        path: &Path,
        samples: Vec<Sample>,
        full: usize,
        room: usize,
        budget: &mut Budget,
    ) -> Result<Vec<Path>, String> {
        let context = self.policy.generator.model().max_seq_len();
        let max_new = self.settings.max_new_tokens;
        let stops = self.policy.codec.stop_tokens();
        let mut out = Vec::with_capacity(samples.len());
        for s in samples {
            budget.drawn += s.tokens.len();
            let finished = s.tokens.last().is_some_and(|t| stops.contains(t));
            let cut =
                !finished && room < full && s.tokens.len() >= room && !self.ends_step(&s.tokens);
            let mut next = path.clone();
            next.tokens.extend(&s.tokens);
            next.logprobs.extend(&s.logprobs);
            next.steps += 1;
            next.finished = finished;
            // a step that stops at the budget (or the context) has been cut by it
            next.truncated = !finished
                && (cut
                    || next.tokens.len() >= max_new
                    || prompt_ids.len() + next.tokens.len() + 1 >= context);
            next.text = self.policy.codec.decode_with_spans(&next.tokens)?.0;
            out.push(next);
        }
        Ok(out)
    }

    /// `path` completed greedily (`params`, from `seed`) to a stop token, within the response
    /// budget, the context and what `budget` leaves: what an MCTS rollout scores. A
    /// completion that does not finish is marked truncated; a path that is already finished or
    /// out of room comes back as it is.
    pub(crate) fn complete(
        &self,
        prompt_ids: &[u32],
        path: &Path,
        params: &SamplingParams,
        seed: u64,
        budget: &mut Budget,
    ) -> Result<Path, String> {
        let context = self.policy.generator.model().max_seq_len();
        let max_new = self.settings.max_new_tokens;
        let used = path.tokens.len();
        let room = step_room(used, prompt_ids.len(), max_new, context, usize::MAX);
        let room = room.min(budget.left());
        if path.finished || path.truncated || room == 0 {
            return Ok(path.clone());
        }
        let prefix: Vec<u32> = prompt_ids.iter().chain(&path.tokens).copied().collect();
        let sampled = self.draw(&[prefix], &[room], 1, params, &[seed], Until::End);
        let stops = self.policy.codec.stop_tokens();
        let mut done = path.clone();
        for s in sampled.into_iter().flatten() {
            budget.drawn += s.tokens.len();
            done.finished = s.tokens.last().is_some_and(|t| stops.contains(t));
            done.truncated = !done.finished;
            done.tokens.extend(&s.tokens);
            done.logprobs.extend(&s.logprobs);
        }
        done.text = self.policy.codec.decode_with_spans(&done.tokens)?.0;
        Ok(done)
    }

    /// `n` draws after each prefix, prefix `i`'s within `rooms[i]` tokens, ending where
    /// `until` says: in one batch (the widest room as its limit, each draw cut to its own room
    /// afterwards) when the batch's context limit cuts none below its room, else prefix by
    /// prefix. Each response has its own random stream, so both ways give the same tokens.
    pub(crate) fn draw(
        &self,
        prefixes: &[Vec<u32>],
        rooms: &[usize],
        n: usize,
        params: &SamplingParams,
        seeds: &[u64],
        until: Until,
    ) -> Vec<Vec<Sample>> {
        let context = self.policy.generator.model().max_seq_len();
        let ends = |tokens: &[u32]| until == Until::StepEnd && self.ends_step(tokens);
        let lengths: Vec<usize> = prefixes.iter().map(Vec::len).collect();
        let generate = |prefixes: &[&[u32]], room: usize, seeds: &[u64]| {
            let params = SamplingParams {
                max_new_tokens: room,
                ..params.clone()
            };
            let g = &self.policy.generator;
            let request = SampleRequest::new(prefixes, n, &params, seeds);
            g.sample(&request.until(&ends), self.device)
        };
        let mut sampled = if prefixes.is_empty() || n == 0 {
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
}
