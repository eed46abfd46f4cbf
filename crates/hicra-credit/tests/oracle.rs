//! Property tests: every estimator and transform against a naive reference written
//! independently from the formulas in hicra.md, on random batches.

use std::sync::Arc;

use hicra_credit::{CreditAssigner, Estimator, Transform, ZeroVariance};
use hicra_messages::{Group, Prompt, Rollout, RolloutBatch};
use proptest::prelude::*;

fn prompt(id: usize) -> Arc<Prompt> {
    Arc::new(Prompt {
        id: format!("g{id}"),
        task: "t".into(),
        question: String::new(),
        answer: String::new(),
        messages: vec![],
        meta: Default::default(),
        cursor: 0,
    })
}

#[derive(Debug, Clone)]
struct R {
    reward: f64,
    mask: Vec<bool>,
    entropy: Vec<f32>,
    correct: bool,
}

fn rollout_strategy() -> impl Strategy<Value = R> {
    (0usize..12).prop_flat_map(|n| {
        (
            prop_oneof![Just(0.0), Just(1.0), -2.0f64..2.0],
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(0.0f32..3.0, n),
            any::<bool>(),
        )
            .prop_map(|(reward, mask, entropy, correct)| R {
                reward,
                mask,
                entropy,
                correct,
            })
    })
}

fn batch_strategy() -> impl Strategy<Value = Vec<Vec<R>>> {
    proptest::collection::vec(proptest::collection::vec(rollout_strategy(), 1..6), 1..5)
}

fn to_batch(groups: &[Vec<R>]) -> RolloutBatch {
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
                    masks: [("planning".to_string(), r.mask.clone())].into(),
                    ..Default::default()
                })
                .collect(),
        })
        .collect();
    RolloutBatch {
        step: 0,
        policy_version: 0,
        groups,
        metrics: Default::default(),
        eval: false,
    }
}

/// Naive per-response advantages, straight from the formulas.
fn reference_response(e: Estimator, groups: &[Vec<R>], eps: f64) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| {
            let n = g.len() as f64;
            let mean = g.iter().map(|r| r.reward).sum::<f64>() / n;
            let var = if g.len() > 1 {
                g.iter().map(|r| (r.reward - mean).powi(2)).sum::<f64>() / (n - 1.0)
            } else {
                0.0
            };
            g.iter()
                .enumerate()
                .map(|(i, r)| match e {
                    Estimator::Grpo => (r.reward - mean) / (var.sqrt() + eps),
                    Estimator::Drgrpo | Estimator::ReinforcePp => r.reward - mean,
                    Estimator::Rloo => {
                        if g.len() == 1 {
                            0.0
                        } else {
                            let others: f64 = g
                                .iter()
                                .enumerate()
                                .filter(|(j, _)| *j != i)
                                .map(|(_, o)| o.reward)
                                .sum();
                            r.reward - others / (n - 1.0)
                        }
                    }
                })
                .collect()
        })
        .collect();
    if e == Estimator::ReinforcePp {
        let mut values = Vec::new();
        for (g, adv) in groups.iter().zip(&out) {
            for (r, a) in g.iter().zip(adv) {
                values.extend(std::iter::repeat_n(*a, r.mask.len()));
            }
        }
        if !values.is_empty() {
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                / values.len() as f64)
                .sqrt();
            out.iter_mut()
                .flatten()
                .for_each(|a| *a = (*a - mean) / (std + eps));
        }
    }
    out
}

