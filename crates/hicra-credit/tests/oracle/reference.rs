//! The naive reference, written independently from the formulas in docs/formulas/advantages.md
//! and docs/formulas/hicra.md: per-response
//! advantages of every estimator, then each transform applied token by token.

use hicra_credit::{Estimator, Transform};

use crate::batches::R;

fn all_equal(g: &[R]) -> bool {
    g.iter().all(|r| r.reward == g[0].reward)
}

/// Naive per-response advantages, straight from docs/formulas/advantages.md#group-advantages.
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

pub fn reference_tokens(
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
