//! `verifier.boxed`: the reward is whether the last `\boxed{...}` of a response (nested braces
//! allowed) equals the prompt's answer, compared after trimming whitespace. Strict and cheap:
//! the checker for tasks whose answers are exact strings (the quickstart's digit strings).

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, refuse};
use hicra_messages::Prompt;
use serde::Deserialize;

use crate::answers::{Checker, Score};
use crate::scoring::{Rewards, Verifier, verifier_ports};

/// Most bytes of a response that are searched (longer responses are judged on their tail).
const MAX_SCAN_BYTES: usize = 1 << 20;

/// The content of the last balanced `\boxed{...}`, if any (in the last `MAX_SCAN_BYTES`).
pub fn last_boxed(text: &str) -> Option<&str> {
    let start = text.len().saturating_sub(MAX_SCAN_BYTES);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    boxes(&text[start..]).last()
}

/// The contents of every closed `\boxed{...}` in `text`, in the order they open (nested
/// braces allowed; a box inside a box comes after it).
pub fn boxes(text: &str) -> impl Iterator<Item = &str> {
    let mut search = 0;
    std::iter::from_fn(move || {
        loop {
            let at = text[search..].find("\\boxed{")?;
            let open = search + at + "\\boxed{".len();
            search = open;
            let mut depth = 1usize;
            for (i, c) in text[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(&text[open..open + i]);
                        }
                    }
                    _ => {}
                }
            }
        }
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoxedVerifierConfig {
    /// Reward of a correct answer.
    pub correct_reward: f64,
    /// Reward of a wrong answer.
    pub wrong_reward: f64,
    /// Reward when no `\boxed{}` is found.
    pub unparseable_reward: f64,
}

impl Default for BoxedVerifierConfig {
    fn default() -> Self {
        Self {
            correct_reward: 1.0,
            wrong_reward: 0.0,
            unparseable_reward: 0.0,
        }
    }
}

impl StageConfig for BoxedVerifierConfig {
    const KIND: &'static str = "verifier.boxed";
    const SUMMARY: &'static str =
        "reward = last \\boxed{} equals the gold answer exactly (after trimming)";
    const EXAMPLE: &'static str = r#"[stages.verifier]
kind = "verifier.boxed"
inputs = { rollouts = "sampler.rollouts" }
correct_reward = 1.0
wrong_reward = 0.0
unparseable_reward = 0.0
"#;

    fn ports(&self) -> Ports {
        verifier_ports(
            "sampled responses",
            "reward and accuracy (evaluation batches report accuracy/eval)",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let rewards = [
            ("correct_reward", self.correct_reward),
            ("wrong_reward", self.wrong_reward),
            ("unparseable_reward", self.unparseable_reward),
        ];
        rewards
            .into_iter()
            .filter(|(_, r)| !r.is_finite())
            .map(|(field, r)| {
                Invalid::new(field, format!("{field} must be a finite number, got {r}"))
            })
            .collect()
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        Ok(Box::new(Verifier {
            checker: BoxedChecker,
            rewards: self.rewards(),
        }))
    }
}

impl BoxedVerifierConfig {
    /// The reward table these settings describe.
    pub fn rewards(&self) -> Rewards {
        Rewards {
            correct: self.correct_reward,
            wrong: self.wrong_reward,
            unparseable: self.unparseable_reward,
        }
    }
}

/// The exact-string checker: the last `\boxed{}`'s content, trimmed, equals the gold answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxedChecker;

impl Checker for BoxedChecker {
    fn judge(&self, prompt: &Prompt, response: &str) -> Score {
        let Some(answer) = last_boxed(response).map(str::trim) else {
            return Score::unanswered("no \\boxed{} found");
        };
        let correct = answer == prompt.answer.trim();
        Score {
            correct,
            parsed: true,
            limited: false,
            reason: (!correct).then(|| "different answer".to_string()),
            answer: Some(answer.to_string()),
        }
    }

    fn same_answer(&self, _prompt: &Prompt, a: &str, b: &str) -> bool {
        a.trim() == b.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_balanced_box() {
        assert_eq!(
            last_boxed("a \\boxed{1} then \\boxed{\\frac{1}{2}}"),
            Some("\\frac{1}{2}")
        );
        assert_eq!(last_boxed("\\boxed{12} and \\boxed{unclosed"), Some("12"));
        assert_eq!(last_boxed("nothing"), None);
        assert_eq!(last_boxed(""), None);
        let deep = format!("\\boxed{{{}x{}}}", "{".repeat(1000), "}".repeat(1000));
        assert_eq!(last_boxed(&deep).map(str::len), Some(2001));
    }
}
