//! `verifier.boxed`: the reward is whether the last `\boxed{...}` of a response (nested braces
//! allowed) equals the prompt's answer, compared after trimming whitespace. Strict and cheap:
//! the checker for tasks whose answers are exact strings (the quickstart's digit strings).

use hicra_flow::{BoxError, BuildContext, Ports, Stage, StageConfig, StageContext, StageResult};
use hicra_messages::{MetricsRecord, RolloutBatch};
use serde::Deserialize;

/// Most bytes of a response that are searched (longer responses are judged on their tail).
const MAX_SCAN_BYTES: usize = 1 << 20;

/// The content of the last balanced `\boxed{...}`, if any.
pub fn last_boxed(text: &str) -> Option<&str> {
    let start = text.len().saturating_sub(MAX_SCAN_BYTES);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let text = &text[start..];
    let mut found = None;
    let mut search = 0;
    while let Some(at) = text[search..].find("\\boxed{") {
        let open = search + at + "\\boxed{".len();
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(open + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        if let Some(end) = end {
            found = Some(&text[open..end]);
        }
        search = open;
    }
    found
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxedVerifierConfig {
    /// Reward of a correct answer. Default: 1.
    #[serde(default = "one")]
    pub correct_reward: f64,
    /// Reward of a wrong answer. Default: 0.
    #[serde(default)]
    pub wrong_reward: f64,
    /// Reward when no `\boxed{}` is found. Default: 0.
    #[serde(default)]
    pub unparseable_reward: f64,
}

fn one() -> f64 {
    1.0
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
        Ports::new()
            .input::<RolloutBatch>("rollouts", "sampled responses")
            .output::<RolloutBatch>("rollouts", "the responses with rewards")
            .output::<MetricsRecord>(
                "metrics",
                "reward and accuracy (evaluation batches report accuracy/eval)",
            )
    }

    fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        let finite = [
            self.correct_reward,
            self.wrong_reward,
            self.unparseable_reward,
        ]
        .iter()
        .all(|r| r.is_finite());
        if !finite {
            return Err("rewards must be finite numbers".into());
        }
        Ok(Box::new(self))
    }
}

impl BoxedVerifierConfig {
    /// Scores every rollout and adds reward/accuracy figures to the batch.
    pub fn step(&self, batch: &mut RolloutBatch) {
        let (mut total, mut correct, mut parsed, mut count) = (0.0, 0usize, 0usize, 0usize);
        for group in &mut batch.groups {
            let gold = group.prompt.answer.trim().to_string();
            for r in &mut group.rollouts {
                let answer = last_boxed(&r.text).map(str::trim);
                let ok = answer == Some(gold.as_str());
                let reward = match answer {
                    None => self.unparseable_reward,
                    Some(_) if ok => self.correct_reward,
                    Some(_) => self.wrong_reward,
                };
                r.reward = Some(reward);
                r.correct = Some(ok);
                total += reward;
                correct += usize::from(ok);
                parsed += usize::from(answer.is_some());
                count += 1;
            }
        }
        if count == 0 {
            return;
        }
        let n = count as f64;
        let (reward, accuracy) = if batch.eval {
            ("reward/eval_mean", "accuracy/eval")
        } else {
            ("reward/mean", "accuracy/train")
        };
        batch.metrics.insert(reward.into(), total / n);
        batch.metrics.insert(accuracy.into(), correct as f64 / n);
        batch.metrics.insert(
            if batch.eval {
                "format/eval_parsed_frac"
            } else {
                "format/parsed_frac"
            }
            .into(),
            parsed as f64 / n,
        );
    }
}

impl Stage for BoxedVerifierConfig {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let input = ctx.input::<RolloutBatch>("rollouts");
        let out = ctx.output::<RolloutBatch>("rollouts");
        let metrics = ctx.output::<MetricsRecord>("metrics");
        while let Some(mut batch) = input.recv_owned() {
            self.step(&mut batch);
            if batch.eval {
                metrics.send(MetricsRecord {
                    step: batch.step,
                    source: ctx.id().into(),
                    values: batch.metrics.clone(),
                })?;
            }
            out.send(batch)?;
        }
        Ok(())
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
