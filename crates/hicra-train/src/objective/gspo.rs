//! GSPO (Zheng et al., arXiv:2507.18071): one importance ratio per sequence,
//! `s_i = exp(mean_t(logp_t - logp_old_t))`, clipped with small epsilons (the paper's 3e-4 and
//! 4e-4). Token-level advantages (HICRA's) enter through GSPO-token's per-token form
//! `s_i,t = sg[s_i] * pi_t / sg[pi_t]`: its value is `s_i` on every token of the sequence, its
//! gradient `s_i * grad log pi_t`, so with one advantage per sequence it is exactly GSPO.
//! A sequence is clipped as a whole: when `s_i` leaves the range, every token of it whose
//! advantage pushes further out gets no gradient.
//!
//! The paper's objective is a mean over sequences, `(1/G) sum_i min(s_i A_i, clip(s_i) A_i)`:
//! the per-token form equals it under `seq-mean-token-mean` (weight `1 / (G |o_i|)` per
//! token), which is GSPO's own aggregation ([`super::Objective::aggregation`]); the learner
//! refuses any other, since token-mean weights sequence i by `|o_i| / T` and brings back the
//! length bias GSPO removes. The oracle against the sequence objective, through the learner's
//! weights and loss, is in `crate::loss::tests`.

use burn::tensor::backend::Backend;
use serde::Deserialize;

use super::{PolicyInputs, PolicyTerm, check_clip_range, clipped_surrogate};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gspo {
    /// Lower clip range of the sequence ratio, in [0, 1).
    pub eps_low: f64,
    /// Upper clip range of the sequence ratio, >= 0.
    pub eps_high: f64,
}

impl Default for Gspo {
    fn default() -> Self {
        Gspo {
            eps_low: 3e-4,
            eps_high: 4e-4,
        }
    }
}

impl Gspo {
    pub fn validate(&self) -> Result<(), String> {
        check_clip_range(self.eps_low, self.eps_high, 1.0)
    }

    pub fn policy_term<B: Backend>(&self, x: PolicyInputs<B>) -> PolicyTerm<B> {
        let lengths = x.mask.clone().sum_dim(1).clamp_min(1.0);
        let mean_log_ratio =
            ((x.logprobs.clone() - x.old_logprobs) * x.mask.clone()).sum_dim(1) / lengths;
        let sequence_ratio = mean_log_ratio.exp().detach();
        let own = (x.logprobs.clone() - x.logprobs.detach()).exp();
        let ratio = own * sequence_ratio;
        clipped_surrogate(ratio, x.advantages, x.mask, self.eps_low, self.eps_high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Objective;
    use crate::objective::oracle::{Batch, assert_close, run};

    /// Per-token loss, d loss / d logp_t and clip flag, from the sequence ratio by hand.
    fn reference(o: &Gspo, b: &Batch) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut loss, mut grad, mut clip) = (vec![], vec![], vec![]);
        for i in 0..b.logp.len() {
            let n = b.len[i];
            let s = ((0..n).map(|t| b.logp[i][t] - b.old[i][t]).sum::<f64>() / n as f64).exp();
            let cs = s.clamp(1.0 - o.eps_low, 1.0 + o.eps_high);
            for t in 0..b.width() {
                let a = b.adv[i][t];
                let (l, g, c) = match () {
                    _ if t >= n => (0.0, 0.0, 0.0),
                    _ if cs * a < s * a => (-cs * a, 0.0, 1.0),
                    _ => (-s * a, -s * a, 0.0),
                };
                loss.push(l);
                grad.push(g);
                clip.push(c);
            }
        }
        (loss, grad, clip)
    }

    fn batch(adv: Vec<Vec<f64>>) -> Batch {
        Batch {
            // sequence mean log-ratios: 1e-4 (inside), 2e-3 (above), -1e-3 (below)
            logp: vec![
                vec![-1.0, -2.0, -0.5],
                vec![-0.3, -0.7, 0.0],
                vec![-1.2, -0.8, -2.0],
            ],
            old: vec![
                vec![-1.0002, -2.0, -0.5001],
                vec![-0.303, -0.701, 0.0],
                vec![-1.2, -0.797, -2.0],
            ],
            adv,
            len: vec![3, 2, 3],
        }
    }

    #[test]
    fn sequence_ratio_and_gradients_match_the_reference() {
        let o = Gspo::default();
        // token-level advantages of mixed signs (HICRA amplifies some tokens)
        let b = batch(vec![
            vec![1.0, 1.2, -0.5],
            vec![1.0, -1.0, 0.0],
            vec![-2.0, 0.5, -2.4],
        ]);
        let (loss, clipped, grad) = run(&Objective::Gspo(o), &b);
        let (want_loss, want_grad, want_clip) = reference(&o, &b);
        assert_close("loss", &loss, &want_loss, 1e-5);
        assert_close("grad", &grad, &want_grad, 1e-5);
        assert_close("clipped", &clipped, &want_clip, 0.0);
        // row 1 is above the range: its positive-advantage token is clipped, the other not;
        // row 2 below it: its negative-advantage tokens are
        assert_eq!(&want_clip[3..6], &[1.0, 0.0, 0.0]);
        assert_eq!(&want_clip[6..9], &[1.0, 0.0, 1.0]);
    }

    /// With one advantage per sequence, the per-token form's gradient is GSPO's own:
    /// `d(-s_i A_i)/d logp_t = -s_i A_i / |o_i|` for an unclipped sequence.
    #[test]
    fn per_token_form_equals_sequence_gspo_for_sequence_advantages() {
        let o = Gspo::default();
        let b = batch(vec![vec![0.7; 3], vec![-0.4; 3], vec![0.9; 3]]);
        let (_, _, grad) = run(&Objective::Gspo(o), &b);
        let i = 0;
        let n = b.len[i];
        let s = ((0..n).map(|t| b.logp[i][t] - b.old[i][t]).sum::<f64>() / n as f64).exp();
        for t in 0..n {
            let per_token_form = grad[t] / n as f64;
            let sequence_form = -s * 0.7 / n as f64;
            assert!((per_token_form - sequence_form).abs() < 1e-6);
        }
    }

    #[test]
    fn ranges_are_checked() {
        assert!(
            Gspo {
                eps_low: 1.5,
                eps_high: 4e-4
            }
            .validate()
            .is_err()
        );
        assert!(
            Gspo {
                eps_low: 3e-4,
                eps_high: -4e-4
            }
            .validate()
            .is_err()
        );
        assert!(Gspo::default().validate().is_ok());
    }
}
