//! Group advantage estimators (docs/formulas/advantages.md#group-advantages): one scalar
//! advantage per response, computed from
//! the rewards of the G responses sampled for the same prompt.
//!
//! Every estimator gives exactly zero to a group whose rewards are all equal (it carries no
//! learning signal; [`is_zero_variance`] finds them so the caller can count or drop them).

use serde::Deserialize;

use crate::error::CreditError;

/// Which baseline and normalisation turn rewards into advantages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// `(R_i - mean) / (std + eps)`, std with Bessel's correction as in TRL and verl.
    Grpo,
    /// `R_i - mean` (Dr. GRPO: no std normalisation; the form the HICRA paper writes).
    Drgrpo,
    /// `R_i - mean_{j != i} R_j` (leave-one-out baseline).
    Rloo,
    /// `R_i - mean`, then `(A - mu) / (sigma + eps)` with `mu`, `sigma` taken over every
    /// response token of the batch (REINFORCE++ with baseline; token-weighted as in verl).
    /// (choice) Zero-variance groups stay at 0 and are left out of `mu` and `sigma`, which is
    /// what verl computes once DAPO's filter has removed them.
    ReinforcePp,
    /// `(R_i - mean) / mean` (MaxRL, Tajwar et al., arXiv:2602.02710): the sample gradient of
    /// `log p(success)` for 0/1 rewards, the mean over successes of `grad log pi`, with the
    /// zero-mean score baseline subtracted. Rewards must be >= 0; a group with mean 0 gets 0.
    Maxrl,
}

impl Estimator {
    /// Every estimator, in documentation order.
    pub const ALL: [Estimator; 5] = [
        Estimator::Grpo,
        Estimator::Drgrpo,
        Estimator::Rloo,
        Estimator::ReinforcePp,
        Estimator::Maxrl,
    ];

    /// The name used in TOML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Grpo => "grpo",
            Estimator::Drgrpo => "drgrpo",
            Estimator::Rloo => "rloo",
            Estimator::ReinforcePp => "reinforce_pp",
            Estimator::Maxrl => "maxrl",
        }
    }

    /// Parses a name as written in TOML (`grpo`, `drgrpo`, `rloo`, `reinforce_pp`, `maxrl`).
    pub fn from_name(name: &str) -> Result<Self, CreditError> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|e| e.name()).collect();
                CreditError::Config(format!(
                    "unknown estimator `{name}`; known: {}",
                    known.join(", ")
                ))
            })
    }

    /// Advantages of the responses of every group of a batch. `lengths[g][i]` is the number of
    /// response tokens of response `i` of group `g` (used by the batch-level whitening only).
    /// Rewards must be finite (see [`crate::assign::rewards`]).
    pub fn advantages(
        self,
        rewards: &[Vec<f64>],
        lengths: &[Vec<usize>],
        eps: f64,
    ) -> Result<Vec<Vec<f64>>, CreditError> {
        if self == Estimator::Maxrl {
            check_non_negative(rewards)?;
        }
        let mut out: Vec<Vec<f64>> = rewards
            .iter()
            .map(|g| {
                if is_zero_variance(g) {
                    vec![0.0; g.len()]
                } else {
                    self.group(g, eps)
                }
            })
            .collect();
        if self == Estimator::ReinforcePp {
            let informative: Vec<bool> = rewards.iter().map(|g| !is_zero_variance(g)).collect();
            whiten_by_tokens(&mut out, lengths, &informative, eps);
        }
        Ok(out)
    }

    /// One group with at least two distinct rewards.
    fn group(self, rewards: &[f64], eps: f64) -> Vec<f64> {
        let n = rewards.len() as f64;
        let total: f64 = rewards.iter().sum();
        let mean = total / n;
        match self {
            Estimator::Drgrpo | Estimator::ReinforcePp => {
                rewards.iter().map(|r| r - mean).collect()
            }
            Estimator::Grpo => {
                let std = sample_std(rewards, mean);
                rewards.iter().map(|r| (r - mean) / (std + eps)).collect()
            }
            Estimator::Rloo => rewards
                .iter()
                .map(|r| r - (total - r) / (n - 1.0))
                .collect(),
            Estimator::Maxrl if mean <= 0.0 => vec![0.0; rewards.len()],
            Estimator::Maxrl => rewards.iter().map(|r| (r - mean) / mean).collect(),
        }
    }
}

impl std::fmt::Display for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Standard deviation with Bessel's correction; 0 for fewer than two values.
pub fn sample_std(values: &[f64], mean: f64) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (ss / (values.len() - 1) as f64).sqrt()
}

/// Whether every reward of a group is the same (such a group carries no learning signal).
/// Groups of one and empty groups count as zero-variance.
pub fn is_zero_variance(rewards: &[f64]) -> bool {
    rewards.windows(2).all(|w| w[0] == w[1])
}

fn check_non_negative(rewards: &[Vec<f64>]) -> Result<(), CreditError> {
    for (group, g) in rewards.iter().enumerate() {
        if let Some(index) = g.iter().position(|r| *r < 0.0) {
            return Err(CreditError::Config(format!(
                "maxrl needs rewards >= 0 (a success probability), but rollout {index} of \
                 group {group} has {}",
                g[index]
            )));
        }
    }
    Ok(())
}

