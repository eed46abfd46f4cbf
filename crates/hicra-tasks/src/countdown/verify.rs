//! `verifier.countdown`: rewards a response whose expression uses the puzzle's numbers (at
//! most once each, or exactly once) and equals its target, through [`CountdownChecker`].

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, refuse};
use hicra_messages::Prompt;
use serde::Deserialize;

use super::{check, expr};
use crate::answers::{Checker, Score};
use crate::scoring::{Rewards, Verifier, verifier_ports};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CountdownVerifierConfig {
    /// Rewards per verdict; "unparseable" is a response with no expression or one that does
    /// not parse.
    pub rewards: Rewards,
    /// Every given number must be used (exactly once); otherwise at most once.
    pub require_all_numbers: bool,
    /// Read the last non-empty line when there is no `<answer>` tag or `\boxed{}`.
    pub last_line_fallback: bool,
}

impl StageConfig for CountdownVerifierConfig {
    const KIND: &'static str = "verifier.countdown";
    const SUMMARY: &'static str = "reward = the answer's expression uses the given numbers at most once and equals the target";
    const EXAMPLE: &'static str = r#"[stages.verifier]
kind = "verifier.countdown"
inputs = { rollouts = "sampler.rollouts" }
rewards = { correct = 1.0, wrong = 0.0, unparseable = 0.0 }
require_all_numbers = false
last_line_fallback = false
"#;

    fn ports(&self) -> Ports {
        verifier_ports(
            "sampled responses to Countdown puzzles",
            "reward and accuracy of evaluation batches",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        self.rewards.problems()
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        Ok(Box::new(CountdownVerifier {
            checker: self.checker(),
            rewards: self.rewards,
        }))
    }
}

/// The running `verifier.countdown`.
pub type CountdownVerifier = Verifier<CountdownChecker>;

/// The numbers and target a prompt's `meta` carries.
pub fn puzzle_of(prompt: &Prompt) -> Option<(Vec<i64>, i64)> {
    let numbers = prompt
        .meta
        .get("numbers")?
        .as_array()?
        .iter()
        .map(serde_json::Value::as_i64)
        .collect::<Option<Vec<i64>>>()?;
    let target = prompt.meta.get("target")?.as_i64()?;
    Some((numbers, target))
}

impl CountdownVerifierConfig {
    /// The checker these settings describe.
    pub fn checker(&self) -> CountdownChecker {
        CountdownChecker {
            require_all_numbers: self.require_all_numbers,
            last_line_fallback: self.last_line_fallback,
        }
    }
}

/// The Countdown checker: the answer's expression must use the given numbers at most once
/// (exactly once with `require_all_numbers`) and equal the target.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountdownChecker {
    pub require_all_numbers: bool,
    pub last_line_fallback: bool,
}

impl Checker for CountdownChecker {
    fn judge(&self, prompt: &Prompt, response: &str) -> Score {
        let Some((numbers, target)) = puzzle_of(prompt) else {
            tracing::warn!(prompt = %prompt.id, "no meta.numbers/meta.target: not a Countdown prompt");
            return Score::unanswered("not a Countdown prompt (no meta.numbers / meta.target)");
        };
        let Some(answer) = check::extract(response, self.last_line_fallback) else {
            return Score::unanswered("no answer found");
        };
        let verdict = check::check(&numbers, target, answer, self.require_all_numbers);
        let parsed = !matches!(
            verdict,
            Err(check::CountdownError::NoAnswer | check::CountdownError::Parse(_))
        );
        Score {
            correct: verdict.is_ok(),
            parsed,
            limited: false,
            reason: verdict.err().map(|e| e.to_string()),
            answer: Some(answer.to_string()),
        }
    }

    /// Two expressions are the same answer when they have the same exact value (and the same
    /// cleaned text when either does not evaluate).
    fn same_answer(&self, _prompt: &Prompt, a: &str, b: &str) -> bool {
        let value = |s: &str| expr::parse(&check::clean(s)).and_then(|e| e.eval()).ok();
        match (value(a), value(b)) {
            (Some(x), Some(y)) => x == y,
            _ => check::clean(a) == check::clean(b),
        }
    }
}
