//! Oracles through the learner's loss path ([`token_weights`], [`loss_mask`], [`surrogate`]),
//! with log-probs that require gradients:
//!
//! * GSPO under its own aggregation is the paper's sequence objective
//!   `J = (1/G) sum_i min(s_i A_i, clip(s_i) A_i)`, `s_i = exp(mean_t log(pi / pi_old))`, on
//!   rows of unequal length with padding: the loss is `-J` and `d loss / d logp` is `-dJ/dlogp`
//!   by central differences of `J` itself (not the per-token shortcut the code takes);
//! * tokens masked by importance sampling (MIS) give the loss and gradient of the same batch
//!   with those tokens removed (and responses with none left removed), for every aggregation
//!   and objective, with the KL and entropy terms on.

use burn::tensor::{Tensor, TensorData};
use hicra_model::RuntimeAutodiff;

use super::*;
use crate::importance::{ImportanceCorrection, Level, Mode};
use crate::objective::{Cispo, Gspo, Ppo};

type B = RuntimeAutodiff;

/// Rows padded to `width` with `pad`, as a `[rows, width]` tensor.
fn tensor(rows: &[Vec<f64>], width: usize, pad: f64) -> Tensor<B, 2> {
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| (0..width).map(move |t| r.get(t).copied().unwrap_or(pad) as f32))
        .collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), width]),
        &hicra_model::cpu(),
    )
}

fn values<T: Backend>(t: Tensor<T, 2>) -> Vec<f64> {
    let v: Vec<f32> = t.into_data().convert::<f32>().to_vec().unwrap();
    v.into_iter().map(f64::from).collect()
}

/// Per-row inputs of a batch (each row its response's length).
#[derive(Clone)]
struct Rows {
    logp: Vec<Vec<f64>>,
    old: Vec<Vec<f64>>,
    adv: Vec<Vec<f64>>,
    reference: Vec<Vec<f64>>,
    entropy: Vec<Vec<f64>>,
    importance: Option<Vec<Vec<f64>>>,
}

/// What the learner computes for `rows` with `kept` flags: the loss, its parts (policy, KL,
/// entropy) and `d loss / d logp` as `[rows, width]`.
fn learner_loss(
    rows: &Rows,
    kept: &[Vec<bool>],
    agg: LossAggregation,
    o: &SurrogateOptions,
    norm_length: usize,
) -> ([f64; 4], Vec<f64>, usize) {
    let width = rows.logp.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let counts: Vec<usize> = kept
        .iter()
        .map(|k| k.iter().filter(|&&x| x).count())
        .collect();
    let d = Denominators::new(&counts, norm_length);
    let n = rows.logp.len();
    let device = hicra_model::cpu();
    let weights = Tensor::from_data(
        TensorData::new(token_weights(agg, kept, width, &d), [n, width]),
        &device,
    );
    let mask = Tensor::from_data(TensorData::new(loss_mask(kept, width), [n, width]), &device);
    // padding and masked positions hold values that must not matter
    let logprobs = tensor(&rows.logp, width, -3.0).require_grad();
    let out = surrogate(
        SurrogateInputs {
            logprobs: logprobs.clone(),
            old_logprobs: tensor(&rows.old, width, -0.5),
            advantages: tensor(&rows.adv, width, 7.0),
            mask,
            weights,
            entropies: Some(tensor(&rows.entropy, width, 2.0)),
            ref_logprobs: Some(tensor(&rows.reference, width, 1.0)),
            importance: rows.importance.as_ref().map(|w| tensor(w, width, 5.0)),
        },
        o,
    );
    let part = |t: Option<Tensor<B, 1>>| t.map_or(0.0, |t| f64::from(t.into_scalar()));
    let parts = [
        f64::from(out.loss.clone().into_scalar()),
        part(Some(out.policy)),
        part(out.kl_term),
        part(out.entropy_term),
    ];
    let grads = out.loss.backward();
    let grad = values(logprobs.grad(&grads).expect("a gradient"));
    (parts, grad, width)
}

/// The paper's `-J` for sequences `logp[i]` (each its own length) with advantages `adv[i]`.
fn paper_loss(logp: &[Vec<f64>], old: &[Vec<f64>], adv: &[f64], g: &Gspo) -> f64 {
    let j: f64 = logp
        .iter()
        .zip(old)
        .zip(adv)
        .map(|((l, o), &a)| {
            let mean = l.iter().zip(o).map(|(x, y)| x - y).sum::<f64>() / l.len() as f64;
            let s = mean.exp();
            (s * a).min(s.clamp(1.0 - g.eps_low, 1.0 + g.eps_high) * a)
        })
        .sum();
    -j / logp.len() as f64
}