/// `(A - mu) / (sigma + eps)` on the groups marked `informative`, with `mu` and `sigma` the
/// token-weighted mean and (population) std of their advantages.
fn whiten_by_tokens(
    advantages: &mut [Vec<f64>],
    lengths: &[Vec<usize>],
    informative: &[bool],
    eps: f64,
) {
    let pairs = || {
        advantages
            .iter()
            .zip(lengths)
            .zip(informative)
            .filter(|(_, keep)| **keep)
            .flat_map(|((a, l), _)| a.iter().zip(l.iter()))
    };
    let tokens: usize = pairs().map(|(_, l)| *l).sum();
    if tokens == 0 {
        return;
    }
    let mean = pairs().map(|(a, l)| a * *l as f64).sum::<f64>() / tokens as f64;
    let var = pairs()
        .map(|(a, l)| (a - mean).powi(2) * *l as f64)
        .sum::<f64>()
        / tokens as f64;
    let scale = var.sqrt() + eps;
    for (group, keep) in advantages.iter_mut().zip(informative) {
        if *keep {
            // scale 0 (eps = 0, every token equal): nothing to tell apart, so no signal
            group.iter_mut().for_each(|a| {
                *a = if scale > 0.0 {
                    (*a - mean) / scale
                } else {
                    0.0
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    fn one_group(e: Estimator, rewards: &[f64]) -> Vec<f64> {
        let lengths = vec![vec![1; rewards.len()]];
        e.advantages(&[rewards.to_vec()], &lengths, 0.0)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn hand_computed_groups() {
        let r = [1.0, 0.0, 0.0, 1.0];
        // mean 0.5, sample std sqrt(1/3)
        let s = (1.0f64 / 3.0).sqrt();
        let grpo = one_group(Estimator::Grpo, &r);
        assert!(close(&grpo, &[0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s]));
        assert!(close(
            &one_group(Estimator::Drgrpo, &r),
            &[0.5, -0.5, -0.5, 0.5]
        ));
        // leave-one-out: 1 - 1/3, 0 - 2/3
        assert!(close(
            &one_group(Estimator::Rloo, &r),
            &[2.0 / 3.0, -2.0 / 3.0, -2.0 / 3.0, 2.0 / 3.0]
        ));
        // maxrl: one success in four, mean 0.25: (1 - 0.25) / 0.25 = 3, (0 - 0.25) / 0.25 = -1
        assert!(close(
            &one_group(Estimator::Maxrl, &[1.0, 0.0, 0.0, 0.0]),
            &[3.0, -1.0, -1.0, -1.0]
        ));
    }

    #[test]
    fn groups_of_one_and_equal_rewards_give_zero() {
        for e in Estimator::ALL {
            let lengths = [vec![5], vec![5; 3], vec![]];
            let rewards = [vec![3.0], vec![1.0; 3], vec![]];
            let a = e.advantages(&rewards, &lengths, 1e-6).unwrap();
            assert_eq!(a, vec![vec![0.0], vec![0.0; 3], vec![]], "{e}");
        }
        assert!(
            is_zero_variance(&[2.0, 2.0])
                && is_zero_variance(&[1.0])
                && !is_zero_variance(&[1.0, 0.0])
        );
    }

    #[test]
    fn reinforce_pp_whitens_over_the_tokens_of_informative_groups() {
        let r = vec![vec![1.0, 0.0], vec![0.0, 0.0], vec![2.0, 0.0, 1.0]];
        let l = vec![vec![3, 1], vec![2, 2], vec![1, 1, 2]];
        let a = Estimator::ReinforcePp.advantages(&r, &l, 0.0).unwrap();
        // centred: [0.5, -0.5], [0, 0] (left out), [1, -1, 0]; over 8 tokens:
        // mean = (1.5 - 0.5 + 1 - 1 + 0) / 8 = 0.125
        let mean = 0.125;
        let sq = |x: f64| (x - mean).powi(2);
        let var = (3.0 * sq(0.5) + sq(-0.5) + sq(1.0) + sq(-1.0) + 2.0 * sq(0.0)) / 8.0;
        let std = var.sqrt();
        assert!(close(&a[0], &[(0.5 - mean) / std, (-0.5 - mean) / std]));
        assert_eq!(a[1], vec![0.0, 0.0]);
        let w = |x: f64| (x - mean) / std;
        assert!(close(&a[2], &[w(1.0), w(-1.0), w(0.0)]));
    }

    #[test]
    fn reinforce_pp_without_eps_on_equal_token_values_gives_zero_not_nan() {
        // one informative group whose only tokens all carry the same advantage
        let a = Estimator::ReinforcePp
            .advantages(&[vec![1.0, 0.0]], &[vec![3, 0]], 0.0)
            .unwrap();
        assert_eq!(a, vec![vec![0.0, 0.0]]);
    }

    #[test]
    fn maxrl_refuses_negative_rewards_and_zero_mean_groups_get_zero() {
        let err = Estimator::Maxrl
            .advantages(&[vec![1.0, -1.0]], &[vec![1, 1]], 0.0)
            .unwrap_err();
        assert!(
            err.to_string().contains("maxrl needs rewards >= 0"),
            "{err}"
        );
        assert_eq!(one_group(Estimator::Maxrl, &[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn names_round_trip() {
        for e in Estimator::ALL {
            assert_eq!(Estimator::from_name(e.name()).unwrap(), e);
        }
        let err = Estimator::from_name("ppo").unwrap_err().to_string();
        assert!(
            err.contains("known: grpo, drgrpo, rloo, reinforce_pp, maxrl"),
            "{err}"
        );
    }
}
