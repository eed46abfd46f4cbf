//! `reward.shaping`: terms added to the verifier's reward, between the verifier and the
//! credit stage.
//!
//! - **Overlong penalty** (DAPO, Yu et al. 2025, eq. 13, "soft overlong punishment"): with
//!   `L = max_length` and `B = buffer`, a response of `n` tokens gets `0` when `n <= L - B`,
//!   `((L - B) - n) / B` inside the buffer, and `-1` beyond `L`, times `scale`. Truncated
//!   responses are penalised smoothly instead of being judged like finished ones.
//! - **Format reward**: `reward` added when every `required` string appears in the response in
//!   order (e.g. `["<think>", "</think>", "<answer>", "</answer>"]`), `missing` otherwise.
//!
//! Figures added to training batches: `shaping/overlong_frac`, `shaping/overlong_penalty`,
//! `shaping/format_frac`, `response_length/clip_frac` (share stopped by `max_new_tokens`),
//! `response_length/min` and `response_length/p50`. Evaluation batches pass untouched, so
//! held-out accuracy and reward stay the verifier's.

use hicra_flow::map::{self, Figures, MapLoop};
use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult,
};
use hicra_messages::{FinishReason, Rollout, RolloutBatch};
use serde::Deserialize;

/// DAPO's soft overlong punishment.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Overlong {
    /// Length (tokens) at and beyond which the penalty is the full `scale`.
    pub max_length: usize,
    /// Tokens before `max_length` over which the penalty ramps up from 0.
    pub buffer: usize,
    /// Size of the full penalty.
    #[serde(default = "Overlong::default_scale")]
    pub scale: f64,
}

impl Overlong {
    fn default_scale() -> f64 {
        1.0
    }
}

/// A bonus for responses that follow a required layout.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FormatReward {
    /// Strings that must all appear, in this order.
    pub required: Vec<String>,
    /// Added when they do.
    #[serde(default = "FormatReward::default_reward")]
    pub reward: f64,
    /// Added when they do not.
    #[serde(default)]
    pub missing: f64,
}

