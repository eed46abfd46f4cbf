//! Step truth: which steps of a response to a `source.chains` prompt are right, decided
//! exactly from the prompt's chain (the rules are in the `chains` module doc). Other crates
//! reach it through [`step_truth`] (a response already cut into steps) and
//! [`response_step_truth`] (cut by a [`Segmentation`]).

use hicra_messages::Prompt;

use super::chain::Chain;
use super::equations::{Equation, equations, parse_integer};
use crate::boxed::boxes;
use crate::steps::Segmentation;

impl Chain {
    /// Whether each of `steps` is right, counting every step before it (see the `chains`
    /// module doc).
    pub fn step_truth(&self, steps: &[&str]) -> Vec<bool> {
        let mut done = 0usize;
        let mut seen: Vec<Equation> = Vec::new();
        let mut right = true;
        steps
            .iter()
            .map(|step| {
                if right {
                    right = self.step_is_right(step, &mut done, &mut seen);
                }
                right
            })
            .collect()
    }

    /// Judges one step after `done` correct operations, advancing `done` and `seen`.
    fn step_is_right(&self, step: &str, done: &mut usize, seen: &mut Vec<Equation>) -> bool {
        for eq in equations(step) {
            if let Some(on_track) = self.on_track(&eq, *done) {
                *done += 1;
                seen.push(on_track);
            } else if !seen.iter().any(|s| s.same_as(&eq)) {
                return false;
            }
        }
        let answer = self.answer();
        boxes(step).all(|content| parse_integer(content) == Some(answer))
    }

    /// `eq` in canonical form when it carries out operation `done` correctly.
    fn on_track(&self, eq: &Equation, done: usize) -> Option<Equation> {
        let &(op, b) = self.ops.get(done)?;
        let (from, to) = (self.values[done], self.values[done + 1]);
        let canonical = Equation {
            a: Some(from),
            op,
            b: Some(b),
            c: Some(to),
        };
        canonical.same_as(eq).then_some(canonical)
    }
}

/// The chain of a `source.chains` prompt (`meta.chain`), if it has a well-formed one.
pub fn chain_of(prompt: &Prompt) -> Option<Chain> {
    Chain::from_json(prompt.meta.get("chain")?)
}

/// For each of `steps` (a response cut into steps, in order), whether it and every step before
/// it are right; `None` when the prompt has no `meta.chain`.
pub fn step_truth(prompt: &Prompt, steps: &[&str]) -> Option<Vec<bool>> {
    Some(chain_of(prompt)?.step_truth(steps))
}

/// [`step_truth`] of a whole response cut into steps by `segmentation` (text rules only; a
/// token rule cuts nothing and gives no steps).
pub fn response_step_truth(
    prompt: &Prompt,
    response: &str,
    segmentation: &Segmentation,
) -> Option<Vec<bool>> {
    let mut steps = Vec::new();
    let mut from = 0;
    for end in segmentation.text_step_ends(response) {
        steps.push(&response[from..end]);
        from = end;
    }
    step_truth(prompt, &steps)
}
