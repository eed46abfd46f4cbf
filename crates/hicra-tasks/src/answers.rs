//! What a verifier knows how to do with one response, apart from any stage: judge it against
//! the prompt's gold answer ([`Checker::judge`]) and tell whether two answers it read are the
//! same answer ([`Checker::same_answer`], which majority voting groups by). Every `verifier.*`
//! stage scores through its checker, and `hicra eval` builds the same checkers from the same
//! TOML tables, so training-time and stand-alone evaluation judge alike.

use hicra_messages::Prompt;

/// A verifier's judgement of one response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    pub correct: bool,
    /// An answer was found and read.
    pub parsed: bool,
    /// A resource bound tripped while judging.
    pub limited: bool,
    /// The answer read from the response, as written there.
    pub answer: Option<String>,
    /// Why the response is not correct, in words (`None` when it is).
    pub reason: Option<String>,
}

impl Score {
    /// A response without a readable answer.
    pub fn unanswered(reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// Judges responses to prompts of one task family.
pub trait Checker: Send + Sync {
    /// The verdict on `response` to `prompt` (never panics, whatever the text).
    fn judge(&self, prompt: &Prompt, response: &str) -> Score;

    /// Whether two answers this checker read (from responses to `prompt`) are the same answer.
    fn same_answer(&self, prompt: &Prompt, a: &str, b: &str) -> bool;
}

impl<C: Checker + ?Sized> Checker for Box<C> {
    fn judge(&self, prompt: &Prompt, response: &str) -> Score {
        (**self).judge(prompt, response)
    }

    fn same_answer(&self, prompt: &Prompt, a: &str, b: &str) -> bool {
        (**self).same_answer(prompt, a, b)
    }
}
