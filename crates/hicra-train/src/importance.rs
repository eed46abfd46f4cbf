//! Importance correction between the sampler and the learner (docs/formulas/importance.md): the
//! sampler's
//! log-probs `mu` and the learner's own recomputation `pi_old` (same weights, possibly another
//! precision or a few versions later) differ, so the rollouts are slightly off-policy. Each
//! token's policy loss is multiplied by the constant weight `w = pi_old / mu` (token level) or
//! `exp(sum_t log pi_old - log mu)` (sequence level), truncated at `cap` (TIS) or set to 0
//! beyond it (MIS: the others keep their weight). A token masked by MIS leaves the loss as
//! padding does ([`Weights::kept`]): out of the token and response counts of the aggregation,
//! the KL and entropy terms and the clip statistics, so masking does not shrink the loss of
//! the tokens kept; a response with every token masked leaves the response count.
//!
//! Plain Rust over the rollouts' log-probs; the weights enter the loss as a tensor.

use serde::Deserialize;

/// `importance_correction = { level = "token", mode = "truncate", cap = 2.0 }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "Fields")]
pub struct ImportanceCorrection {
    pub level: Level,
    pub mode: Mode,
    pub cap: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// One weight per token.
    Token,
    /// One weight per response, the product of its tokens' ratios.
    Sequence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Weights above the cap become the cap.
    Truncate,
    /// Weights above the cap become 0 and the token or response leaves the loss, its
    /// denominators included, as padding.
    Mask,
}

/// The TOML table, checked into [`ImportanceCorrection`].
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Fields {
    /// `token` or `sequence`.
    level: Level,
    /// `truncate` or `mask`.
    mode: Mode,
    /// Largest weight kept, > 0.
    cap: f64,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            level: Level::Token,
            mode: Mode::Truncate,
            cap: 2.0,
        }
    }
}

impl TryFrom<Fields> for ImportanceCorrection {
    type Error = String;

    fn try_from(f: Fields) -> Result<Self, String> {
        if !(f.cap > 0.0 && f.cap.is_finite()) {
            return Err(format!(
                "importance_correction.cap must be a positive number, got {}",
                f.cap
            ));
        }
        Ok(ImportanceCorrection {
            level: f.level,
            mode: f.mode,
            cap: f.cap,
        })
    }
}

/// The weights of a batch and their statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// Per rollout, per token: the weight the policy loss is multiplied by.
    pub per_token: Vec<Vec<f32>>,
    /// Per rollout, per token: whether the token stays in the loss (false only where `mask`
    /// removed it).
    pub kept: Vec<Vec<bool>>,
    /// Mean of the applied weights over tokens (token level) or responses (sequence level);
    /// raw weights can overflow (a product over thousands of tokens), applied ones cannot.
    pub mean: f64,
    /// Share of those tokens or responses whose raw weight exceeded the cap.
    pub clipped_frac: f64,
}

impl ImportanceCorrection {
    /// Weights for rollouts with learner log-probs `old[i]` and sampler log-probs `mu[i]`.
    pub fn weights(&self, old: &[Vec<f32>], mu: &[Vec<f32>]) -> Weights {
        let limit = |w: f64| match (w > self.cap, self.mode) {
            (false, _) => w,
            (true, Mode::Truncate) => self.cap,
            (true, Mode::Mask) => 0.0,
        };
        let keeps = |w: f64| !(self.mode == Mode::Mask && w > self.cap);
        let (mut sum, mut over, mut units) = (0.0, 0usize, 0usize);
        let mut record = |w: f64| {
            (sum, units) = (sum + limit(w), units + 1);
            over += usize::from(w > self.cap);
        };
        let (per_token, kept): (Vec<Vec<f32>>, Vec<Vec<bool>>) = old
            .iter()
            .zip(mu)
            .map(|(old, mu)| {
                let logs = old
                    .iter()
                    .zip(mu)
                    .map(|(o, m)| f64::from(*o) - f64::from(*m));
                match self.level {
                    Level::Token => logs
                        .map(|d| {
                            let w = d.exp();
                            record(w);
                            (limit(w) as f32, keeps(w))
                        })
                        .unzip(),
                    Level::Sequence => {
                        let w = logs.sum::<f64>().exp();
                        record(w);
                        (vec![limit(w) as f32; old.len()], vec![keeps(w); old.len()])
                    }
                }
            })
            .unzip();
        let n = units.max(1) as f64;
        Weights {
            per_token,
            kept,
            mean: sum / n,
            clipped_frac: over as f64 / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn correction(level: Level, mode: Mode) -> ImportanceCorrection {
        ImportanceCorrection {
            level,
            mode,
            cap: 2.0,
        }
    }

    /// Learner vs sampler log-prob differences: ln 3 (over the cap), ln 0.5, 0; then ln 1.5.
    fn batch() -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let old = vec![
            vec![3f32.ln() - 1.0, 0.5f32.ln() - 2.0, -0.5],
            vec![1.5f32.ln() - 0.25],
        ];
        let mu = vec![vec![-1.0, -2.0, -0.5], vec![-0.25]];
        (old, mu)
    }

    fn close(a: &[Vec<f32>], b: &[Vec<f32>]) {
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn token_weights_truncate_or_mask_by_hand() {
        let (old, mu) = batch();
        let t = correction(Level::Token, Mode::Truncate).weights(&old, &mu);
        close(&t.per_token, &[vec![2.0, 0.5, 1.0], vec![1.5]]);
        assert!((t.mean - (2.0 + 0.5 + 1.0 + 1.5) / 4.0).abs() < 1e-5);
        assert!((t.clipped_frac - 0.25).abs() < 1e-12);
        let m = correction(Level::Token, Mode::Mask).weights(&old, &mu);
        close(&m.per_token, &[vec![0.0, 0.5, 1.0], vec![1.5]]);
        assert_eq!(m.kept, vec![vec![false, true, true], vec![true]]);
        assert_eq!(
            t.kept,
            vec![vec![true; 3], vec![true]],
            "truncation keeps every token"
        );
    }

    #[test]
    fn sequence_weights_are_the_product_of_token_ratios() {
        let (old, mu) = batch();
        // row 0: 3 * 0.5 * 1 = 1.5 (under the cap); row 1: 1.5
        let t = correction(Level::Sequence, Mode::Truncate).weights(&old, &mu);
        close(&t.per_token, &[vec![1.5; 3], vec![1.5]]);
        assert_eq!(t.clipped_frac, 0.0);
        let tight = ImportanceCorrection {
            cap: 1.2,
            ..correction(Level::Sequence, Mode::Mask)
        };
        let m = tight.weights(&old, &mu);
        close(&m.per_token, &[vec![0.0; 3], vec![0.0]]);
        assert_eq!(m.kept, vec![vec![false; 3], vec![false]]);
        assert_eq!(m.clipped_frac, 1.0);
    }

    #[test]
    fn long_sequences_do_not_overflow() {
        let old = vec![vec![0.0f32; 4000]];
        let mu = vec![vec![-0.5f32; 4000]];
        let w = correction(Level::Sequence, Mode::Truncate).weights(&old, &mu);
        assert_eq!(w.per_token[0][0], 2.0);
        assert_eq!((w.mean, w.clipped_frac), (2.0, 1.0));
    }

    #[test]
    fn the_cap_must_be_positive() {
        for cap in [0.0, -1.0, f64::NAN] {
            let f = Fields {
                level: Level::Token,
                mode: Mode::Truncate,
                cap,
            };
            assert!(ImportanceCorrection::try_from(f).is_err());
        }
    }
}
