//! Hard bounds on the work one answer may cost. Every bound that trips becomes a
//! [`LimitError`], which the verifier reports as "not equivalent" with the reason: no input can
//! make the checker panic, allocate without bound or run past its time budget.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// Bounds applied to each (gold, response) pair.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most bytes of a response searched for an answer (the tail is kept). Default: 65536.
    #[serde(default = "default_scan_bytes")]
    pub max_response_bytes: usize,
    /// Most bytes of an extracted answer that are parsed. Default: 1000.
    #[serde(default = "default_answer_bytes")]
    pub max_answer_bytes: usize,
    /// Deepest nesting of braces/brackets/operators in a parsed answer. Default: 64.
    #[serde(default = "default_depth")]
    pub max_depth: usize,
    /// Largest absolute integer exponent evaluated exactly. Default: 4096.
    #[serde(default = "default_exponent")]
    pub max_exponent: u64,
    /// Largest size, in bits, of an exact numerator or denominator. Default: 16384.
    #[serde(default = "default_bits")]
    pub max_bits: u64,
    /// Wall-clock budget per answer pair, in milliseconds. Default: 200.
    #[serde(default = "default_time_ms")]
    pub time_budget_ms: u64,
}

fn default_scan_bytes() -> usize {
    65_536
}
fn default_answer_bytes() -> usize {
    1000
}
fn default_depth() -> usize {
    64
}
fn default_exponent() -> u64 {
    4096
}
fn default_bits() -> u64 {
    16_384
}
fn default_time_ms() -> u64 {
    200
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_response_bytes: default_scan_bytes(),
            max_answer_bytes: default_answer_bytes(),
            max_depth: default_depth(),
            max_exponent: default_exponent(),
            max_bits: default_bits(),
            time_budget_ms: default_time_ms(),
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