#[test]
fn gspo_is_the_papers_sequence_objective() {
    let g = Gspo::default();
    // sequence mean log-ratios 1e-4 (inside), 2e-3 (above, A > 0: clipped), -1e-3 (below,
    // A < 0: clipped), -1e-4 (inside), 1e-3 (above, A < 0: not clipped); lengths 3, 2, 3, 5, 4
    let logp = vec![
        vec![-1.0, -2.0, -0.5],
        vec![-0.3, -0.7],
        vec![-1.2, -0.8, -2.0],
        vec![-0.1, -0.2, -0.3, -0.4, -0.5],
        vec![-2.0, -1.0, -0.5, -0.25],
    ];
    let old = vec![
        vec![-1.0002, -2.0, -0.5001],
        vec![-0.303, -0.701],
        vec![-1.2, -0.797, -2.0],
        vec![-0.1, -0.2, -0.3, -0.4, -0.4995],
        vec![-2.002, -1.001, -0.5005, -0.2505],
    ];
    let adv = [0.8, 1.0, -0.5, -1.2, -0.7];
    let rows = Rows {
        adv: logp
            .iter()
            .zip(adv)
            .map(|(l, a)| vec![a; l.len()])
            .collect(),
        reference: logp.clone(),
        entropy: logp.clone(),
        logp: logp.clone(),
        old: old.clone(),
        importance: None,
    };
    let kept: Vec<Vec<bool>> = logp.iter().map(|l| vec![true; l.len()]).collect();
    let objective = Objective::Gspo(g);
    let o = SurrogateOptions {
        objective,
        kl_coef: 0.0,
        kl_estimator: KlEstimator::K3,
        entropy_coef: 0.0,
    };
    let ([loss, ..], grad, width) = learner_loss(&rows, &kept, objective.aggregation(), &o, 0);
    let want = paper_loss(&logp, &old, &adv, &g);
    assert!((loss - want).abs() < 1e-6, "loss {loss}, paper {want}");
    let h = 1e-6;
    for i in 0..logp.len() {
        for t in 0..width {
            let want = if t < logp[i].len() {
                let mut up = logp.clone();
                let mut down = logp.clone();
                up[i][t] += h;
                down[i][t] -= h;
                (paper_loss(&up, &old, &adv, &g) - paper_loss(&down, &old, &adv, &g)) / (2.0 * h)
            } else {
                0.0
            };
            let got = grad[i * width + t];
            assert!(
                (got - want).abs() < 1e-5,
                "d/dlogp[{i}][{t}]: got {got}, paper {want}"
            );
        }
    }
    // rows 1 and 2 are clipped as wholes; the others all have a gradient
    for (i, clipped) in [false, true, true, false, false].into_iter().enumerate() {
        let g0 = grad[i * width];
        assert_eq!(g0 == 0.0, clipped, "row {i}: {g0}");
    }
    // token-mean, the learner's default before GSPO brought its own, is not this objective
    let (token_mean, ..) = learner_loss(&rows, &kept, LossAggregation::TokenMean, &o, 0);
    assert!(
        (token_mean[0] - want).abs() > 1e-3,
        "{token_mean:?} vs {want}"
    );
}

/// A batch with the sampler's log-probs `mu` off from `old` so that some tokens' (or
/// sequences') importance weights exceed the cap of 2.
fn masked_batch() -> (Rows, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let logp = vec![
        vec![-1.0, -0.5, -2.0, -0.7],
        vec![-0.3, -1.1],
        vec![-0.9, -1.4, -0.2],
    ];
    let old = vec![
        vec![-1.1, -0.45, -2.3, -0.7],
        vec![-0.2, -1.0],
        vec![-1.0, -1.3, -0.25],
    ];
    // old - mu: token weights e^0.7, e^0.9 and e^0.8 exceed 2; sequence weights: row 0 e^1.7
    let gap = [
        vec![0.0, 0.7, 0.1, 0.9],
        vec![0.2, 0.1],
        vec![0.8, 0.0, -0.3],
    ];
    let mu: Vec<Vec<f32>> = old
        .iter()
        .zip(&gap)
        .map(|(o, g)| o.iter().zip(g).map(|(o, g)| (o - g) as f32).collect())
        .collect();
    let old32: Vec<Vec<f32>> = old
        .iter()
        .map(|r| r.iter().map(|&x| x as f32).collect())
        .collect();
    let rows = Rows {
        adv: vec![
            vec![1.0, 1.2, 1.0, 0.8],
            vec![-0.5, -0.5],
            vec![0.3, -0.2, 0.3],
        ],
        reference: vec![
            vec![-1.2, -0.4, -2.1, -0.9],
            vec![-0.35, -1.0],
            vec![-0.8, -1.5, -0.3],
        ],
        entropy: vec![
            vec![0.5, 1.0, 1.5, 0.2],
            vec![0.3, 0.9],
            vec![1.1, 0.4, 0.7],
        ],
        logp,
        old,
        importance: None,
    };
    (rows, old32, mu)
}

