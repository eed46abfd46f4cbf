//! Beam search and beam search with lookahead (see the module docs of [`super`]).

use hicra_messages::Prompt;

use super::paths::{Budget, Path, keep_best, merge_identical};
use super::{Found, StepSearch, path_seeds};

impl StepSearch<'_> {
    /// The candidates continued greedily `lookahead` steps further: the paths the scorer
    /// sees (a candidate the budget leaves no room to continue is seen as it is).
    pub(crate) fn ahead(
        &self,
        prompt_ids: &[u32],
        candidates: &[Path],
        (problem, step): (u64, usize),
        budget: &mut Budget,
    ) -> Result<Vec<Path>, String> {
        let mut ahead: Vec<Path> = candidates.to_vec();
        let params = self.continuation_params();
        for round in 0..self.lookahead() {
            let open: Vec<usize> = (0..ahead.len())
                .filter(|&i| !ahead[i].finished && !ahead[i].truncated)
                .collect();
            if open.is_empty() || budget.spent() {
                break;
            }
            let paths: Vec<Path> = open.iter().map(|&i| ahead[i].clone()).collect();
            let seeds = path_seeds(problem, step, &format!("ahead-{round}"), ahead.len());
            let seeds: Vec<u64> = open.iter().map(|&i| seeds[i]).collect();
            let extended = self.extend(prompt_ids, &paths, 1, &params, &seeds, budget)?;
            for (i, mut grown) in open.into_iter().zip(extended) {
                ahead[i] = grown.swap_remove(0);
            }
        }
        Ok(ahead)
    }

    /// Beam search (with lookahead when the spec has one) for `prompt`.
    pub(crate) fn beam(
        &self,
        prompt: &Prompt,
        prompt_ids: &[u32],
        problem: u64,
    ) -> Result<Found, String> {
        let spec = self.spec;
        let width = self.width();
        let params = self.params(self.settings.temperature);
        let mut budget = Budget::new(spec.budget);
        let (mut scored, mut steps_run) = (0usize, 0usize);
        let mut live = vec![Path::default()];
        let mut pool: Vec<Path> = Vec::new();
        for step in 0..spec.max_steps {
            if live.is_empty() || budget.spent() {
                break;
            }
            steps_run += 1;
            let n = if step == 0 {
                width * spec.expand
            } else {
                spec.expand
            };
            let seeds = path_seeds(problem, step, "step", live.len());
            let candidates = self.extend(prompt_ids, &live, n, &params, &seeds, &mut budget)?;
            let mut candidates = merge_identical(candidates.into_iter().flatten().collect());
            let scores = if self.lookahead() == 0 {
                self.scores(prompt, &candidates)?
            } else {
                let ahead = self.ahead(prompt_ids, &candidates, (problem, step), &mut budget)?;
                self.scores(prompt, &ahead)?
            };
            scored += candidates.len();
            for (c, s) in candidates.iter_mut().zip(&scores) {
                c.score = if s.is_nan() { f64::NEG_INFINITY } else { *s };
            }
            let kept = keep_best(candidates, width);
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
        Ok(Found {
            score: best.score,
            path: best,
            tokens_drawn: budget.drawn,
            candidates_scored: scored,
            nodes: scored,
            iterations: steps_run,
        })
    }
}
