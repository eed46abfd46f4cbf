//! What an evaluation is asked to do: how many responses per problem and how they are drawn,
//! which scorers rank them, and whether a step-level search replaces plain sampling.

use std::fmt;
use std::str::FromStr;

use hicra_model::{DeviceSpec, Precision};

/// The settings of one evaluation.
#[derive(Clone, Debug)]
pub struct EvalSettings {
    /// Responses per problem (K).
    pub samples: usize,
    /// Softmax temperature of the draws (0 = greedy).
    pub temperature: f32,
    /// Nucleus mass of the draws (1 = off).
    pub top_p: f32,
    /// Keep the k likeliest tokens (0 = off).
    pub top_k: usize,
    /// Most tokens per response.
    pub max_new_tokens: usize,
    /// Seed of the draws, the sampler's stage seed: each response draws from its own stream
    /// (seed, policy version, problem id, sample index), so one seed gives the same samples
    /// at any batch size.
    pub seed: u64,
    /// Responses decoded together (problems per chunk = batch / samples, at least 1).
    pub batch: usize,
    /// Where the policy runs.
    pub device: DeviceSpec,
    /// Floating-point type of the policy's forward passes.
    pub dtype: Precision,
    /// Scorers ranking each problem's responses for best-of-K (`confidence`, `verifier`,
    /// `judge`).
    pub scorers: Vec<ScorerName>,
    /// A step-level search instead of K independent samples.
    pub search: Option<SearchSpec>,
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            samples: 1,
            temperature: 0.6,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 512,
            seed: 0,
            batch: 64,
            device: DeviceSpec::default(),
            dtype: Precision::default(),
            scorers: Vec::new(),
            search: None,
        }
    }
}

impl EvalSettings {
    /// Errors on settings no evaluation can run with.
    pub fn validate(&self) -> Result<(), String> {
        if self.samples == 0 || self.max_new_tokens == 0 || self.batch == 0 {
            return Err("--samples, --max-new-tokens and --batch must be positive".into());
        }
        if !(self.temperature >= 0.0 && self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!(
                "need temperature >= 0 and 0 < top_p <= 1, got {} and {}",
                self.temperature, self.top_p
            ));
        }
        if let Some(search) = &self.search {
            search.validate()?;
        }
        Ok(())
    }
}

/// A scorer, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScorerName {
    /// The policy's mean token log-prob of the response (at the sampling temperature).
    Confidence,
    /// The verifier's verdict: an oracle upper bound, not a deployable method.
    Verifier,
    /// A generative judge: the probability of "yes" after a judging prompt.
    Judge,
}

impl ScorerName {
    pub const ALL: [ScorerName; 3] = [Self::Confidence, Self::Verifier, Self::Judge];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidence => "confidence",
            Self::Verifier => "verifier",
            Self::Judge => "judge",
        }
    }
}

impl fmt::Display for ScorerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScorerName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown scorer `{s}`: use confidence, verifier or judge"))
    }
}

/// Step-level search: `beam:W` or `lookahead:W:K`, with how steps are cut and scored.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpec {
    /// Partial solutions kept after each step.
    pub width: usize,
    /// Steps rolled out greedily past each candidate before scoring it (0 = plain beam).
    pub lookahead: usize,
    /// Candidates drawn per kept partial solution at each step (the first step draws
    /// `width * expand` from the prompt). Default: the width.
    pub expand: usize,
    /// Text that ends a step. Default: a blank line.
    pub delimiter: String,
    /// Most tokens per step.
    pub step_tokens: usize,
    /// Most steps per solution.
    pub max_steps: usize,
    /// The scorer of partial solutions (`confidence` or `judge`).
    pub scorer: ScorerName,
}

impl SearchSpec {
    /// The name of the search in figures: `beam:4/judge`, `lookahead:4:2/confidence`.
    pub fn label(&self) -> String {
        let kind = if self.lookahead > 0 {
            format!("lookahead:{}:{}", self.width, self.lookahead)
        } else {
            format!("beam:{}", self.width)
        };
        format!("{kind}/{}", self.scorer)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.expand == 0 || self.step_tokens == 0 || self.max_steps == 0 {
            return Err("search width, expansion, step tokens and steps must be positive".into());
        }
        if self.delimiter.is_empty() {
            return Err("the step delimiter must not be empty".into());
        }
        if self.scorer == ScorerName::Verifier {
            return Err(
                "the verifier cannot score partial solutions: search with `confidence` or `judge`"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Parses `beam:W` or `lookahead:W:K` (the other fields get their defaults: expand = W,
/// delimiter = blank line, 256 tokens per step, 12 steps, the judge as scorer).
impl FromStr for SearchSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let number = |p: &str| {
            p.parse::<usize>()
                .map_err(|_| format!("--search {s}: `{p}` is not a positive whole number"))
        };
        let (width, lookahead) = match parts.as_slice() {
            ["beam", w] => (number(w)?, 0),
            ["lookahead", w, k] => (number(w)?, number(k)?),
            _ => {
                return Err(format!(
                    "--search {s}: expected `beam:W` or `lookahead:W:K` (e.g. beam:4, lookahead:4:2)"
                ));
            }
        };
        if parts[0] == "lookahead" && lookahead == 0 {
            return Err(format!(
                "--search {s}: lookahead needs K >= 1 steps (or use beam:W)"
            ));
        }
        Ok(Self {
            width,
            lookahead,
            expand: width,
            delimiter: "\n\n".into(),
            step_tokens: 256,
            max_steps: 12,
            scorer: ScorerName::Judge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_specs_parse_and_name_themselves() {
        let beam: SearchSpec = "beam:4".parse().unwrap();
        assert_eq!((beam.width, beam.lookahead, beam.expand), (4, 0, 4));
        assert_eq!(beam.label(), "beam:4/judge");
        let look: SearchSpec = "lookahead:3:2".parse().unwrap();
        assert_eq!((look.width, look.lookahead), (3, 2));
        assert_eq!(look.label(), "lookahead:3:2/judge");
        for bad in [
            "beam",
            "beam:x",
            "lookahead:2",
            "lookahead:2:0",
            "mcts:4",
            "beam:0",
        ] {
            let parsed = bad.parse::<SearchSpec>().and_then(|s| s.validate());
            assert!(parsed.is_err(), "{bad} should be refused");
        }
        let mut verifier = beam.clone();
        verifier.scorer = ScorerName::Verifier;
        assert!(verifier.validate().unwrap_err().contains("partial"));
    }

    #[test]
    fn scorer_names_round_trip() {
        for name in ScorerName::ALL {
            assert_eq!(name.as_str().parse::<ScorerName>().unwrap(), name);
        }
        assert!(
            "best"
                .parse::<ScorerName>()
                .unwrap_err()
                .contains("confidence")
        );
    }
}
