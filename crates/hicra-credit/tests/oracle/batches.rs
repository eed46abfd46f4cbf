//! Random batches for the oracles: rollouts with a reward, a planning mask, a placebo mask,
//! token entropies and a correctness flag, grouped per prompt; and random transforms.

use std::sync::Arc;

use hicra_credit::Transform;
use hicra_messages::{Group, Prompt, Rollout, RolloutBatch};
use proptest::prelude::*;

fn prompt(id: usize) -> Arc<Prompt> {
    Arc::new(Prompt::new(format!("g{id}"), "", ""))
}

#[derive(Debug, Clone)]
pub struct R {
    pub reward: f64,
    pub mask: Vec<bool>,
    pub placebo: Vec<bool>,
    pub entropy: Vec<f32>,
    pub correct: bool,
}

impl R {
    /// `len` execution tokens of entropy 0 (no planning or placebo token).
    pub fn new(reward: f64, len: usize, correct: bool) -> Self {
        Self {
            reward,
            mask: vec![false; len],
            placebo: vec![false; len],
            entropy: vec![0.0; len],
            correct,
        }
    }
}

pub fn rollout_strategy() -> impl Strategy<Value = R> {
    (0usize..12).prop_flat_map(|n| {
        (
            prop_oneof![Just(0.0), Just(1.0), 0.0f64..2.0, -2.0f64..0.0],
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(any::<bool>(), n),
            // few distinct values, so ties in the entropy ranking are exercised
            proptest::collection::vec(prop_oneof![Just(0.5f32), 0.0f32..3.0], n),
            any::<bool>(),
        )
            .prop_map(|(reward, mask, placebo, entropy, correct)| R {
                reward,
                mask,
                placebo,
                entropy,
                correct,
            })
    })
}

pub fn batch_strategy() -> impl Strategy<Value = Vec<Vec<R>>> {
    proptest::collection::vec(proptest::collection::vec(rollout_strategy(), 1..6), 1..5)
}

/// MaxRL is defined for rewards >= 0 only.
pub fn non_negative(groups: &[Vec<R>]) -> Vec<Vec<R>> {
    let mut g = groups.to_vec();
    g.iter_mut()
        .flatten()
        .for_each(|r| r.reward = r.reward.abs());
    g
}

pub fn to_batch(groups: &[Vec<R>]) -> RolloutBatch {
    let groups = groups
        .iter()
        .enumerate()
        .map(|(g, rs)| Group {
            prompt: prompt(g),
            rollouts: rs
                .iter()
                .map(|r| Rollout {
                    tokens: vec![0; r.mask.len()],
                    entropies: r.entropy.clone(),
                    reward: Some(r.reward),
                    correct: Some(r.correct),
                    masks: [
                        ("planning".to_string(), r.mask.clone()),
                        ("placebo".to_string(), r.placebo.clone()),
                    ]
                    .into(),
                    ..Default::default()
                })
                .collect(),
        })
        .collect();
    RolloutBatch::new(0, groups)
}

pub fn transform_strategy() -> impl Strategy<Value = Transform> {
    prop_oneof![
        (0.0f64..0.99).prop_map(|alpha| Transform::Hicra {
            alpha,
            mask: "planning".into()
        }),
        (0.0f64..0.99).prop_map(|alpha| Transform::Placebo {
            alpha,
            mask: "placebo".into()
        }),
        (0.0f64..0.99, 0.0f64..=1.0).prop_map(|(alpha, q)| Transform::HicraAuthors {
            alpha,
            mask: "planning".into(),
            entropy_quantile: q
        }),
        (0.01f64..=1.0).prop_map(|top_rho| Transform::EntropyMask { top_rho }),
    ]
}
