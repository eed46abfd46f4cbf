//! A generative judge: any causal LM checkpoint turned into a process/outcome reward model.
//! Each candidate is written into a judging prompt (the problem and the solution so far, then
//! a yes/no question), rendered with the judge's own chat template, and its score is
//! `P(yes) / (P(yes) + P(no))` for the next token, with `yes`/`no` each standing for the
//! first token of `yes`, `Yes`, ` yes`, ` Yes` (resp. `no`...) that the other word does not
//! also start with. A partial solution is judged
//! "so far", which makes the same judge a step scorer for search. Prompts are scored in
//! batches (`hicra_model::Generator::next_token_logprobs`: side by side on the host path, the
//! weights copied once per judge; padded on tensors); one longer than the judge's context
//! keeps its last tokens.

use std::sync::Arc;

use hicra_messages::{ChatMessage, Prompt};
use hicra_model::{Device, Generator, RuntimeBackend};
use hicra_train::TextCodec;

use crate::policy::EvalPolicy;
use crate::scorer::{Candidate, Scorer};
use crate::settings::ScorerName;

/// The judging prompt: `{question}` and `{solution}` are replaced.
pub const DEFAULT_TEMPLATE: &str = "Review the solution to the problem below.\n\n\
Problem: {question}\n\nSolution:\n{solution}\n\n\
Is the solution correct so far? Answer with yes or no.";

const YES: [&str; 4] = ["yes", "Yes", " yes", " Yes"];
const NO: [&str; 4] = ["no", "No", " no", " No"];

pub struct Judge {
    /// The judge's model, with its host copy made once when it takes the CPU path.
    model: Generator<RuntimeBackend>,
    codec: Arc<TextCodec>,
    device: Device,
    template: String,
    yes: Vec<u32>,
    no: Vec<u32>,
    /// Judging prompts per forward pass.
    batch: usize,
    /// The judge's checkpoint, for the summary.
    pub origin: String,
}

impl Judge {
    /// A judge from a policy-shaped model (any causal LM with a codec).
    pub fn new(
        judge: EvalPolicy,
        device: Device,
        template: Option<String>,
        batch: usize,
    ) -> Result<Self, String> {
        let template = template.unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
        if !template.contains("{solution}") {
            return Err("the judge template needs a {solution} placeholder".into());
        }
        let first_tokens = |words: &[&str]| {
            let mut ids: Vec<u32> = words
                .iter()
                .filter_map(|w| judge.codec.encode_response(w).ok())
                .filter_map(|ids| ids.first().copied())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let (yes, no) = (first_tokens(&YES), first_tokens(&NO));
        // a token both words start with (a lone space in a small vocabulary) tells nothing
        let (yes, no): (Vec<u32>, Vec<u32>) = (
            yes.iter().copied().filter(|t| !no.contains(t)).collect(),
            no.iter().copied().filter(|t| !yes.contains(t)).collect(),
        );
        if yes.is_empty() || no.is_empty() {
            return Err(format!(
                "the judge {} cannot tell `yes` from `no` with its tokenizer",
                judge.origin
            ));
        }
        let judge = Self {
            model: judge.generator,
            codec: judge.codec,
            device,
            template,
            yes,
            no,
            batch: batch.max(1),
            origin: judge.origin,
        };
        // the template itself must be writable in the judge's vocabulary
        let prompt = Prompt {
            task: "judge".into(),
            ..Prompt::new("template", "", "")
        };
        let empty = Candidate {
            prompt: &prompt,
            text: "",
            logprobs: &[],
            correct: None,
        };
        judge.prompt_ids(&empty).map_err(|e| {
            format!(
                "the judge {} cannot read its judging prompt: {e}",
                judge.origin
            )
        })?;
        Ok(judge)
    }

    fn prompt_ids(&self, candidate: &Candidate<'_>) -> Result<Vec<u32>, String> {
        let text = self
            .template
            .replace("{question}", &candidate.prompt.question)
            .replace("{solution}", candidate.text);
        let prompt = Prompt {
            task: "judge".into(),
            messages: vec![ChatMessage::new("user", text.clone())],
            ..Prompt::new(format!("judge/{}", candidate.prompt.id), text, "")
        };
        let mut ids = self.codec.encode_prompt(&prompt)?;
        let room = self.model.model().max_seq_len();
        if ids.len() > room {
            tracing::debug!(
                tokens = ids.len(),
                room,
                "judging prompt cut to its last tokens"
            );
            ids.drain(..ids.len() - room);
        }
        Ok(ids)
    }

    /// `P(yes) / (P(yes) + P(no))` per candidate.
    pub fn judge(&self, candidates: &[Candidate<'_>]) -> Result<Vec<f64>, String> {
        let prompts: Vec<Vec<u32>> = candidates
            .iter()
            .map(|c| self.prompt_ids(c))
            .collect::<Result<_, _>>()?;
        // similar lengths together: less padding per pass
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        order.sort_by_key(|&i| prompts[i].len());
        let words: Vec<u32> = self.yes.iter().chain(&self.no).copied().collect();
        let mut scores = vec![0.0; prompts.len()];
        for chunk in order.chunks(self.batch) {
            let refs: Vec<&[u32]> = chunk.iter().map(|&i| prompts[i].as_slice()).collect();
            let logprobs = self.model.next_token_logprobs(&refs, &words, &self.device);
            for (&i, row) in chunk.iter().zip(logprobs) {
                let (yes, no) = row.split_at(self.yes.len());
                scores[i] = yes_share(yes, no);
            }
        }
        Ok(scores)
    }
}

impl Scorer for Judge {
    fn name(&self) -> ScorerName {
        ScorerName::Judge
    }

    fn score(&self, candidates: &[Candidate<'_>]) -> Result<Vec<f64>, String> {
        self.judge(candidates)
    }
}

/// `sum exp(yes) / (sum exp(yes) + sum exp(no))`, computed stably.
fn yes_share(yes: &[f32], no: &[f32]) -> f64 {
    let lse = |xs: &[f32]| {
        let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            return f64::NEG_INFINITY;
        }
        f64::from(max)
            + xs.iter()
                .map(|&x| f64::from(x - max).exp())
                .sum::<f64>()
                .ln()
    };
    let (y, n) = (lse(yes), lse(no));
    if y == f64::NEG_INFINITY && n == f64::NEG_INFINITY {
        return 0.5;
    }
    1.0 / (1.0 + (n - y).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yes_share_normalises_over_yes_and_no() {
        let ln = |p: f32| p.ln();
        assert!((yes_share(&[ln(0.3)], &[ln(0.1)]) - 0.75).abs() < 1e-6);
        assert!((yes_share(&[ln(0.1), ln(0.2)], &[ln(0.3)]) - 0.5).abs() < 1e-6);
        assert_eq!(yes_share(&[f32::NEG_INFINITY], &[f32::NEG_INFINITY]), 0.5);
        assert!((yes_share(&[-1000.0], &[-2000.0]) - 1.0).abs() < 1e-12);
    }
}
