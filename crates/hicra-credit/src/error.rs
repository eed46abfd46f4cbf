use thiserror::Error;

/// Why credit could not be assigned.
#[derive(Debug, Error, PartialEq)]
pub enum CreditError {
    #[error(
        "rollout {index} of group `{group}` has no reward (did a verifier run before the credit stage?)"
    )]
    MissingReward { group: String, index: usize },
    #[error("rollout {index} of group `{group}` has a non-finite reward ({reward})")]
    NonFiniteReward {
        group: String,
        index: usize,
        reward: f64,
    },
    #[error(
        "rollout {index} of group `{group}`: mask `{mask}` has {got} entries for {tokens} tokens"
    )]
    MaskLength {
        group: String,
        index: usize,
        mask: String,
        got: usize,
        tokens: usize,
    },
    #[error("rollout {index} of group `{group}`: {what} has {got} entries for {tokens} tokens")]
    TokenLength {
        group: String,
        index: usize,
        what: &'static str,
        got: usize,
        tokens: usize,
    },
    #[error(
        "rollout {index} of group `{group}` has no mask `{mask}` (masks present: {present}); \
         is the tagger that sets it upstream of this stage?"
    )]
    MissingMask {
        group: String,
        index: usize,
        mask: String,
        present: String,
    },
    #[error("rollout {index} of group `{group}`: the {what} of token {token} is {value}")]
    NonFiniteToken {
        group: String,
        index: usize,
        what: &'static str,
        token: usize,
        value: f64,
    },
    #[error("rollout {index} of group `{group}`: {why}")]
    StepStructure {
        group: String,
        index: usize,
        why: String,
    },
    #[error("invalid parameter: {0}")]
    Config(String),
}
