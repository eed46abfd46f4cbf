//! CISPO (MiniMax-M1, arXiv:2506.13585): `loss_t = -sg(clip(r_t, 1 - eps_low, 1 + eps_high))
//! * A_t * logp_t`. The importance weight is clipped and held constant, so no token's
//! gradient is ever dropped (PPO's clip zeroes the gradient of clipped tokens, which in long
//! reasoning traces are often the rare, decisive ones); only its size is bounded.
//! The loss value is `w A logp`, not a ratio, so `loss/policy` is on another scale than PPO's.

use burn::tensor::backend::Backend;
use serde::Deserialize;

use super::{PolicyInputs, PolicyTerm};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cispo {
    /// Lower clip range of the weight, in [0, 1]; 1 = no lower bound (MiniMax-M1 sets
    /// none).
    pub eps_low: f64,
    /// Upper clip range: the weight is capped at `1 + eps_high`.
    pub eps_high: f64,
}

impl Default for Cispo {
    fn default() -> Self {
        Cispo {
            eps_low: 1.0,
            eps_high: 4.0,
        }
    }
}

impl Cispo {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.eps_low) {
            return Err(format!("eps_low must be in [0, 1], got {}", self.eps_low));
        }
        if !(self.eps_high >= 0.0 && self.eps_high.is_finite()) {
            return Err(format!("eps_high must be >= 0, got {}", self.eps_high));
        }
        Ok(())
    }

    pub fn policy_term<B: Backend>(&self, x: PolicyInputs<B>) -> PolicyTerm<B> {
        let (low, high) = (1.0 - self.eps_low, 1.0 + self.eps_high);
        let ratio = (x.logprobs.clone() - x.old_logprobs).exp().detach();
        let outside =
            ratio.clone().lower_elem(low).float() + ratio.clone().greater_elem(high).float();
        let weight = ratio.clamp(low, high);
        PolicyTerm {
            per_token: (weight * x.advantages * x.logprobs).neg(),
            clipped: outside * x.mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Objective;
    use crate::objective::oracle::{Batch, assert_close, run};

    #[test]
    fn clipped_weight_times_logprob_matches_the_reference() {
        let o = Cispo {
            eps_low: 0.2,
            eps_high: 0.5,
        };
        let b = Batch {
            logp: vec![vec![-0.5, -1.0, -2.0, -0.3], vec![-1.6, -0.4, 0.0, 0.0]],
            old: vec![vec![-1.5, -0.5, -2.1, -0.2], vec![-1.5, -2.9, 0.0, 0.0]],
            adv: vec![vec![1.0, -1.0, 2.0, -1.0], vec![0.5, -2.0, 0.0, 0.0]],
            len: vec![4, 2],
        };
        let (loss, clipped, grad) = run(&Objective::Cispo(o), &b);
        let mask = b.mask();
        let (mut want_loss, mut want_grad, mut want_clip) = (vec![], vec![], vec![]);
        for i in 0..2 {
            for t in 0..4 {
                let r = (b.logp[i][t] - b.old[i][t]).exp();
                let w = r.clamp(0.8, 1.5);
                let m = mask[i][t];
                want_loss.push(-w * b.adv[i][t] * b.logp[i][t] * m);
                // the weight is a constant: d/dlogp = -w A, on clipped tokens too
                want_grad.push(-w * b.adv[i][t] * m);
                want_clip.push(f64::from(u8::from(!(0.8..=1.5).contains(&r))) * m);
            }
        }
        assert_close("loss", &loss, &want_loss, 1e-5);
        assert_close("grad", &grad, &want_grad, 1e-5);
        assert_close("clipped", &clipped, &want_clip, 0.0);
        assert_eq!(want_clip, vec![1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert!(
            grad.iter()
                .zip(&want_clip)
                .all(|(g, c)| *c == 0.0 || g.abs() > 0.1),
            "clipped tokens keep their gradient"
        );
    }

    #[test]
    fn ranges_are_checked() {
        assert!(
            Cispo {
                eps_low: 1.1,
                eps_high: 4.0
            }
            .validate()
            .is_err()
        );
        assert!(
            Cispo {
                eps_low: 1.0,
                eps_high: -1.0
            }
            .validate()
            .is_err()
        );
        assert!(Cispo::default().validate().is_ok());
    }
}
