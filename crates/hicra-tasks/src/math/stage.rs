//! `verifier.math`: rewards each rollout by whether its final answer equals the prompt's gold
//! answer (`Prompt.answer`) as mathematics, using [`MathChecker`].

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, refuse};
use serde::Deserialize;

use super::{Conventions, Limits, MathChecker};
use crate::scoring::{Rewards, Verifier, verifier_ports};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MathVerifierConfig {
    /// Rewards per verdict.
    pub rewards: Rewards,
    /// Take the last number of a response when it has no `\boxed{}`, "final answer is" or
    /// `####` marker.
    pub last_number_fallback: bool,
    /// Bounds on the work per answer (bytes, nesting depth, exponent, bits, milliseconds).
    pub limits: Limits,
    /// Readings where graders differ (percentages, case, numbers in `\text{}`, decimal
    /// places, irregular symbols); math-verify's by default.
    pub conventions: Conventions,
}

impl Default for MathVerifierConfig {
    fn default() -> Self {
        Self {
            rewards: Rewards::default(),
            last_number_fallback: true,
            limits: Limits::default(),
            conventions: Conventions::default(),
        }
    }
}

impl StageConfig for MathVerifierConfig {
    const KIND: &'static str = "verifier.math";
    const SUMMARY: &'static str = "reward = final answer (boxed / 'final answer is' / #### / last number) equals the gold answer as mathematics";
    const EXAMPLE: &'static str = r#"[stages.verifier]
kind = "verifier.math"
inputs = { rollouts = "sampler.rollouts" }
rewards = { correct = 1.0, wrong = 0.0, unparseable = 0.0 }
last_number_fallback = true
limits = { max_response_bytes = 65536, max_answer_bytes = 1000, max_depth = 64, max_exponent = 4096, max_bits = 16384, time_budget_ms = 200 }
conventions = { percent_equals_whole = true, ignore_case = true, number_in_text_is_text = true, decimal_places = 6, strict_symbols = false }
"#;

    fn ports(&self) -> Ports {
        verifier_ports(
            "sampled responses",
            "reward and accuracy of evaluation batches",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = self.rewards.problems();
        problems.extend(self.limits.validate().err().map(Invalid::whole));
        problems.extend(
            (self.conventions.validate().err())
                .map(|m| Invalid::new("conventions.decimal_places", m)),
        );
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        Ok(Box::new(MathVerifier {
            checker: self.checker(),
            rewards: self.rewards,
        }))
    }
}

impl MathVerifierConfig {
    /// The checker these settings describe.
    pub fn checker(&self) -> MathChecker {
        MathChecker {
            limits: self.limits.clone(),
            last_number_fallback: self.last_number_fallback,
            conventions: self.conventions.clone(),
        }
    }
}

/// The running `verifier.math`.
pub type MathVerifier = Verifier<MathChecker>;
