//! Monte-Carlo tree search over steps (`mcts:BUDGET[:E]`; see the module docs of [`super`]).

use hicra_flow::derive_seed;
use hicra_messages::Prompt;

use super::paths::{Budget, Path, merge_identical};
use super::tree::{ROOT, Tree};
use super::{Found, StepSearch};
use crate::settings::{ScorerName, SearchKind};

/// Iterations in a row that draw nothing (each selects a terminal node and backs it up
/// again) after which the search stops: UCT keeps choosing finished solutions over the
/// open ones, and more of the same would not spend the budget.
pub(crate) const IDLE_LIMIT: usize = 1000;

impl StepSearch<'_> {
    /// The value of a scorer's score in a tree: the score itself (a PRM's or a judge's, in
    /// [0, 1]), `exp` of the confidence's mean log-prob (in (0, 1]); NaN counts as 0.
    fn value_of(&self, score: f64) -> f64 {
        let value = if self.scorer.name() == ScorerName::Confidence {
            score.exp()
        } else {
            score
        };
        if value.is_nan() { 0.0 } else { value }
    }

    /// Monte-Carlo tree search for `prompt`.
    pub(crate) fn mcts(
        &self,
        prompt: &Prompt,
        prompt_ids: &[u32],
        problem: u64,
    ) -> Result<Found, String> {
        let spec = self.spec;
        let SearchKind::Mcts {
            exploration,
            rollout,
        } = spec.kind
        else {
            return Err("not an MCTS search".into());
        };
        let params = self.params(self.settings.temperature);
        let greedy = self.continuation_params();
        let mut budget = Budget::new(spec.budget);
        let mut tree = Tree::new(Path::default());
        let (mut iterations, mut idle, mut scored) = (0usize, 0usize, 0usize);
        while !budget.spent() && !tree.exhausted(ROOT) && idle < IDLE_LIMIT {
            let t = iterations;
            iterations += 1;
            let leaf = tree.select(exploration);
            if tree.node(leaf).terminal {
                let value = tree.node(leaf).value;
                tree.backup(leaf, value);
                idle += 1;
                continue;
            }
            idle = 0;
            let seed = derive_seed(problem, &format!("{t}/expand"));
            let parent = tree.node(leaf).item.clone();
            let drawn = self.extend(
                prompt_ids,
                &[parent],
                spec.expand,
                &params,
                &[seed],
                &mut budget,
            )?;
            let mut children = merge_identical(drawn.into_iter().flatten().collect());
            if children
                .iter()
                .all(|c| c.tokens.len() == tree.node(leaf).item.tokens.len())
            {
                // nothing was drawn: the leaf had no room left
                tree.set_terminal(leaf);
                tree.nodes[leaf].item.truncated = true;
                continue;
            }
            for c in &mut children {
                if !c.finished && c.steps >= spec.max_steps {
                    c.truncated = true;
                }
            }
            let seen: Vec<Path> = if rollout {
                let mut ends = Vec::with_capacity(children.len());
                for (i, c) in children.iter().enumerate() {
                    let seed = derive_seed(problem, &format!("{t}/rollout/{i}"));
                    ends.push(self.complete(prompt_ids, c, &greedy, seed, &mut budget)?);
                }
                ends
            } else {
                children.clone()
            };
            let scores = self.scores(prompt, &seen)?;
            scored += children.len();
            for (mut child, score) in children.into_iter().zip(scores) {
                let value = self.value_of(score);
                child.score = value;
                let terminal = child.finished || child.truncated;
                let id = tree.add(leaf, child, value, terminal);
                tree.backup(id, value);
            }
        }
        let finished = (0..tree.nodes.len()).filter(|&id| tree.node(id).item.finished);
        let (id, truncated) = match tree.best_of(finished) {
            Some(id) => (id, false),
            None => (tree.most_visited_leaf(), true),
        };
        if id == ROOT {
            return Err("the search drew no step".into());
        }
        let node = tree.node(id);
        let mut path = node.item.clone();
        path.truncated |= truncated;
        Ok(Found {
            score: node.mean(),
            path,
            tokens_drawn: budget.drawn,
            candidates_scored: scored,
            nodes: tree.grown(),
            iterations,
        })
    }
}
