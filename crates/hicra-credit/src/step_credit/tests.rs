//! Oracles for step credit: node values and advantages of a hand-built tree worked out on
//! paper, a root-only tree against GRPO's own estimator, process returns written out by hand.

use std::sync::Arc;

use hicra_messages::{Group, Prompt, Rollout, RolloutBatch, StepReward, TreePath, TreeSegment};

use super::*;
use crate::assign::{CreditAssigner, ZeroVariance};
use crate::transform::Transform;

/// A leaf of `len` tokens through `segments` (node, start, end) with `reward`.
fn leaf(segments: &[(u32, u32, u32)], reward: f64) -> Rollout {
    let len = segments.last().map_or(0, |s| s.2) as usize;
    Rollout {
        tokens: vec![7; len],
        logprobs: vec![-1.0; len],
        entropies: vec![0.5; len],
        reward: Some(reward),
        tree: Some(TreePath {
            segments: segments
                .iter()
                .map(|&(node, start, end)| TreeSegment { node, start, end })
                .collect(),
        }),
        ..Default::default()
    }
}

fn batch(groups: Vec<Vec<Rollout>>) -> RolloutBatch {
    let groups = groups
        .into_iter()
        .enumerate()
        .map(|(g, rollouts)| Group::new(Arc::new(Prompt::new(format!("g{g}"), "", "")), rollouts))
        .collect();
    RolloutBatch::new(0, groups)
}

fn assigner(estimator: Estimator, step_credit: StepCredit) -> CreditAssigner {
    CreditAssigner {
        estimator,
        eps: 1e-6,
        transforms: vec![],
        zero_variance: ZeroVariance::Keep,
        step_credit: Some(step_credit),
    }
}

fn tree(advantage: TreeAdvantage) -> StepCredit {
    StepCredit::Tree {
        advantage,
        scale_by_leaves: false,
    }
}

/// The tree of the docs' example: node 1 (tokens 0..2) splits into 2 (2..4) and 3 (2..5);
/// node 2 splits into 5 (4..6) and 6 (4..5); node 4 (0..3) is a second root child.
fn hand_tree() -> Vec<Rollout> {
    vec![
        leaf(&[(1, 0, 2), (2, 2, 4), (5, 4, 6)], 1.0),
        leaf(&[(1, 0, 2), (3, 2, 5)], 0.0),
        leaf(&[(4, 0, 3)], 1.0),
        leaf(&[(1, 0, 2), (2, 2, 4), (6, 4, 5)], 0.0),
    ]
}

