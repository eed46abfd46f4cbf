//! Edge cases the random batches rarely or never produce: non-finite and missing rewards,
//! zero-variance groups, empty responses, misspelt masks, MaxRL's domain.

use hicra_credit::{CreditAssigner, Estimator, Transform, ZeroVariance};

use crate::batches::{R, to_batch};

/// An assigner of `estimator` (eps 1e-6) with `transforms`, zero-variance groups kept.
fn assigner(estimator: Estimator, transforms: Vec<Transform>) -> CreditAssigner {
    CreditAssigner {
        estimator,
        eps: 1e-6,
        transforms,
        zero_variance: ZeroVariance::Keep,
        step_credit: None,
    }
}

/// HICRA at alpha 0.2 on the mask `mask`.
fn hicra(mask: &str) -> Transform {
    Transform::Hicra {
        alpha: 0.2,
        mask: mask.into(),
    }
}

#[test]
fn a_nan_reward_is_a_clear_error() {
    let mut batch = to_batch(&[vec![R::new(f64::NAN, 1, false)]]);
    let a = assigner(Estimator::Grpo, vec![]);
    let err = a.assign(&mut batch).unwrap_err().to_string();
    assert_eq!(err, "rollout 0 of group `g0` has a non-finite reward (NaN)");
}

#[test]
fn a_missing_reward_says_a_verifier_is_needed() {
    let mut batch = to_batch(&[vec![R::new(0.0, 0, false)]]);
    batch.groups[0].rollouts[0].reward = None;
    let a = CreditAssigner {
        eps: 0.0,
        ..assigner(Estimator::Rloo, vec![])
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
    let r = |reward| R::new(reward, 2, false);
    let groups = vec![vec![r(1.0), r(1.0)], vec![r(0.0), r(1.0)], vec![r(0.0)]];
    let mut batch = to_batch(&groups);
    let a = CreditAssigner {
        zero_variance: ZeroVariance::Drop,
        ..assigner(Estimator::Grpo, vec![])
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
        R::new(1.0, 0, true),
        R {
            mask: vec![true],
            entropy: vec![1.0],
            ..R::new(0.0, 1, false)
        },
    ]];
    let mut batch = to_batch(&groups);
    let a = assigner(Estimator::Grpo, vec![hicra("planning")]);
    a.assign(&mut batch).unwrap();
    assert!(batch.groups[0].rollouts[0].advantages.is_empty());
    assert_eq!(batch.groups[0].rollouts[1].advantages.len(), 1);
}

#[test]
fn a_misspelt_mask_is_a_clear_error_not_a_silent_no_op() {
    let mut batch = to_batch(&[vec![R {
        mask: vec![true],
        ..R::new(1.0, 1, true)
    }]]);
    let a = assigner(Estimator::Grpo, vec![hicra("planing")]);
    let err = a.assign(&mut batch).unwrap_err().to_string();
    assert!(
        err.contains("no mask `planing` (masks present: placebo, planning)"),
        "{err}"
    );
}

#[test]
fn maxrl_with_a_negative_reward_is_a_clear_error() {
    let groups = vec![vec![R::new(-1.0, 0, false), R::new(1.0, 0, true)]];
    let a = assigner(Estimator::Maxrl, vec![]);
    let err = a.assign(&mut to_batch(&groups)).unwrap_err().to_string();
    assert!(err.contains("maxrl needs rewards >= 0"), "{err}");
}
