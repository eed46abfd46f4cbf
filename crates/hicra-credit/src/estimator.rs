//! Group advantage estimators (hicra.md §2): one scalar advantage per response, computed from
//! the rewards of the G responses sampled for the same prompt.

use serde::Deserialize;

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
    /// `R_i - mean`, then whitened over every response token of the batch (REINFORCE++ with
    /// baseline; token-weighted as in verl).
    ReinforcePp,
}

impl Estimator {
    /// Advantages of the responses of every group of a batch. `lengths[g][i]` is the number of
    /// response tokens of response `i` of group `g` (used by the batch-level whitening only).
    pub fn advantages(
        self,
        rewards: &[Vec<f64>],
        lengths: &[Vec<usize>],
        eps: f64,
    ) -> Vec<Vec<f64>> {
        let mut out: Vec<Vec<f64>> = rewards.iter().map(|g| self.group(g, eps)).collect();
        if self == Estimator::ReinforcePp {
            whiten_by_tokens(&mut out, lengths, eps);
        }
        out
    }

    fn group(self, rewards: &[f64], eps: f64) -> Vec<f64> {
        let n = rewards.len();
        if n == 0 {
            return Vec::new();
        }
        let mean = rewards.iter().sum::<f64>() / n as f64;
        match self {
            Estimator::Drgrpo | Estimator::ReinforcePp => {
                rewards.iter().map(|r| r - mean).collect()
            }
            Estimator::Grpo => {
                let std = sample_std(rewards, mean);
                rewards.iter().map(|r| (r - mean) / (std + eps)).collect()
            }
            Estimator::Rloo if n == 1 => vec![0.0],
            Estimator::Rloo => {
                let total: f64 = rewards.iter().sum();
                rewards
                    .iter()
                    .map(|r| r - (total - r) / (n - 1) as f64)
                    .collect()
            }
        }
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
pub fn is_zero_variance(rewards: &[f64]) -> bool {
    rewards.windows(2).all(|w| w[0] == w[1])
}

fn whiten_by_tokens(advantages: &mut [Vec<f64>], lengths: &[Vec<usize>], eps: f64) {
    let pairs = || {
        advantages
            .iter()
            .zip(lengths)
            .flat_map(|(a, l)| a.iter().zip(l.iter()))
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
    let std = var.sqrt();
    for a in advantages.iter_mut().flatten() {
        *a = (*a - mean) / (std + eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn hand_computed_groups() {
        let r = vec![vec![1.0, 0.0, 0.0, 1.0]];
        let l = vec![vec![1; 4]];
        // mean 0.5, sample std sqrt(1/3)
        let s = (1.0f64 / 3.0).sqrt();
        assert!(close(
            &Estimator::Grpo.advantages(&r, &l, 0.0)[0],
            &[0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s]
        ));
        assert!(close(
            &Estimator::Drgrpo.advantages(&r, &l, 0.0)[0],
            &[0.5, -0.5, -0.5, 0.5]
        ));
        // leave-one-out: 1 - 1/3, 0 - 2/3
        assert!(close(
            &Estimator::Rloo.advantages(&r, &l, 0.0)[0],
            &[2.0 / 3.0, -2.0 / 3.0, -2.0 / 3.0, 2.0 / 3.0]
        ));
    }

    #[test]
    fn groups_of_one_and_equal_rewards_give_zero() {
        for e in [Estimator::Grpo, Estimator::Drgrpo, Estimator::Rloo] {
            assert_eq!(e.advantages(&[vec![3.0]], &[vec![5]], 1e-6)[0], vec![0.0]);
            assert_eq!(
                e.advantages(&[vec![1.0; 3]], &[vec![5; 3]], 1e-6)[0],
                vec![0.0; 3]
            );
        }
        assert!(
            is_zero_variance(&[2.0, 2.0])
                && is_zero_variance(&[1.0])
                && !is_zero_variance(&[1.0, 0.0])
        );
    }

    #[test]
    fn reinforce_pp_whitens_over_tokens() {
        let r = vec![vec![1.0, 0.0], vec![0.0, 0.0]];
        let l = vec![vec![3, 1], vec![2, 2]];
        let a = Estimator::ReinforcePp.advantages(&r, &l, 0.0);
        // before whitening: [0.5, -0.5], [0, 0]; token mean = (1.5 - 0.5) / 8 = 0.125
        let mean = 0.125;
        let var =
            (3.0 * (0.5f64 - mean).powi(2) + (-0.5f64 - mean).powi(2) + 4.0 * mean * mean) / 8.0;
        let std = var.sqrt();
        assert!(close(&a[0], &[(0.5 - mean) / std, (-0.5 - mean) / std]));
        assert!(close(&a[1], &[-mean / std, -mean / std]));
    }
}