fn advantages(batch: &RolloutBatch) -> Vec<Vec<Vec<f64>>> {
    batch
        .groups
        .iter()
        .map(|g| {
            g.rollouts
                .iter()
                .map(|r| r.advantages.iter().map(|&a| f64::from(a)).collect())
                .collect()
        })
        .collect()
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn node_values_and_advantages_of_a_hand_built_tree() {
    // V(root) = 1/2, V(1) = 1/3, V(2) = 1/2, V(3) = 0, V(4) = 1, V(5) = 1, V(6) = 0
    let (a1, a2, a3, a4, a5, a6) = (-1.0 / 6.0, 1.0 / 6.0, -1.0 / 3.0, 0.5, 0.5, -0.5);
    let mut b = batch(vec![hand_tree()]);
    assigner(Estimator::Drgrpo, tree(TreeAdvantage::Local))
        .assign(&mut b)
        .unwrap();
    let got = advantages(&b);
    close(&got[0][0], &[a1, a1, a2, a2, a5, a5]);
    close(&got[0][1], &[a1, a1, a3, a3, a3]);
    close(&got[0][2], &[a4, a4, a4]);
    close(&got[0][3], &[a1, a1, a2, a2, a6]);

    // global: V(n) - 1/2; with grpo divided by the std of [1, 0, 1, 0] (Bessel: sqrt(1/3))
    let std = (1.0f64 / 3.0).sqrt() + 1e-6;
    let g = |v: f64| (v - 0.5) / std;
    let mut b = batch(vec![hand_tree()]);
    assigner(Estimator::Grpo, tree(TreeAdvantage::Global))
        .assign(&mut b)
        .unwrap();
    let got = advantages(&b);
    close(
        &got[0][1],
        &[g(1.0 / 3.0), g(1.0 / 3.0), g(0.0), g(0.0), g(0.0)],
    );
    close(
        &got[0][3],
        &[g(1.0 / 3.0), g(1.0 / 3.0), g(0.5), g(0.5), g(0.0)],
    );

    // local + global, each node scaled by 1/sqrt(its leaves): node 1 has 3, node 2 has 2
    let mut b = batch(vec![hand_tree()]);
    let credit = StepCredit::Tree {
        advantage: TreeAdvantage::LocalGlobal,
        scale_by_leaves: true,
    };
    assigner(Estimator::Drgrpo, credit).assign(&mut b).unwrap();
    let got = advantages(&b);
    let n1 = (a1 + (1.0 / 3.0 - 0.5)) / 3f64.sqrt();
    let n2 = (a2 + 0.0) / 2f64.sqrt();
    let n5 = a5 + 0.5;
    close(&got[0][0], &[n1, n1, n2, n2, n5, n5]);
}

#[test]
fn a_tree_branched_at_the_root_only_gives_grpo_advantages() {
    // independent leaves of unequal lengths in two groups (one of them zero-variance)
    let rewards = [vec![1.0, 0.0, 0.5, 0.0, 1.0], vec![0.3, 0.3, 0.3]];
    let lengths = [vec![3u32, 1, 4, 6, 2], vec![2, 5, 1]];
    let trees: Vec<Vec<Rollout>> = rewards
        .iter()
        .zip(&lengths)
        .map(|(r, l)| {
            r.iter()
                .zip(l)
                .enumerate()
                .map(|(i, (&r, &n))| leaf(&[(i as u32 * 10, 0, n)], r))
                .collect()
        })
        .collect();
    for estimator in [Estimator::Grpo, Estimator::Drgrpo] {
        for advantage in [TreeAdvantage::Local, TreeAdvantage::Global] {
            let mut with_tree = batch(trees.clone());
            assigner(estimator, tree(advantage))
                .assign(&mut with_tree)
                .unwrap();
            let mut plain = batch(trees.clone());
            CreditAssigner {
                step_credit: None,
                ..assigner(estimator, tree(advantage))
            }
            .assign(&mut plain)
            .unwrap();
            assert_eq!(advantages(&with_tree), advantages(&plain), "{estimator}");
            let direct = estimator
                .advantages(&rewards, &[vec![3, 1, 4, 6, 2], vec![2, 5, 1]], 1e-6)
                .unwrap();
            for (g, group) in with_tree.groups.iter().enumerate() {
                for (i, r) in group.rollouts.iter().enumerate() {
                    assert!(r.advantages.iter().all(|&a| a == direct[g][i] as f32));
                }
            }
        }
    }
}

#[test]
fn hicra_applies_on_top_of_tree_credit() {
    let mut rollouts = hand_tree();
    for r in &mut rollouts {
        let mut planning = vec![false; r.len()];
        planning[0] = true;
        r.masks.insert("planning".into(), planning);
    }
    let mut plain = batch(vec![rollouts.clone()]);
    assigner(Estimator::Drgrpo, tree(TreeAdvantage::Local))
        .assign(&mut plain)
        .unwrap();
    let mut hicra = batch(vec![rollouts]);
    CreditAssigner {
        transforms: vec![Transform::Hicra {
            alpha: 0.2,
            mask: "planning".into(),
        }],
        ..assigner(Estimator::Drgrpo, tree(TreeAdvantage::Local))
    }
    .assign(&mut hicra)
    .unwrap();
    for (p, h) in plain.groups[0]
        .rollouts
        .iter()
        .zip(&hicra.groups[0].rollouts)
    {
        let a = f64::from(p.advantages[0]);
        assert!((f64::from(h.advantages[0]) - (a + 0.2 * a.abs())).abs() < 1e-6);
        assert_eq!(p.advantages[1..], h.advantages[1..]);
    }
}

#[test]
fn inconsistent_or_missing_trees_are_errors_naming_the_rollout() {
    let mut disagree = hand_tree();
    disagree[3] = leaf(&[(1, 0, 3), (2, 3, 4)], 0.0);
    let err = assigner(Estimator::Grpo, tree(TreeAdvantage::Local))
        .assign(&mut batch(vec![disagree]))
        .unwrap_err();
    assert!(err.to_string().contains("rollout 3 of group `g0`"), "{err}");
    let mut missing = hand_tree();
    missing[1].tree = None;
    let err = assigner(Estimator::Grpo, tree(TreeAdvantage::Local))
        .assign(&mut batch(vec![missing]))
        .unwrap_err();
    assert!(err.to_string().contains("rollout 1 of group `g0`"), "{err}");
    assert!(
        tree(TreeAdvantage::Local)
            .validate(Estimator::Rloo)
            .is_err()
    );
}

/// A response of `len` tokens cut at `ends` with step `scores`.
fn scored(len: usize, ends: &[u32], scores: &[f64], reward: f64) -> Rollout {
    let mut start = 0;
    let step_rewards = ends
        .iter()
        .zip(scores)
        .map(|(&end, &score)| {
            let s = StepReward { start, end, score };
            start = end;
            s
        })
        .collect();
    Rollout {
        tokens: vec![3; len],
        logprobs: vec![-1.0; len],
        entropies: vec![0.5; len],
        reward: Some(reward),
        step_rewards,
        ..Default::default()
    }
}

#[test]
fn process_returns_sum_the_normalised_scores_of_later_steps() {
    // group: steps [0.9, 0.2 | 0.5] and [0.8]; mean 0.6, Bessel std of the four scores
    let scores = [0.9, 0.2, 0.5, 0.8];
    let mean = 0.6;
    let std = (scores.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / 3.0).sqrt();
    let r = |s: f64| (s - mean) / (std + 1e-6);
    let rollouts = vec![
        scored(5, &[2, 4, 5], &[0.9, 0.2, 0.5], 1.0),
        scored(3, &[3], &[0.8], 0.0),
    ];
    let process = |form, outcome| StepCredit::Process {
        form,
        normalise: StepNormalisation::Std,
        weight: 0.5,
        outcome,
    };
    let mut b = batch(vec![rollouts.clone()]);
    assigner(Estimator::Drgrpo, process(ProcessForm::Return, false))
        .assign(&mut b)
        .unwrap();
    let got = advantages(&b);
    let (t0, t1, t2) = (r(0.9) + r(0.2) + r(0.5), r(0.2) + r(0.5), r(0.5));
    close(
        &got[0][0],
        &[0.5 * t0, 0.5 * t0, 0.5 * t1, 0.5 * t1, 0.5 * t2],
    );
    close(&got[0][1], &[0.5 * r(0.8); 3]);

    // per step, beside the Dr. GRPO outcome advantage (+1/2, -1/2)
    let mut b = batch(vec![rollouts]);
    assigner(Estimator::Drgrpo, process(ProcessForm::Step, true))
        .assign(&mut b)
        .unwrap();
    let got = advantages(&b);
    let s = |x: f64, o: f64| o + 0.5 * r(x);
    close(
        &got[0][0],
        &[
            s(0.9, 0.5),
            s(0.9, 0.5),
            s(0.2, 0.5),
            s(0.2, 0.5),
            s(0.5, 0.5),
        ],
    );
    close(&got[0][1], &[s(0.8, -0.5); 3]);
}

#[test]
fn steps_that_do_not_cover_the_response_are_errors() {
    let mut gap = scored(5, &[2, 4], &[0.9, 0.2], 1.0);
    gap.step_rewards[1].start = 3;
    let credit = StepCredit::Process {
        form: ProcessForm::Return,
        normalise: StepNormalisation::Mean,
        weight: 1.0,
        outcome: true,
    };
    let err = assigner(Estimator::Grpo, credit.clone())
        .assign(&mut batch(vec![vec![scored(2, &[2], &[0.1], 0.0), gap]]))
        .unwrap_err();
    assert!(err.to_string().contains("rollout 1 of group `g0`"), "{err}");
    let none = scored(4, &[], &[], 1.0);
    let err = assigner(Estimator::Grpo, credit)
        .assign(&mut batch(vec![vec![none]]))
        .unwrap_err();
    assert!(err.to_string().contains("reward.process"), "{err}");
}
