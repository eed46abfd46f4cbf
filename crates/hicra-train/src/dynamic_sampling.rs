//! `filter.dynamic_sampling`: DAPO's dynamic sampling (Yu et al., arXiv:2503.14476, §3.2).
//!
//! A group whose responses all earn the same reward has zero advantage under every group
//! baseline, so it spends compute and teaches nothing. This stage drops such groups and keeps
//! asking the sampler for more batches (fresh prompts from the source, same policy) until
//! `groups_per_step` informative groups are collected or `max_batches` generation batches were
//! spent; then it emits one training batch and asks for the next step's first batch.
//!
//! The asking goes through a keep-latest `demand` edge back to the sampler ([`SampleDemand`]):
//! the sampler generates batch `b` only once the demand covers it, and only with a policy of at
//! least `min_version`, so sampling stays on-policy however many refills a step takes. The
//! number of generation batches each step used is kept in the stage's state file, so a resumed
//! run tells the sampler how many batches' prompts to replay.

use std::collections::BTreeMap;

use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult, refuse,
};
use hicra_messages::{Group, RolloutBatch};
use serde::Deserialize;

/// What the dynamic-sampling filter asks of the sampler, on a keep-latest edge.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleDemand {
    /// Generation batches wanted since the start of the run (the sampler produces batches
    /// `0..batches`).
    pub batches: u64,
    /// Sample with a policy of at least this version (on-policy: the current training step).
    pub min_version: u64,
    /// On a resumed run, the batches already generated before the checkpoint: the sampler
    /// skips their prompts instead of sampling them.
    pub first_batch: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicSamplingConfig {
    /// Informative groups per training batch (usually the sampler's `prompts_per_step`).
    pub groups_per_step: usize,
    /// Most generation batches spent on one training batch; when they are used up the
    /// informative groups found so far are trained on (all groups if none).
    #[serde(default = "four")]
    pub max_batches: u64,
    /// Training batches to emit before the run ends (0 = until the sampler stops).
    #[serde(default)]
    pub steps: u64,
}

fn four() -> u64 {
    4
}

impl StageConfig for DynamicSamplingConfig {
    const KIND: &'static str = "filter.dynamic_sampling";
    const SUMMARY: &'static str =
        "DAPO dynamic sampling: drops zero-variance groups and refills from the source";
    const EXAMPLE: &'static str = r#"[stages.dynamic]
kind = "filter.dynamic_sampling"
inputs = { rollouts = "verifier.rollouts" }
groups_per_step = 8
max_batches = 4
steps = 0
"#;

    fn ports(&self) -> Ports {
        Ports::new()
            .input::<RolloutBatch>("rollouts", "verified generation batches")
            .output::<RolloutBatch>("rollouts", "training batches of informative groups")
            .output::<SampleDemand>("demand", "connect to the sampler's `demand` input")
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        [
            ("groups_per_step", self.groups_per_step as u64),
            ("max_batches", self.max_batches),
        ]
        .into_iter()
        .filter(|(_, v)| *v == 0)
        .map(|(field, _)| Invalid::new(field, format!("{field} must be at least 1")))
        .collect()
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let state_path = ctx.state_path();
        let batches_per_step: BTreeMap<u64, u64> = match &ctx.run.resume {
            Some(_) => hicra_flow::checkpoint::read_state(&state_path).ok_or_else(|| {
                format!(
                    "resuming needs {}, written by the interrupted run",
                    state_path.display()
                )
            })?,
            None => BTreeMap::new(),
        };
        let step = ctx.resume_step();
        let used: u64 = batches_per_step.range(..step).map(|(_, n)| n).sum();
        Ok(Box::new(DynamicSampling {
            config: self,
            state_path,
            batches_per_step,
            step,
            requested: used + 1,
            first_batch: used,
            kept: Vec::new(),
            spent: 0,
            dropped: 0,
        }))
    }
}

pub struct DynamicSampling {
    config: DynamicSamplingConfig,
    state_path: std::path::PathBuf,
    /// Generation batches each emitted step used (persisted for resuming).
    batches_per_step: BTreeMap<u64, u64>,
    /// The training step being filled.
    step: u64,
    /// Generation batches asked for so far.
    requested: u64,
    first_batch: u64,
    kept: Vec<Group>,
    /// Generation batches spent on the current step.
    spent: u64,
    dropped: usize,
}

/// A group teaches something when its rewards are not all equal.
pub fn informative(group: &Group) -> bool {
    let rewards: Vec<f64> = group
        .rollouts
        .iter()
        .map(|r| r.reward.unwrap_or(f64::NAN))
        .collect();
    rewards.iter().all(|r| r.is_finite()) && rewards.windows(2).any(|w| w[0] != w[1])
}

impl DynamicSampling {
    fn demand(&self) -> SampleDemand {
        SampleDemand {
            batches: self.requested,
            min_version: self.step,
            first_batch: self.first_batch,
        }
    }

