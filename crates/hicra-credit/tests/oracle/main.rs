//! Property tests: every estimator and transform against a naive reference written
//! independently from the formulas in docs/formulas/advantages.md and docs/formulas/hicra.md,
//! on random batches ([`batches`] makes them, [`reference`] computes what the assigner must
//! give); [`edge_cases`] covers what random batches miss.

mod batches;
mod edge_cases;
mod reference;

use hicra_credit::{CreditAssigner, Estimator, Transform, ZeroVariance};
use proptest::prelude::*;

use batches::{R, batch_strategy, non_negative, to_batch, transform_strategy};
use reference::reference_tokens;

fn check(e: Estimator, transforms: &[Transform], groups: &[Vec<R>]) -> Result<(), TestCaseError> {
    let eps = 1e-6;
    let mut batch = to_batch(groups);
    let assigner = CreditAssigner {
        estimator: e,
        eps,
        transforms: transforms.to_vec(),
        zero_variance: ZeroVariance::Keep,
        step_credit: None,
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
            let a = CreditAssigner { estimator: e, eps: 1e-6, transforms: vec![], zero_variance: ZeroVariance::Keep, step_credit: None };
            let report = a.assign(&mut batch).unwrap();
            prop_assert!(report.zero_variance_groups >= 1);
            prop_assert!(batch.groups[0].rollouts.iter().all(|r| r.advantages.iter().all(|x| *x == 0.0)));
        }
    }

    #[test]
    fn hicra_never_flips_a_sign(groups in batch_strategy(), alpha in 0.0f64..0.99) {
        let mut plain = to_batch(&groups);
        let mut amplified = to_batch(&groups);
        let base = CreditAssigner { estimator: Estimator::Grpo, eps: 1e-6, transforms: vec![], zero_variance: ZeroVariance::Keep, step_credit: None };
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
