//! Scorers rank candidate responses (whole, for best-of-K, or partial, for step-level search):
//! one trait, three kinds. `confidence` is the policy's own mean token log-prob; `verifier`
//! is the gold-answer check, an oracle upper bound that no deployed system has; `judge` is a
//! generative reward model (`crate::judge`, which implements this trait).

use hicra_messages::Prompt;

use crate::settings::ScorerName;

/// A response (or partial solution) to be scored.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub prompt: &'a Prompt,
    /// The response text so far.
    pub text: &'a str,
    /// The policy's log-prob of each response token, as sampled.
    pub logprobs: &'a [f32],
    /// The verifier's verdict, for finished responses.
    pub correct: Option<bool>,
}

/// Scores candidates; higher is better.
pub trait Scorer {
    fn name(&self) -> ScorerName;

    /// One score per candidate, in order.
    fn score(&self, candidates: &[Candidate<'_>]) -> Result<Vec<f64>, String>;
}

/// The policy's mean token log-prob (`-inf` for an empty response).
pub struct Confidence;

impl Scorer for Confidence {
    fn name(&self) -> ScorerName {
        ScorerName::Confidence
    }

    fn score(&self, candidates: &[Candidate<'_>]) -> Result<Vec<f64>, String> {
        Ok(candidates
            .iter()
            .map(|c| {
                if c.logprobs.is_empty() {
                    f64::NEG_INFINITY
                } else {
                    c.logprobs.iter().map(|&l| f64::from(l)).sum::<f64>() / c.logprobs.len() as f64
                }
            })
            .collect())
    }
}

/// 1 for a correct response, 0 otherwise: the oracle.
pub struct VerifierOracle;

impl Scorer for VerifierOracle {
    fn name(&self) -> ScorerName {
        ScorerName::Verifier
    }

    fn score(&self, candidates: &[Candidate<'_>]) -> Result<Vec<f64>, String> {
        candidates
            .iter()
            .map(|c| {
                c.correct
                    .map(|ok| f64::from(u8::from(ok)))
                    .ok_or_else(|| "the verifier scores finished responses only".to_string())
            })
            .collect()
    }
}

/// The index of the best score (the first of equal ones; NaN never wins).
pub fn best_index(scores: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_nan() {
            continue;
        }
        if best.is_none_or(|b| s > scores[b]) {
            best = Some(i);
        }
    }
    best.or(if scores.is_empty() { None } else { Some(0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_equal_best_scores_wins_and_nan_never_does() {
        assert_eq!(best_index(&[0.1, 0.5, 0.5]), Some(1));
        assert_eq!(best_index(&[f64::NAN, 0.2]), Some(1));
        assert_eq!(best_index(&[f64::NEG_INFINITY, f64::NEG_INFINITY]), Some(0));
        assert_eq!(best_index(&[f64::NAN]), Some(0));
        assert_eq!(best_index(&[]), None);
    }

    #[test]
    fn confidence_is_the_mean_log_prob() {
        let prompt = Prompt::new("p", "q", "a");
        let (a, b) = ([-1.0f32, -3.0], [-0.5f32]);
        let candidates = [
            Candidate {
                prompt: &prompt,
                text: "x",
                logprobs: &a,
                correct: Some(true),
            },
            Candidate {
                prompt: &prompt,
                text: "y",
                logprobs: &b,
                correct: Some(false),
            },
            Candidate {
                prompt: &prompt,
                text: "",
                logprobs: &[],
                correct: None,
            },
        ];
        let scores = Confidence.score(&candidates).unwrap();
        assert_eq!(&scores[..2], &[-2.0, -0.5]);
        assert_eq!(scores[2], f64::NEG_INFINITY);
        assert!(VerifierOracle.score(&candidates).is_err());
        assert_eq!(
            VerifierOracle.score(&candidates[..2]).unwrap(),
            vec![1.0, 0.0]
        );
    }
}
