//! Policy objectives: how a token's log-probability, its log-probability when the rollout was
//! made (`old`) and its advantage become a per-token loss (docs/formulas/objectives.md).
//!
//! Each objective lives in its own file with its oracle tests ([`ppo`], [`gspo`], [`cispo`]);
//! the next one is one more file and one more variant of [`Objective`]. Everything around the
//! policy term (aggregation weights, importance weights, KL, entropy term) is shared and lives
//! in [`crate::loss`]. An objective names the aggregation it is defined with
//! ([`Objective::aggregation`]); GSPO brings its own sequence mean and refuses another.
//!
//! In TOML an objective is a name with its defaults or a table with a `kind`:
//! `objective = "gspo"` or `objective = { kind = "ppo", eps_low = 0.2, eps_high = 0.28 }`.
//! Values are checked while the table is read, so a bad one is reported at its place in the
//! file.

pub mod cispo;
pub mod gspo;
pub mod ppo;

use std::fmt;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

pub use cispo::Cispo;
pub use gspo::Gspo;
pub use ppo::Ppo;

use crate::loss::weights::LossAggregation;

/// The per-token inputs of the policy term for one micro-batch, all `[rows, width]`.
pub struct PolicyInputs<B: Backend> {
    /// `log pi_theta`, differentiable.
    pub logprobs: Tensor<B, 2>,
    /// `log pi_old`, a constant.
    pub old_logprobs: Tensor<B, 2>,
    pub advantages: Tensor<B, 2>,
    /// 1 on response tokens, 0 on padding.
    pub mask: Tensor<B, 2>,
}

/// The policy term of the loss, per token.
pub struct PolicyTerm<B: Backend> {
    /// The per-token loss, before aggregation weights (padding is multiplied away later).
    pub per_token: Tensor<B, 2>,
    /// 1 where the objective clipped the token (no gradient through its ratio), masked.
    pub clipped: Tensor<B, 2>,
}

/// The policy objective of `learner.policy_gradient`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// PPO's clipped token-level surrogate with clip-higher and optional dual clip.
    Ppo(Ppo),
    /// GSPO: one length-normalised ratio per sequence, clipped with small epsilons.
    Gspo(Gspo),
    /// CISPO: a clipped, stop-gradient importance weight on every token's log-prob.
    Cispo(Cispo),
}

/// The names `objective = "..."` accepts.
pub const NAMES: &[&str] = &["ppo", "gspo", "cispo"];

impl Default for Objective {
    fn default() -> Self {
        Objective::Ppo(Ppo::default())
    }
}

impl Objective {
    /// The objective `name` with its default parameters.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "ppo" => Some(Objective::Ppo(Ppo::default())),
            "gspo" => Some(Objective::Gspo(Gspo::default())),
            "cispo" => Some(Objective::Cispo(Cispo::default())),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Objective::Ppo(_) => "ppo",
            Objective::Gspo(_) => "gspo",
            Objective::Cispo(_) => "cispo",
        }
    }

    /// The aggregation the objective is defined with, used when `loss_aggregation` is not
    /// written: GSPO's sequence mean (each response 1/G, its tokens averaged within, which
    /// makes the per-token form the paper's sequence objective), token-mean for the others.
    pub fn aggregation(&self) -> LossAggregation {
        match self {
            Objective::Gspo(_) => LossAggregation::SeqMeanTokenMean,
            Objective::Ppo(_) | Objective::Cispo(_) => LossAggregation::TokenMean,
        }
    }

    /// Whether the objective is only itself under its own aggregation (GSPO: any other
    /// weights sequences by length, the bias it exists to remove), so another is refused.
    pub fn owns_aggregation(&self) -> bool {
        matches!(self, Objective::Gspo(_))
    }

    /// Checks the parameters' ranges.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Objective::Ppo(o) => o.validate(),
            Objective::Gspo(o) => o.validate(),
            Objective::Cispo(o) => o.validate(),
        }
    }

    /// The per-token policy loss of one micro-batch.
    pub fn policy_term<B: Backend>(&self, x: PolicyInputs<B>) -> PolicyTerm<B> {
        match self {
            Objective::Ppo(o) => o.policy_term(x),
            Objective::Gspo(o) => o.policy_term(x),
            Objective::Cispo(o) => o.policy_term(x),
        }
    }
}

