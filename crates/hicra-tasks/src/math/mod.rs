//! The math-answer checker behind `verifier.math` and `hicra verify`.
//!
//! A response goes through these steps, each in its own module: [`extract`] finds the final
//! answer (last `\boxed{}`, "final answer is" / "Answer:", `#### N`, last number);
//! [`normalize`] rewrites it into a canonical string; [`shape`] reads its structure (tuple,
//! interval, set, union or difference of sets, equation, `\pm`, scalar, text), [`lex`] +
//! [`parse`] its expressions; [`compare`] matches the structures, [`sets`] compares sets of
//! reals and [`values`] compares values: exactly with big rationals ([`eval`]), to a number of
//! decimals for decimal answers, otherwise in complex floats at seeded points. Where graders
//! differ, [`conventions`] says which reading is taken (math-verify's by default). Every step
//! runs under the [`limits`]: a tripped bound is a "not equivalent" verdict with its reason,
//! never a panic.

pub mod compare;
pub mod conventions;
pub mod eval;
pub mod extract;
pub mod lex;
pub mod limits;
pub mod normalize;
pub mod parse;
pub mod sets;
pub mod shape;
pub mod stage;
pub mod values;

pub use conventions::Conventions;
pub use extract::Method;
pub use limits::{Budget, LimitError, Limits};

/// The outcome of checking one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Equivalent,
    Different,
    /// No answer could be found in the response.
    NoAnswer,
    /// A bound tripped; the answer counts as not equivalent.
    Limit(LimitError),
}

/// What the checker found and decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The extracted answer (before normalisation), if any.
    pub extracted: Option<String>,
    pub method: Option<Method>,
}

impl Verdict {
    pub fn equivalent(&self) -> bool {
        self.outcome == Outcome::Equivalent
    }

    /// Why the answer is not equivalent, in words (`None` when it is).
    pub fn reason(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Equivalent => None,
            Outcome::Different => Some("different answer".into()),
            Outcome::NoAnswer => Some("no answer found".into()),
            Outcome::Limit(l) => Some(l.to_string()),
        }
    }
}

/// A configured checker.
#[derive(Clone, Debug, Default)]
pub struct MathChecker {
    pub limits: Limits,
    /// Take the last number of a response when no explicit answer marker is present.
    pub last_number_fallback: bool,
    /// How percentages, case, units in text, decimals and irregular symbols are read.
    pub conventions: Conventions,
}

impl MathChecker {
    /// Checks `response` against the gold answer (`#### N` and `\boxed{}` golds are unwrapped).
    pub fn check(&self, gold: &str, response: &str) -> Verdict {
        let text = extract::tail(response, self.limits.max_response_bytes);
        let Some((answer, method)) = extract::extract_answer(text, self.last_number_fallback)
        else {
            return Verdict {
                outcome: Outcome::NoAnswer,
                extracted: None,
                method: None,
            };
        };
        let gold = extract::extract_gold(extract::tail(gold, self.limits.max_response_bytes));
        let outcome = match self.same_answer(&gold, &answer) {
            Ok(true) => Outcome::Equivalent,
            Ok(false) => Outcome::Different,
            Err(l) => Outcome::Limit(l),
        };
        Verdict {
            outcome,
            extracted: Some(answer),
            method: Some(method),
        }
    }

    /// Whether two bare answers (no extraction) are equal.
    pub fn same_answer(&self, gold: &str, answer: &str) -> Result<bool, LimitError> {
        let max = self.limits.max_answer_bytes;
        if gold.len() > max || answer.len() > max {
            return Err(LimitError::TooLong(max));
        }
        let budget = Budget::start(&self.limits);
        let c = &self.conventions;
        let (g, a) = (
            normalize::normalize(gold, c),
            normalize::normalize(answer, c),
        );
        compare::equivalent(&g, &a, &budget, c)
    }
}

impl crate::answers::Checker for MathChecker {
    fn judge(&self, prompt: &hicra_messages::Prompt, response: &str) -> crate::answers::Score {
        let verdict = self.check(&prompt.answer, response);
        let limited = matches!(verdict.outcome, Outcome::Limit(_));
        crate::answers::Score {
            correct: verdict.equivalent(),
            parsed: verdict.extracted.is_some() && !limited,
            limited,
            reason: verdict.reason(),
            answer: verdict.extracted,
        }
    }

    /// Equal as mathematics; answers the checker cannot compare within its limits are the
    /// same only when their normalised texts are.
    fn same_answer(&self, _prompt: &hicra_messages::Prompt, a: &str, b: &str) -> bool {
        self.same_answer(a, b).unwrap_or_else(|_| {
            let c = &self.conventions;
            normalize::normalize(a, c) == normalize::normalize(b, c)
        })
    }
}

#[cfg(test)]
mod tests;
