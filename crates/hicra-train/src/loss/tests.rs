//! The shared loss terms by hand: importance weights scale the policy term only, the KL
//! estimators, the entropy term's sign (bonus or penalty), and the parts adding up to the loss.

use burn::tensor::{Tensor, TensorData};
use hicra_model::RuntimeBackend;

use super::*;

fn t(v: &[f32]) -> Tensor<RuntimeBackend, 2> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [1, v.len()]),
        &hicra_model::cpu(),
    )
}

fn options() -> SurrogateOptions {
    SurrogateOptions {
        objective: Objective::default(),
        kl_coef: 0.0,
        kl_estimator: KlEstimator::K3,
        entropy_coef: 0.0,
    }
}

fn inputs(ratio: f32, adv: f32) -> SurrogateInputs<RuntimeBackend> {
    SurrogateInputs {
        logprobs: t(&[ratio.ln()]),
        old_logprobs: t(&[0.0]),
        advantages: t(&[adv]),
        mask: t(&[1.0]),
        weights: t(&[1.0]),
        entropies: Some(t(&[0.5])),
        ref_logprobs: None,
        importance: None,
    }
}

fn scalar(x: Option<Tensor<RuntimeBackend, 1>>) -> Option<f32> {
    x.map(Tensor::into_scalar)
}

#[test]
fn importance_weights_scale_the_policy_term_only() {
    let o = SurrogateOptions {
        entropy_coef: 0.1,
        ..options()
    };
    // r = 1, A = 2: policy -2, entropy bonus -0.05; weight 0.5 halves the policy part only
    let plain = surrogate(inputs(1.0, 2.0), &o).loss.into_scalar();
    let weighted = surrogate(
        SurrogateInputs {
            importance: Some(t(&[0.5])),
            ..inputs(1.0, 2.0)
        },
        &o,
    )
    .loss
    .into_scalar();
    assert!((plain - (-2.05)).abs() < 1e-6, "{plain}");
    assert!((weighted - (-1.05)).abs() < 1e-6, "{weighted}");
}

#[test]
fn kl_estimators_by_hand() {
    let o = SurrogateOptions {
        kl_coef: 1.0,
        ..options()
    };
    for (est, want) in [
        (KlEstimator::K1, 0.5f32),
        (KlEstimator::K2, 0.125),
        (KlEstimator::K3, (-0.5f32).exp() + 0.5 - 1.0),
    ] {
        let x = SurrogateInputs {
            logprobs: t(&[0.0]),
            ref_logprobs: Some(t(&[-0.5])),
            ..inputs(1.0, 0.0)
        };
        let got = surrogate(
            x,
            &SurrogateOptions {
                kl_estimator: est,
                ..o
            },
        )
        .loss
        .into_scalar();
        assert!((got - want).abs() < 1e-6, "{est:?}: {got}");
    }
}

/// `entropy_coef < 0` is a penalty: the loss grows by `|c| H` (it used to be ignored).
#[test]
fn a_negative_entropy_coef_is_a_penalty() {
    for (coef, want_term) in [(0.1f64, -0.05f32), (-0.1, 0.05), (0.0, 0.0)] {
        let o = SurrogateOptions {
            entropy_coef: coef,
            ..options()
        };
        // r = 1, A = 2: policy -2; H = 0.5
        let out = surrogate(inputs(1.0, 2.0), &o);
        let term = scalar(out.entropy_term);
        assert_eq!(term.is_some(), coef != 0.0, "{coef}");
        let term = term.unwrap_or(0.0);
        assert!((term - want_term).abs() < 1e-6, "{coef}: {term}");
        let loss = out.loss.into_scalar();
        assert!((loss - (-2.0 + want_term)).abs() < 1e-6, "{coef}: {loss}");
    }
}

/// `loss/policy` is the policy term alone; the KL and entropy terms are reported beside it
/// and the three add up to the loss that is differentiated.
#[test]
fn the_parts_add_up_to_the_loss() {
    let o = SurrogateOptions {
        kl_coef: 0.2,
        kl_estimator: KlEstimator::K1,
        entropy_coef: -0.1,
        ..options()
    };
    let x = SurrogateInputs {
        logprobs: t(&[0.0, -1.0]),
        old_logprobs: t(&[0.0, -1.0]),
        advantages: t(&[2.0, -1.0]),
        mask: t(&[1.0, 1.0]),
        weights: t(&[0.5, 0.5]),
        entropies: Some(t(&[0.5, 1.5])),
        ref_logprobs: Some(t(&[-0.5, -1.0])),
        importance: Some(t(&[0.5, 1.0])),
    };
    let out = surrogate(x, &o);
    // policy: 0.5 * (0.5 * -2 + 1 * 1) = 0; KL: 0.2 * 0.5 * (0.5 + 0) = 0.05;
    // entropy: 0.1 * 0.5 * (0.5 + 1.5) = 0.1
    let policy = out.policy.into_scalar();
    let kl = scalar(out.kl_term).unwrap();
    let entropy = scalar(out.entropy_term).unwrap();
    let loss = out.loss.into_scalar();
    assert!(policy.abs() < 1e-6, "{policy}");
    assert!((kl - 0.05).abs() < 1e-6, "{kl}");
    assert!((entropy - 0.1).abs() < 1e-6, "{entropy}");
    assert!((loss - (policy + kl + entropy)).abs() < 1e-6, "{loss}");
}