/// The table form, `{ kind = "...", ... }`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Tagged {
    Ppo(Ppo),
    Gspo(Gspo),
    Cispo(Cispo),
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = Objective;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an objective name (`ppo`, `gspo`, `cispo`) or a table with a `kind`")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Objective, E> {
                Objective::named(name).ok_or_else(|| E::unknown_variant(name, NAMES))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Objective, A::Error> {
                let tagged = Tagged::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let objective = match tagged {
                    Tagged::Ppo(o) => Objective::Ppo(o),
                    Tagged::Gspo(o) => Objective::Gspo(o),
                    Tagged::Cispo(o) => Objective::Cispo(o),
                };
                objective.validate().map_err(de::Error::custom)?;
                Ok(objective)
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// `[0, 1)` for a lower clip range, `>= 0` for an upper one.
pub(crate) fn check_clip_range(eps_low: f64, eps_high: f64, low_max: f64) -> Result<(), String> {
    if !(eps_low >= 0.0 && eps_low < low_max && eps_low.is_finite()) {
        return Err(format!("eps_low must be in [0, {low_max}), got {eps_low}"));
    }
    if !(eps_high >= 0.0 && eps_high.is_finite()) {
        return Err(format!("eps_high must be >= 0, got {eps_high}"));
    }
    Ok(())
}

/// `-min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)` and where the clipped branch won, for
/// ratios whose gradient flows as the caller built them (token ratios for PPO, GSPO's
/// per-token form of the sequence ratio).
pub(crate) fn clipped_surrogate<B: Backend>(
    ratio: Tensor<B, 2>,
    advantages: Tensor<B, 2>,
    mask: Tensor<B, 2>,
    eps_low: f64,
    eps_high: f64,
) -> PolicyTerm<B> {
    let unclipped = ratio.clone() * advantages.clone();
    let clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high) * advantages;
    let took_clip = clipped.clone().lower(unclipped.clone()).float() * mask;
    PolicyTerm {
        per_token: unclipped.min_pair(clipped).neg(),
        clipped: took_clip,
    }
}

#[cfg(test)]
pub(crate) mod oracle {
    //! Helpers shared by the objectives' oracle tests: a small batch as tensors whose
    //! `logprobs` require gradients, and read-back of per-token losses and `d loss / d logp`.

    use burn::tensor::{Tensor, TensorData};
    use hicra_model::RuntimeAutodiff;

    use super::{Objective, PolicyInputs};

    pub type B = RuntimeAutodiff;

    /// A `[rows, width]` batch: new and old log-probs, advantages, mask (1 on real tokens).
    pub struct Batch {
        pub logp: Vec<Vec<f64>>,
        pub old: Vec<Vec<f64>>,
        pub adv: Vec<Vec<f64>>,
        pub len: Vec<usize>,
    }

    impl Batch {
        pub fn width(&self) -> usize {
            self.logp[0].len()
        }

        fn tensor(&self, rows: &[Vec<f64>]) -> Tensor<B, 2> {
            let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
            Tensor::from_data(
                TensorData::new(flat, [rows.len(), self.width()]),
                &hicra_model::cpu(),
            )
        }

        pub fn mask(&self) -> Vec<Vec<f64>> {
            self.len
                .iter()
                .map(|&n| {
                    (0..self.width())
                        .map(|t| f64::from(u8::from(t < n)))
                        .collect()
                })
                .collect()
        }
    }

    /// Per-token losses (masked), clipped indicators and the gradient of `sum(per_token *
    /// mask)` with respect to each log-prob, as computed by `objective`.
    pub fn run(objective: &Objective, b: &Batch) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let logprobs = b.tensor(&b.logp).require_grad();
        let mask = b.tensor(&b.mask());
        let term = objective.policy_term(PolicyInputs {
            logprobs: logprobs.clone(),
            old_logprobs: b.tensor(&b.old),
            advantages: b.tensor(&b.adv),
            mask: mask.clone(),
        });
        let masked = term.per_token * mask;
        let grads = masked.clone().sum().backward();
        let read = |t: Vec<f32>| t.into_iter().map(f64::from).collect::<Vec<_>>();
        let grad = logprobs.grad(&grads).expect("logprobs receive a gradient");
        (
            read(masked.inner().into_data().to_vec().unwrap()),
            read(term.clipped.inner().into_data().to_vec().unwrap()),
            read(grad.into_data().to_vec().unwrap()),
        )
    }

    /// Asserts two flattened batches agree to `tol`.
    pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol,
                "{what}[{i}]: got {g}, want {w}\n got {got:?}\nwant {want:?}"
            );
        }
    }
}
