//! Hard bounds on the work one answer may cost. Every bound that trips becomes a
//! [`LimitError`], which the verifier reports as "not equivalent" with the reason: no input can
//! make the checker panic, allocate without bound or run past its time budget.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// Bounds applied to each (gold, response) pair.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most bytes of a response searched for an answer (the tail is kept).
    pub max_response_bytes: usize,
    /// Most bytes of an extracted answer that are parsed.
    pub max_answer_bytes: usize,
    /// Deepest nesting of braces/brackets/operators in a parsed answer.
    pub max_depth: usize,
    /// Largest absolute integer exponent evaluated exactly.
    pub max_exponent: u64,
    /// Largest size, in bits, of an exact numerator or denominator.
    pub max_bits: u64,
    /// Wall-clock budget per answer pair, in milliseconds.
    pub time_budget_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_response_bytes: 65_536,
            max_answer_bytes: 1000,
            max_depth: 64,
            max_exponent: 4096,
            max_bits: 16_384,
            time_budget_ms: 200,
        }
    }
}

impl Limits {
    /// Checks the values are usable (all positive).
    pub fn validate(&self) -> Result<(), String> {
        let zero = [
            ("max_response_bytes", self.max_response_bytes as u64),
            ("max_answer_bytes", self.max_answer_bytes as u64),
            ("max_depth", self.max_depth as u64),
            ("max_bits", self.max_bits),
            ("time_budget_ms", self.time_budget_ms),
        ]
        .into_iter()
        .find(|(_, v)| *v == 0);
        match zero {
            Some((name, _)) => Err(format!("{name} must be positive")),
            None => Ok(()),
        }
    }
}

/// Why an answer was not judged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("answer longer than {0} bytes")]
    TooLong(usize),
    #[error("nesting deeper than {0}")]
    TooDeep(usize),
    #[error("exponent larger than {0}")]
    ExponentTooLarge(u64),
    #[error("number larger than {0} bits")]
    TooManyBits(u64),
    #[error("time budget of {0} ms spent")]
    OutOfTime(u64),
}

/// The clock and bounds one comparison runs under.
#[derive(Clone, Debug)]
pub struct Budget<'a> {
    pub limits: &'a Limits,
    deadline: Instant,
}

impl<'a> Budget<'a> {
    pub fn start(limits: &'a Limits) -> Self {
        Self {
            limits,
            deadline: Instant::now() + Duration::from_millis(limits.time_budget_ms),
        }
    }

    /// Errors once the time budget is spent.
    pub fn tick(&self) -> Result<(), LimitError> {
        if Instant::now() > self.deadline {
            Err(LimitError::OutOfTime(self.limits.time_budget_ms))
        } else {
            Ok(())
        }
    }

    /// Errors when `depth` exceeds the nesting bound.
    pub fn depth(&self, depth: usize) -> Result<(), LimitError> {
        if depth > self.limits.max_depth {
            Err(LimitError::TooDeep(self.limits.max_depth))
        } else {
            Ok(())
        }
    }
}