fn reference_tokens(
    e: Estimator,
    transform: Option<&Transform>,
    groups: &[Vec<R>],
    eps: f64,
) -> Vec<Vec<Vec<f64>>> {
    let response = reference_response(e, groups, eps);
    let all_entropies: Vec<f32> = groups
        .iter()
        .flatten()
        .flat_map(|r| r.entropy.clone())
        .collect();
    groups
        .iter()
        .zip(&response)
        .map(|(g, adv)| {
            let mean_len = g.iter().map(|r| r.mask.len() as f64).sum::<f64>() / g.len() as f64;
            g.iter()
                .zip(adv)
                .map(|(r, &a)| {
                    (0..r.mask.len())
                        .map(|t| match transform {
                            None => a,
                            Some(Transform::Hicra { alpha, .. }) => {
                                if r.mask[t] {
                                    a + alpha * a.abs()
                                } else {
                                    a
                                }
                            }
                            Some(Transform::HicraAuthors {
                                alpha,
                                entropy_quantile,
                                ..
                            }) => {
                                let eligible = r.correct && r.mask.len() as f64 > mean_len;
                                // rank of token t among the response's entropies (ties: earlier first)
                                let k = (entropy_quantile * r.entropy.len() as f64).ceil() as usize;
                                let rank = r
                                    .entropy
                                    .iter()
                                    .enumerate()
                                    .filter(|(j, x)| {
                                        **x > r.entropy[t] || (**x == r.entropy[t] && *j < t)
                                    })
                                    .count();
                                if eligible && (r.mask[t] || rank < k) {
                                    a + alpha * a.abs()
                                } else {
                                    a
                                }
                            }
                            Some(Transform::EntropyMask { top_rho }) => {
                                let k = (top_rho * all_entropies.len() as f64).ceil() as usize;
                                let flat_index = groups
                                    .iter()
                                    .flatten()
                                    .take_while(|x| !std::ptr::eq(*x, r))
                                    .map(|x| x.mask.len())
                                    .sum::<usize>()
                                    + t;
                                let v = all_entropies[flat_index];
                                let rank = all_entropies
                                    .iter()
                                    .enumerate()
                                    .filter(|(j, x)| **x > v || (**x == v && *j < flat_index))
                                    .count();
                                if rank < k { a } else { 0.0 }
                            }
                            Some(Transform::Placebo { .. }) => {
                                unreachable!("placebo is hicra on another mask")
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn check(
    e: Estimator,
    transform: Option<Transform>,
    groups: &[Vec<R>],
) -> Result<(), TestCaseError> {
    let eps = 1e-6;
    let mut batch = to_batch(groups);
    let assigner = CreditAssigner {
        estimator: e,
        eps,
        transforms: transform.clone().into_iter().collect(),
        zero_variance: ZeroVariance::Keep,
    };
    assigner.assign(&mut batch).unwrap();
    let expected = reference_tokens(e, transform.as_ref(), groups, eps);
    for (g, group) in batch.groups.iter().enumerate() {
        for (i, r) in group.rollouts.iter().enumerate() {
            prop_assert_eq!(r.advantages.len(), expected[g][i].len());
            for (got, want) in r.advantages.iter().zip(&expected[g][i]) {
                prop_assert!(
                    (f64::from(*got) - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{:?} {:?}: got {} want {}",
                    e,
                    transform,
                    got,
                    want
                );
            }
        }
    }
    Ok(())
}

const ESTIMATORS: [Estimator; 4] = [
    Estimator::Grpo,
    Estimator::Drgrpo,
    Estimator::Rloo,
    Estimator::ReinforcePp,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn estimators_match_the_reference(groups in batch_strategy()) {
        for e in ESTIMATORS {
            check(e, None, &groups)?;
        }
    }

    #[test]
    fn hicra_matches_the_reference(groups in batch_strategy(), alpha in 0.0f64..0.99) {
        for e in ESTIMATORS {
            check(e, Some(Transform::Hicra { alpha, mask: "planning".into() }), &groups)?;
        }
    }

    #[test]
    fn authors_variant_matches_the_reference(groups in batch_strategy(), alpha in 0.0f64..0.99, q in 0.0f64..1.0) {
        let t = Transform::HicraAuthors { alpha, mask: "planning".into(), entropy_quantile: q };
        check(Estimator::Grpo, Some(t), &groups)?;
    }

    #[test]
    fn entropy_mask_matches_the_reference(groups in batch_strategy(), rho in 0.01f64..1.0) {
        check(Estimator::Drgrpo, Some(Transform::EntropyMask { top_rho: rho }), &groups)?;
    }

    #[test]
    fn hicra_never_flips_a_sign(groups in batch_strategy(), alpha in 0.0f64..0.99) {
        let mut plain = to_batch(&groups);
        let mut amplified = to_batch(&groups);
        let base = CreditAssigner { estimator: Estimator::Grpo, eps: 1e-6, transforms: vec![], zero_variance: ZeroVariance::Keep };
        let hicra = CreditAssigner { transforms: vec![Transform::Hicra { alpha, mask: "planning".into() }], ..base.clone() };
        base.assign(&mut plain).unwrap();
        hicra.assign(&mut amplified).unwrap();
        for (p, h) in plain.rollouts().zip(amplified.rollouts()) {
            for (a, b) in p.advantages.iter().zip(&h.advantages) {
                prop_assert!(a.signum() == b.signum() || *a == 0.0);
                prop_assert!(b.abs() >= a.abs() * (1.0 - alpha as f32) - 1e-6);
            }
        }
    }
}

#[test]
fn a_nan_reward_is_a_clear_error() {
    let mut batch = to_batch(&[vec![R {
        reward: f64::NAN,
        mask: vec![false],
        entropy: vec![0.0],
        correct: false,
    }]]);
    let a = CreditAssigner {
        estimator: Estimator::Grpo,
        eps: 1e-6,
        transforms: vec![],
        zero_variance: ZeroVariance::Keep,
    };
    let err = a.assign(&mut batch).unwrap_err().to_string();
    assert_eq!(err, "rollout 0 of group `g0` has a non-finite reward (NaN)");
}

#[test]
fn a_missing_reward_says_a_verifier_is_needed() {
    let mut batch = to_batch(&[vec![R {
        reward: 0.0,
        mask: vec![],
        entropy: vec![],
        correct: false,
    }]]);
    batch.groups[0].rollouts[0].reward = None;
    let a = CreditAssigner {
        estimator: Estimator::Rloo,
        eps: 0.0,
        transforms: vec![],
        zero_variance: ZeroVariance::Keep,
    };
    assert!(
        a.assign(&mut batch)
            .unwrap_err()
            .to_string()
            .contains("did a verifier run")
    );
}

#[test]
fn zero_variance_groups_are_counted_and_can_be_dropped() {
    let r = |reward| R {
        reward,
        mask: vec![false; 2],
        entropy: vec![0.0; 2],
        correct: false,
    };
    let groups = vec![vec![r(1.0), r(1.0)], vec![r(0.0), r(1.0)], vec![r(0.0)]];
    let mut batch = to_batch(&groups);
    let a = CreditAssigner {
        estimator: Estimator::Grpo,
        eps: 1e-6,
        transforms: vec![],
        zero_variance: ZeroVariance::Drop,
    };
    let report = a.assign(&mut batch).unwrap();
    assert_eq!(
        (
            report.groups,
            report.zero_variance_groups,
            report.dropped_groups
        ),
        (3, 2, 2)
    );
    assert_eq!(batch.groups.len(), 1);
    assert_eq!(batch.groups[0].prompt.id, "g1");
}

#[test]
fn empty_responses_get_empty_advantages() {
    let groups = vec![vec![
        R {
            reward: 1.0,
            mask: vec![],
            entropy: vec![],
            correct: true,
        },
        R {
            reward: 0.0,
            mask: vec![true],
            entropy: vec![1.0],
            correct: false,
        },
    ]];
    let mut batch = to_batch(&groups);
    let a = CreditAssigner {
        estimator: Estimator::Grpo,
        eps: 1e-6,
        transforms: vec![Transform::Hicra {
            alpha: 0.2,
            mask: "planning".into(),
        }],
        zero_variance: ZeroVariance::Keep,
    };
    a.assign(&mut batch).unwrap();
    assert!(batch.groups[0].rollouts[0].advantages.is_empty());
    assert_eq!(batch.groups[0].rollouts[1].advantages.len(), 1);
}
