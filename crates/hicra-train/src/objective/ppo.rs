//! PPO's clipped surrogate per token (docs/formulas/objectives.md#the-clipped-surrogate-ppo):
//! `r = exp(logp - logp_old)`,
//! `loss = -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)`, with DAPO's clip-higher (separate
//! ranges) and the optional dual clip that bounds the loss of negative-advantage tokens at
//! `c |A|`. `clipped` (`pg_clipfrac`) marks every token whose gradient a clip removed: the
//! ratio clip's and the dual clip's.

use burn::tensor::backend::Backend;
use serde::Deserialize;

use super::{PolicyInputs, PolicyTerm, check_clip_range, clipped_surrogate};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ppo {
    /// Lower clip range of the ratio, in [0, 1).
    pub eps_low: f64,
    /// Upper clip range of the ratio (clip-higher), >= 0.
    pub eps_high: f64,
    /// Dual-clip constant c for negative advantages (0 = off, else > 1).
    pub dual_clip: f64,
}

impl Default for Ppo {
    fn default() -> Self {
        Ppo {
            eps_low: 0.2,
            eps_high: 0.28,
            dual_clip: 0.0,
        }
    }
}

impl Ppo {
    pub fn validate(&self) -> Result<(), String> {
        check_clip_range(self.eps_low, self.eps_high, 1.0)?;
        if !(self.dual_clip == 0.0 || self.dual_clip > 1.0) || !self.dual_clip.is_finite() {
            return Err(format!(
                "dual_clip must be 0 (off) or > 1, got {}",
                self.dual_clip
            ));
        }
        Ok(())
    }