    /// Takes one generation batch; returns a training batch when the step is complete.
    pub fn step(&mut self, batch: &RolloutBatch) -> Option<RolloutBatch> {
        self.spent += 1;
        let (useful, useless): (Vec<&Group>, Vec<&Group>) =
            batch.groups.iter().partition(|g| informative(g));
        self.dropped += useless.len();
        self.kept.extend(useful.into_iter().cloned());
        let full = self.kept.len() >= self.config.groups_per_step;
        if !full && self.spent < self.config.max_batches {
            self.requested += 1;
            return None;
        }
        let mut groups = std::mem::take(&mut self.kept);
        let exhausted = groups.is_empty();
        if exhausted {
            groups = batch.groups.clone();
        }
        groups.truncate(self.config.groups_per_step);
        let mut metrics = batch.metrics.clone();
        metrics.insert("dapo/generation_batches".into(), self.spent as f64);
        metrics.insert("dapo/dropped_groups".into(), self.dropped as f64);
        metrics.insert(
            "dapo/kept_groups".into(),
            if exhausted { 0.0 } else { groups.len() as f64 },
        );
        let out = RolloutBatch {
            step: self.step,
            policy_version: batch.policy_version,
            groups,
            metrics,
            eval: false,
        };
        self.batches_per_step.insert(self.step, self.spent);
        self.step += 1;
        self.requested += 1;
        self.spent = 0;
        self.dropped = 0;
        Some(out)
    }

    fn save_state(&self) {
        hicra_flow::checkpoint::write_state(&self.state_path, &self.batches_per_step);
    }
}

impl Stage for DynamicSampling {
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let input = ctx.input::<RolloutBatch>("rollouts");
        let out = ctx.output::<RolloutBatch>("rollouts");
        let demand = ctx.output::<SampleDemand>("demand");
        demand.send(self.demand())?;
        while let Some(batch) = input.recv() {
            if let Some(train) = self.step(&batch) {
                self.save_state();
                out.send(train)?;
                if self.config.steps > 0 && self.step >= self.config.steps {
                    return Ok(());
                }
            }
            demand.send(self.demand())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hicra_messages::{Prompt, Rollout};

    fn group(id: &str, rewards: &[f64]) -> Group {
        let rollouts = rewards
            .iter()
            .map(|&r| Rollout {
                reward: Some(r),
                ..Default::default()
            })
            .collect();
        Group::new(Prompt::new(id, "", ""), rollouts)
    }

    fn batch(groups: Vec<Group>) -> RolloutBatch {
        RolloutBatch::new(0, groups)
    }

    fn filter(groups_per_step: usize, max_batches: u64) -> DynamicSampling {
        DynamicSampling {
            config: DynamicSamplingConfig {
                groups_per_step,
                max_batches,
                steps: 0,
            },
            state_path: std::env::temp_dir().join("unused.json"),
            batches_per_step: BTreeMap::new(),
            step: 0,
            requested: 1,
            first_batch: 0,
            kept: Vec::new(),
            spent: 0,
            dropped: 0,
        }
    }

    #[test]
    fn refills_until_enough_informative_groups_then_trims() {
        let mut f = filter(2, 4);
        let first = batch(vec![group("a", &[1.0, 1.0]), group("b", &[0.0, 1.0])]);
        assert!(f.step(&first).is_none(), "one informative group of two");
        assert_eq!(f.demand().batches, 2, "a refill is asked for");
        assert_eq!(f.demand().min_version, 0, "with the same policy");
        let second = batch(vec![group("c", &[1.0, 0.0]), group("d", &[0.5, 0.0])]);
        let out = f.step(&second).expect("three informative groups >= 2");
        let ids: Vec<&str> = out.groups.iter().map(|g| g.prompt.id.as_str()).collect();
        assert_eq!(ids, vec!["b", "c"]);
        assert_eq!((out.step, out.metrics["dapo/generation_batches"]), (0, 2.0));
        assert_eq!(out.metrics["dapo/dropped_groups"], 1.0);
        assert_eq!((f.demand().batches, f.demand().min_version), (3, 1));
        assert_eq!(f.batches_per_step[&0], 2);
    }

    #[test]
    fn gives_up_after_max_batches() {
        let mut f = filter(2, 2);
        let flat = batch(vec![group("a", &[1.0, 1.0]), group("b", &[0.0, 0.0])]);
        assert!(f.step(&flat).is_none());
        let out = f.step(&flat).expect("the budget of two batches is spent");
        assert_eq!(
            out.groups.len(),
            2,
            "nothing informative: the last batch as it is"
        );
        assert_eq!(out.metrics["dapo/kept_groups"], 0.0);
        let mut g = filter(2, 2);
        g.step(&batch(vec![group("a", &[0.0, 1.0])]));
        let out = g.step(&flat).unwrap();
        assert_eq!(out.groups.len(), 1, "the one informative group found");
    }

    #[test]
    fn missing_or_non_finite_rewards_are_not_informative() {
        assert!(!informative(&group("a", &[f64::NAN, 1.0])));
        assert!(!informative(&group("a", &[2.0])));
        assert!(informative(&group("a", &[2.0, 1.0, 2.0])));
    }
}
