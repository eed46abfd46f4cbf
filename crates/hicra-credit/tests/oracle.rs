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
    placebo: Vec<bool>,
    entropy: Vec<f32>,
    correct: bool,
}

fn rollout_strategy() -> impl Strategy<Value = R> {
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

fn batch_strategy() -> impl Strategy<Value = Vec<Vec<R>>> {
    proptest::collection::vec(proptest::collection::vec(rollout_strategy(), 1..6), 1..5)
}

/// MaxRL is defined for rewards >= 0 only.
fn non_negative(groups: &[Vec<R>]) -> Vec<Vec<R>> {
    let mut g = groups.to_vec();
    g.iter_mut()
        .flatten()
        .for_each(|r| r.reward = r.reward.abs());
    g
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
    RolloutBatch {
        step: 0,
        policy_version: 0,
        groups,
        metrics: Default::default(),
        eval: false,
    }
}

fn all_equal(g: &[R]) -> bool {
    g.iter().all(|r| r.reward == g[0].reward)
}

/// Naive per-response advantages, straight from the formulas in hicra.md §2.
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
                .map(|(i, r)| {
                    if all_equal(g) {
                        return 0.0;
                    }
                    match e {
                        Estimator::Grpo => (r.reward - mean) / (var.sqrt() + eps),
                        Estimator::Drgrpo | Estimator::ReinforcePp => r.reward - mean,
                        Estimator::Maxrl => r.reward / mean - 1.0,
                        Estimator::Rloo => {
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
        // one value per token of the groups that carry a signal
        let mut values = Vec::new();
        for (g, adv) in groups.iter().zip(&out) {
            if !all_equal(g) {
                for (r, a) in g.iter().zip(adv) {
                    values.extend(std::iter::repeat_n(*a, r.mask.len()));
                }
            }
        }
        if !values.is_empty() {
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                / values.len() as f64)
                .sqrt();
            for (g, adv) in groups.iter().zip(out.iter_mut()) {
                if !all_equal(g) {
                    adv.iter_mut().for_each(|a| *a = (*a - mean) / (std + eps));
                }
            }
        }
    }
    out
}

/// Number of values strictly ahead of `values[t]` in a descending ranking (ties: earlier first).
fn rank(values: &[f32], t: usize) -> usize {
    values
        .iter()
        .enumerate()
        .filter(|(j, x)| **x > values[t] || (**x == values[t] && *j < t))
        .count()
}

fn hicra(a: f64, alpha: f64, tagged: bool) -> f64 {
    if tagged { a + alpha * a.abs() } else { a }
}

/// One transform applied token by token, naively, to `tokens[group][rollout][token]`.
fn reference_transform(t: &Transform, groups: &[Vec<R>], tokens: &mut [Vec<Vec<f64>>]) {
    let all_entropies: Vec<f32> = groups
        .iter()
        .flatten()
        .flat_map(|r| r.entropy.clone())
        .collect();
    let mut flat = 0;
    for (g, group) in groups.iter().enumerate() {
        let mean_len = group.iter().map(|r| r.mask.len() as f64).sum::<f64>() / group.len() as f64;
        for (i, r) in group.iter().enumerate() {
            for (tok, a) in tokens[g][i].iter_mut().enumerate() {
                *a = match t {
                    Transform::Hicra { alpha, .. } => hicra(*a, *alpha, r.mask[tok]),
                    Transform::Placebo { alpha, .. } => hicra(*a, *alpha, r.placebo[tok]),
                    Transform::HicraAuthors {
                        alpha,
                        entropy_quantile,
                        ..
                    } => {
                        let eligible = r.correct && r.mask.len() as f64 > mean_len;
                        let k = (entropy_quantile * r.entropy.len() as f64).ceil() as usize;
                        let high = rank(&r.entropy, tok) < k;
                        hicra(*a, *alpha, eligible && (r.mask[tok] || high))
                    }
                    Transform::EntropyMask { top_rho } => {
                        let k = (top_rho * all_entropies.len() as f64).ceil() as usize;
                        if rank(&all_entropies, flat) < k {
                            *a
                        } else {
                            0.0
                        }
                    }
                };
                flat += 1;
            }
        }
    }
}

fn reference_tokens(
    e: Estimator,
    transforms: &[Transform],
    groups: &[Vec<R>],
    eps: f64,
) -> Vec<Vec<Vec<f64>>> {
    let response = reference_response(e, groups, eps);
    let mut tokens: Vec<Vec<Vec<f64>>> = groups
        .iter()
        .zip(&response)
        .map(|(g, adv)| {
            g.iter()
                .zip(adv)
                .map(|(r, a)| vec![*a; r.mask.len()])
                .collect()
        })
        .collect();
    for t in transforms {
        reference_transform(t, groups, &mut tokens);
    }
    tokens
}

fn check(e: Estimator, transforms: &[Transform], groups: &[Vec<R>]) -> Result<(), TestCaseError> {
    let eps = 1e-6;
    let mut batch = to_batch(groups);
    let assigner = CreditAssigner {
        estimator: e,
        eps,
        transforms: transforms.to_vec(),
        zero_variance: ZeroVariance::Keep,
    };
    assigner.assign(&mut batch).unwrap();
    let expected = reference_tokens(e, transforms, groups, eps);
    for (g, group) in batch.groups.iter().enumerate() {
        for (i, r) in group.rollouts.iter().enumerate() {
            prop_assert_eq!(r.advantages.len(), expected[g][i].len());
            for (got, want) in r.advantages.iter().zip(&expected[g][i]) {
                prop_assert!(
                    (f64::from(*got) - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{:?} {:?}: got {} want {}",
                    e,
                    transforms,
                    got,
                    want
                );
            }
        }
    }
    Ok(())
}

/// Runs `check` for every estimator (MaxRL on the rewards made non-negative).
fn check_all(transforms: &[Transform], groups: &[Vec<R>]) -> Result<(), TestCaseError> {
    for e in Estimator::ALL {
        if e == Estimator::Maxrl {
            check(e, transforms, &non_negative(groups))?;
        } else {
            check(e, transforms, groups)?;
        }
    }
    Ok(())
}

fn transform_strategy() -> impl Strategy<Value = Transform> {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn estimators_match_the_reference(groups in batch_strategy()) {
        check_all(&[], &groups)?;
    }

    #[test]
    fn every_transform_matches_the_reference(groups in batch_strategy(), t in transform_strategy()) {
        check_all(&[t], &groups)?;
    }

    #[test]
    fn chains_of_transforms_apply_in_order(
        groups in batch_strategy(),
        chain in proptest::collection::vec(transform_strategy(), 2..4),
    ) {
        check_all(&chain, &groups)?;
    }

    #[test]
    fn all_equal_groups_get_zero_whatever_the_estimator(groups in batch_strategy(), fill in 0.0f64..3.0) {
        let mut groups = groups;
        groups[0].iter_mut().for_each(|r| r.reward = fill);
        for e in Estimator::ALL {
            let mut batch = to_batch(&non_negative(&groups));
            let a = CreditAssigner { estimator: e, eps: 1e-6, transforms: vec![], zero_variance: ZeroVariance::Keep };
            let report = a.assign(&mut batch).unwrap();
            prop_assert!(report.zero_variance_groups >= 1);
            prop_assert!(batch.groups[0].rollouts.iter().all(|r| r.advantages.iter().all(|x| *x == 0.0)));
        }
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
        placebo: vec![false],
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
        placebo: vec![],
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
        placebo: vec![false; 2],
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
            placebo: vec![],
            entropy: vec![],
            correct: true,
        },
        R {
            reward: 0.0,
            mask: vec![true],
            placebo: vec![false],
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

#[test]
fn a_misspelt_mask_is_a_clear_error_not_a_silent_no_op() {
    let mut batch = to_batch(&[vec![R {
        reward: 1.0,
        mask: vec![true],
        placebo: vec![false],
        entropy: vec![0.0],
        correct: true,
    }]]);
    let a = CreditAssigner {
        estimator: Estimator::Grpo,
        eps: 1e-6,
        transforms: vec![Transform::Hicra {
            alpha: 0.2,
            mask: "planing".into(),
        }],
        zero_variance: ZeroVariance::Keep,
    };
    let err = a.assign(&mut batch).unwrap_err().to_string();
    assert!(
        err.contains("no mask `planing` (masks present: placebo, planning)"),
        "{err}"
    );
}

#[test]
fn maxrl_with_a_negative_reward_is_a_clear_error() {
    let groups = vec![vec![
        R {
            reward: -1.0,
            mask: vec![],
            placebo: vec![],
            entropy: vec![],
            correct: false,
        },
        R {
            reward: 1.0,
            mask: vec![],
            placebo: vec![],
            entropy: vec![],
            correct: true,
        },
    ]];
    let a = CreditAssigner {
        estimator: Estimator::Maxrl,
        eps: 1e-6,
        transforms: vec![],
        zero_variance: ZeroVariance::Keep,
    };
    let err = a.assign(&mut to_batch(&groups)).unwrap_err().to_string();
    assert!(err.contains("maxrl needs rewards >= 0"), "{err}");
}