    pub fn policy_term<B: Backend>(&self, x: PolicyInputs<B>) -> PolicyTerm<B> {
        let ratio = (x.logprobs - x.old_logprobs).exp();
        let mut term = clipped_surrogate(
            ratio,
            x.advantages.clone(),
            x.mask.clone(),
            self.eps_low,
            self.eps_high,
        );
        if self.dual_clip > 0.0 {
            let bound = x.advantages.clone() * (-self.dual_clip);
            let negative = x.advantages.lower_elem(0.0);
            // where the bound is below the loss it takes over: no gradient, counted as clipped
            let dual = term
                .per_token
                .clone()
                .greater(bound.clone())
                .bool_and(negative.clone());
            let capped = term.per_token.clone().min_pair(bound);
            term.per_token = term.per_token.mask_where(negative, capped);
            term.clipped = term.clipped.max_pair(dual.float() * x.mask);
        }
        term
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Objective;
    use crate::objective::oracle::{Batch, assert_close, run};

    /// The plain reference: per-token loss and d loss / d logp, by cases.
    fn reference(o: &Ppo, logp: f64, old: f64, a: f64) -> (f64, f64, bool) {
        let r = (logp - old).exp();
        let clipped_r = r.clamp(1.0 - o.eps_low, 1.0 + o.eps_high);
        let (mut loss, mut grad, clipped) = if clipped_r * a < r * a {
            (-clipped_r * a, 0.0, true)
        } else {
            (-r * a, -r * a, false)
        };
        if o.dual_clip > 0.0 && a < 0.0 && loss > -o.dual_clip * a {
            (loss, grad) = (-o.dual_clip * a, 0.0);
            return (loss, grad, true);
        }
        (loss, grad, clipped)
    }

    fn batch() -> Batch {
        // ratios e^{+-0.5}, e^{+-0.1}, e^{2.5}, advantages of both signs, one padded row
        Batch {
            logp: vec![
                vec![-0.5, -1.0, -2.0, -0.3],
                vec![-1.6, -0.4, 0.0, 0.0],
                vec![-0.2, -3.0, -0.9, -1.5],
            ],
            old: vec![
                vec![-1.0, -0.5, -2.1, -0.2],
                vec![-2.2, -2.9, 0.0, 0.0],
                vec![-0.2, -2.5, -1.0, -4.0],
            ],
            adv: vec![
                vec![1.0, 1.0, -1.0, -1.0],
                vec![0.5, -2.0, 0.0, 0.0],
                vec![2.0, -0.7, 1.3, -1.2],
            ],
            len: vec![4, 2, 4],
        }
    }

    fn check(o: Ppo) {
        let b = batch();
        let (loss, clipped, grad) = run(&Objective::Ppo(o), &b);
        let mask = b.mask();
        let (mut want_loss, mut want_grad, mut want_clip) = (vec![], vec![], vec![]);
        for i in 0..b.logp.len() {
            for t in 0..b.width() {
                let (l, g, c) = reference(&o, b.logp[i][t], b.old[i][t], b.adv[i][t]);
                want_loss.push(l * mask[i][t]);
                want_grad.push(g * mask[i][t]);
                want_clip.push(f64::from(u8::from(c)) * mask[i][t]);
            }
        }
        assert_close("loss", &loss, &want_loss, 1e-5);
        assert_close("grad", &grad, &want_grad, 1e-5);
        assert_close("clipped", &clipped, &want_clip, 0.0);
        assert!(
            want_clip.iter().sum::<f64>() >= 3.0,
            "the batch exercises the clip"
        );
    }

    #[test]
    fn clipped_surrogate_matches_the_reference() {
        check(Ppo::default());
        check(Ppo {
            eps_low: 0.1,
            eps_high: 0.1,
            dual_clip: 0.0,
        });
    }

    #[test]
    fn dual_clip_matches_the_reference() {
        check(Ppo {
            dual_clip: 3.0,
            ..Ppo::default()
        });
        // r = e^{2.5} with A = -1.2 would lose 14.6; the dual clip caps it at 3.6
        let o = Ppo {
            dual_clip: 3.0,
            ..Ppo::default()
        };
        assert!((reference(&o, -1.5, -4.0, -1.2).0 - 3.6).abs() < 1e-12);
    }

    /// `pg_clipfrac` counts the dual clip: the token with r = e^{2.5}, A = -1.2 (row 2, token
    /// 3) is unclipped by the ratio clip (the unclipped branch is the larger loss) and capped
    /// by the dual clip, so it has no gradient and counts as clipped; so does row 1's token 1
    /// (r = e^{2.5}, A = -2).
    #[test]
    fn dual_clipped_tokens_count_as_clipped() {
        let b = batch();
        let plain = run(&Objective::Ppo(Ppo::default()), &b);
        let dual = Ppo {
            dual_clip: 3.0,
            ..Ppo::default()
        };
        let (_, clipped, grad) = run(&Objective::Ppo(dual), &b);
        let at = 2 * b.width() + 3;
        assert_eq!((plain.1[at], clipped[at], grad[at]), (0.0, 1.0, 0.0));
        let count = |c: &[f64]| c.iter().sum::<f64>();
        assert_eq!(count(&clipped), count(&plain.1) + 2.0);
    }

    #[test]
    fn clip_higher_bounds_each_side_separately() {
        let o = Ppo::default();
        // -min(rA, clip(r)A): r=1.5,A=1 -> -1.28; r=1.5,A=-1 -> 1.5; r=.5,A=1 -> -.5; r=.5,A=-1 -> .8
        for (r, a, want) in [
            (1.5f64, 1.0, -1.28),
            (1.5, -1.0, 1.5),
            (0.5, 1.0, -0.5),
            (0.5, -1.0, 0.8),
        ] {
            assert!((reference(&o, r.ln(), 0.0, a).0 - want).abs() < 1e-12);
        }
    }

    #[test]
    fn ranges_are_checked() {
        let bad = [
            Ppo {
                eps_low: -0.1,
                ..Ppo::default()
            },
            Ppo {
                eps_low: 1.0,
                ..Ppo::default()
            },
            Ppo {
                eps_high: -1.0,
                ..Ppo::default()
            },
            Ppo {
                dual_clip: 0.5,
                ..Ppo::default()
            },
        ];
        for o in bad {
            assert!(o.validate().is_err(), "{o:?}");
        }
        assert!(Ppo::default().validate().is_ok());
    }
}