impl FormatReward {
    fn default_reward() -> f64 {
        0.1
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShapingConfig {
    /// DAPO's overlong penalty; off when absent.
    pub overlong: Option<Overlong>,
    /// A format reward; off when absent.
    pub format: Option<FormatReward>,
}

impl StageConfig for ShapingConfig {
    const KIND: &'static str = "reward.shaping";
    const SUMMARY: &'static str = "adds DAPO's soft overlong penalty and a format reward to the verifier's reward; length stats";
    const EXAMPLE: &'static str = r#"[stages.shaping]
kind = "reward.shaping"
inputs = { rollouts = "verifier.rollouts" }
# overlong = { max_length = 512, buffer = 128, scale = 1.0 }   # off when absent
# format = { required = ["\\boxed{"], reward = 0.1, missing = 0.0 }   # off when absent
"#;

    fn ports(&self) -> Ports {
        map::ports::<RolloutBatch>(
            "rollouts with verifier rewards",
            "the rollouts with shaped rewards",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        Invalid::of(self.validate())
    }

    fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        self.validate()?;
        Ok(Box::new(Shaping { config: self }))
    }
}

impl ShapingConfig {
    fn validate(&self) -> Result<(), String> {
        if let Some(o) = &self.overlong {
            if o.buffer == 0 || o.buffer > o.max_length {
                return Err(format!(
                    "overlong.buffer must be in 1..=max_length ({}), got {}",
                    o.max_length, o.buffer
                ));
            }
            if !o.scale.is_finite() || o.scale < 0.0 {
                return Err(format!("overlong.scale must be >= 0, got {}", o.scale));
            }
        }
        if let Some(f) = &self.format {
            if f.required.is_empty() || f.required.iter().any(String::is_empty) {
                return Err("format.required must list non-empty strings".into());
            }
            if !(f.reward.is_finite() && f.missing.is_finite()) {
                return Err("format rewards must be finite".into());
            }
        }
        Ok(())
    }
}

impl Overlong {
    /// The penalty (<= 0) for a response of `length` tokens.
    pub fn penalty(&self, length: usize) -> f64 {
        let free = self.max_length - self.buffer;
        let ramp = if length <= free {
            0.0
        } else if length <= self.max_length {
            (free as f64 - length as f64) / self.buffer as f64
        } else {
            -1.0
        };
        ramp * self.scale
    }
}

impl FormatReward {
    /// Whether every required string appears, in order.
    pub fn follows(&self, text: &str) -> bool {
        let mut rest = text;
        self.required
            .iter()
            .all(|needle| match rest.find(needle.as_str()) {
                Some(at) => {
                    rest = &rest[at + needle.len()..];
                    true
                }
                None => false,
            })
    }
}

pub struct Shaping {
    config: ShapingConfig,
}

fn length(r: &Rollout) -> usize {
    if r.tokens.is_empty() {
        r.text.len()
    } else {
        r.tokens.len()
    }
}

impl Shaping {
    /// Shapes the rewards of a training batch and adds the figures.
    pub fn step(&self, batch: &mut RolloutBatch) {
        if batch.eval || batch.num_rollouts() == 0 {
            return;
        }
        let (mut overlong, mut penalty, mut formatted, mut clipped) = (0usize, 0.0, 0usize, 0usize);
        let mut shaped_total = 0.0;
        let mut lengths = Vec::with_capacity(batch.num_rollouts());
        for r in batch.rollouts_mut() {
            let n = length(r);
            lengths.push(n);
            clipped += usize::from(r.finish == Some(FinishReason::Length));
            let mut extra = 0.0;
            if let Some(o) = &self.config.overlong {
                let p = o.penalty(n);
                overlong += usize::from(p < 0.0);
                penalty += p;
                extra += p;
            }
            if let Some(f) = &self.config.format {
                let ok = f.follows(&r.text);
                formatted += usize::from(ok);
                extra += if ok { f.reward } else { f.missing };
            }
            let shaped = r.reward.unwrap_or(0.0) + extra;
            r.reward = Some(shaped);
            shaped_total += shaped;
        }
        lengths.sort_unstable();
        let n = lengths.len() as f64;
        let m = &mut batch.metrics;
        if self.config.overlong.is_some() {
            m.insert("shaping/overlong_frac".into(), overlong as f64 / n);
            m.insert("shaping/overlong_penalty".into(), penalty / n);
        }
        if self.config.format.is_some() {
            m.insert("shaping/format_frac".into(), formatted as f64 / n);
        }
        m.insert("response_length/clip_frac".into(), clipped as f64 / n);
        m.insert("response_length/min".into(), lengths[0] as f64);
        m.insert(
            "response_length/p50".into(),
            lengths[lengths.len() / 2] as f64,
        );
        // the verifier's mean is of its rewards; the learner sees the shaped ones
        m.insert("reward/shaped_mean".into(), shaped_total / n);
    }
}

impl Stage for Shaping {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        MapLoop::new().run(ctx, |batch: &mut RolloutBatch| {
            self.step(batch);
            Ok(Figures::new())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hicra_messages::{Group, Prompt};

    fn batch(rollouts: Vec<Rollout>) -> RolloutBatch {
        RolloutBatch::new(0, vec![Group::new(Prompt::new("p", "q", "a"), rollouts)])
    }

    fn rollout(tokens: usize, text: &str, reward: f64) -> Rollout {
        Rollout {
            tokens: vec![1; tokens],
            text: text.into(),
            reward: Some(reward),
            finish: Some(if tokens >= 10 {
                FinishReason::Length
            } else {
                FinishReason::Stop
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_overlong_penalty_ramps_over_the_buffer() {
        let o = Overlong {
            max_length: 10,
            buffer: 4,
            scale: 1.0,
        };
        let got: Vec<f64> = [0, 6, 7, 8, 10, 11].iter().map(|&n| o.penalty(n)).collect();
        assert_eq!(got, [0.0, 0.0, -0.25, -0.5, -1.0, -1.0]);
    }

    #[test]
    fn shaping_adds_to_rewards_and_reports() {
        let config: ShapingConfig = toml::from_str(
            "overlong = { max_length = 10, buffer = 4, scale = 0.5 }\nformat = { required = [\"<a>\", \"</a>\"], reward = 0.25 }",
        )
        .unwrap();
        config.validate().unwrap();
        let stage = Shaping { config };
        let mut b = batch(vec![
            rollout(3, "<a>1</a>", 1.0),
            rollout(8, "</a><a>", 0.0),
            rollout(12, "<a>2</a>", 1.0),
        ]);
        stage.step(&mut b);
        let rewards: Vec<f64> = b.rollouts().map(|r| r.reward.unwrap()).collect();
        assert_eq!(rewards, [1.25, -0.25, 0.75]);
        assert_eq!(b.metrics["shaping/overlong_frac"], 2.0 / 3.0);
        assert_eq!(b.metrics["shaping/format_frac"], 2.0 / 3.0);
        assert_eq!(b.metrics["response_length/clip_frac"], 1.0 / 3.0);
        assert_eq!(b.metrics["response_length/p50"], 8.0);
        let mut eval = batch(vec![rollout(12, "", 1.0)]);
        eval.eval = true;
        stage.step(&mut eval);
        assert_eq!(eval.groups[0].rollouts[0].reward, Some(1.0));
    }

    #[test]
    fn bad_settings_are_refused() {
        for bad in [
            "overlong = { max_length = 10, buffer = 0 }",
            "overlong = { max_length = 10, buffer = 11 }",
            "overlong = { max_length = 10, buffer = 2, scale = -1.0 }",
            "format = { required = [] }",
        ] {
            let config: ShapingConfig = toml::from_str(bad).unwrap();
            assert!(config.validate().is_err(), "{bad}");
        }
    }
}