/// `rows` with only the `kept` tokens, and without the rows that keep none.
fn removed(rows: &Rows, kept: &[Vec<bool>]) -> Rows {
    let keep = |table: &[Vec<f64>]| -> Vec<Vec<f64>> {
        table
            .iter()
            .zip(kept)
            .filter(|(_, k)| k.contains(&true))
            .map(|(r, k)| {
                r.iter()
                    .zip(k)
                    .filter(|(_, k)| **k)
                    .map(|(x, _)| *x)
                    .collect()
            })
            .collect()
    };
    Rows {
        logp: keep(&rows.logp),
        old: keep(&rows.old),
        adv: keep(&rows.adv),
        reference: keep(&rows.reference),
        entropy: keep(&rows.entropy),
        importance: rows.importance.as_deref().map(keep),
    }
}

#[test]
fn masked_tokens_weigh_as_removed_tokens() {
    let objectives = [
        Objective::Ppo(Ppo::default()),
        Objective::Gspo(Gspo {
            eps_low: 0.05,
            eps_high: 0.05,
        }),
        Objective::Cispo(Cispo::default()),
    ];
    let aggregations = [
        LossAggregation::TokenMean,
        LossAggregation::SeqMeanTokenMean,
        LossAggregation::SeqMeanTokenSum,
        LossAggregation::SeqMeanTokenSumNorm,
    ];
    let (base, old, mu) = masked_batch();
    for level in [Level::Token, Level::Sequence] {
        let correction = ImportanceCorrection {
            level,
            mode: Mode::Mask,
            cap: 2.0,
        };
        let w = correction.weights(&old, &mu);
        let masked: usize = w.kept.iter().flatten().filter(|k| !**k).count();
        assert_eq!(masked, if level == Level::Token { 3 } else { 4 });
        let rows = Rows {
            importance: Some(
                w.per_token
                    .iter()
                    .map(|r| r.iter().map(|&x| f64::from(x)).collect())
                    .collect(),
            ),
            ..base.clone()
        };
        let short = removed(&rows, &w.kept);
        let all: Vec<Vec<bool>> = short.logp.iter().map(|r| vec![true; r.len()]).collect();
        for objective in objectives {
            for agg in aggregations {
                let o = SurrogateOptions {
                    objective,
                    kl_coef: 0.1,
                    kl_estimator: KlEstimator::K3,
                    entropy_coef: -0.05,
                };
                let what = format!("{level:?} {} {}", objective.name(), agg.name());
                let (parts, grad, width) = learner_loss(&rows, &w.kept, agg, &o, 6);
                let (want_parts, want_grad, short_width) = learner_loss(&short, &all, agg, &o, 6);
                for (p, (got, want)) in parts.iter().zip(want_parts).enumerate() {
                    assert!(
                        (got - want).abs() < 1e-6,
                        "{what} part {p}: {got} vs {want}"
                    );
                }
                // the gradient of each kept token is the removed batch's; masked tokens get none
                let mut short_row = 0;
                for (i, k) in w.kept.iter().enumerate() {
                    let mut short_t = 0;
                    for t in 0..width {
                        let got = grad[i * width + t];
                        let want = if k.get(t) == Some(&true) {
                            short_t += 1;
                            want_grad[short_row * short_width + short_t - 1]
                        } else {
                            0.0
                        };
                        assert!(
                            (got - want).abs() < 1e-6,
                            "{what} [{i}][{t}]: {got} vs {want}"
                        );
                    }
                    short_row += usize::from(short_t > 0);
                }
            }
        }
    }
}
