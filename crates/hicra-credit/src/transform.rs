//! Token transforms, applied in order after the group advantage
//! (docs/formulas/hicra.md#the-transform).
//!
//! Each reshapes the per-token advantages `A_{i,t}` of a batch. HICRA is exactly the paper's
//! `A + alpha * |A|` on masked tokens: a planning token's advantage grows by `(1 + alpha)` when
//! positive and shrinks by `(1 - alpha)` when negative; the sign never flips and nothing is
//! re-normalised afterwards.

use hicra_messages::Group;
use serde::Deserialize;

use crate::access;
use crate::error::CreditError;

/// Per-token advantages of a batch: `[group][rollout][token]`.
pub type TokenAdvantages = Vec<Vec<Vec<f64>>>;

/// One token transform, written `{ kind = "...", ... }` in a credit stage's `transforms`.
///
/// Every parameter may be left out. Serde takes no `default` on an enum variant, so each
/// field names its default's function (one per value, on `Transform`, which
/// [`parse_cli`](Self::parse_cli) uses too).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// The paper's HICRA: `A + alpha * |A|` on tokens of `mask`.
    Hicra {
        /// Amplification, in [0, 1); the default is the value of every experiment of the paper.
        #[serde(default = "Transform::default_alpha")]
        alpha: f64,
        /// Name of the token mask to amplify.
        #[serde(default = "Transform::default_planning_mask")]
        mask: String,
    },
    /// The variant reportedly in the authors' verl code: amplify only correct responses
    /// longer than their group's mean length, on `mask` OR the top `entropy_quantile` of the
    /// response's token entropies.
    HicraAuthors {
        /// Amplification, in [0, 1).
        #[serde(default = "Transform::default_alpha")]
        alpha: f64,
        /// Name of the planning mask.
        #[serde(default = "Transform::default_planning_mask")]
        mask: String,
        /// Share of a response's highest-entropy tokens added to the mask.
        #[serde(default = "Transform::default_entropy_quantile")]
        entropy_quantile: f64,
    },
    /// HICRA's formula on a placebo mask (random spans with the planning share).
    Placebo {
        /// Amplification, in [0, 1).
        #[serde(default = "Transform::default_alpha")]
        alpha: f64,
        /// Name of the placebo mask.
        #[serde(default = "Transform::default_placebo_mask")]
        mask: String,
    },
    /// "80/20": keep the advantage only on the top `top_rho` share of the batch's tokens by
    /// entropy, zero elsewhere.
    EntropyMask {
        /// Share of tokens kept, in (0, 1].
        #[serde(default = "Transform::default_top_rho")]
        top_rho: f64,
    },
}

impl Transform {
    /// Default `alpha` of the HICRA transforms (every experiment of the paper).
    pub fn default_alpha() -> f64 {
        0.2
    }

    /// Default `mask` of `hicra` and `hicra_authors`.
    pub fn default_planning_mask() -> String {
        hicra_messages::PLANNING_MASK.to_string()
    }

    /// Default `mask` of `placebo`.
    pub fn default_placebo_mask() -> String {
        "placebo".to_string()
    }

    /// Default `entropy_quantile` of `hicra_authors`.
    pub fn default_entropy_quantile() -> f64 {
        0.3
    }

    /// Default `top_rho` of `entropy_mask`.
    pub fn default_top_rho() -> f64 {
        0.2
    }
}

impl Transform {
    /// Checks the parameters' ranges.
    pub fn validate(&self) -> Result<(), CreditError> {
        let bad = |m: String| Err(CreditError::Config(m));
        match self {
            Transform::Hicra { alpha, .. }
            | Transform::Placebo { alpha, .. }
            | Transform::HicraAuthors { alpha, .. }
                if !(0.0..1.0).contains(alpha) =>
            {
                bad(format!("alpha must be in [0, 1), got {alpha}"))
            }
            Transform::HicraAuthors {
                entropy_quantile: q,
                ..
            } if !(0.0..=1.0).contains(q) => {
                bad(format!("entropy_quantile must be in [0, 1], got {q}"))
            }
            Transform::EntropyMask { top_rho } if !(*top_rho > 0.0 && *top_rho <= 1.0) => {
                bad(format!("top_rho must be in (0, 1], got {top_rho}"))
            }
            _ => Ok(()),
        }
    }

    /// Parses the CLI form `name[:value]`, e.g. `hicra:0.2` or `entropy_mask:0.2`.
    pub fn parse_cli(text: &str) -> Result<Self, CreditError> {
        let (name, value) = text
            .split_once(':')
            .map_or((text, None), |(n, v)| (n, Some(v)));
        let number = |default: f64| -> Result<f64, CreditError> {
            value.map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| CreditError::Config(format!("`{v}` is not a number")))
            })
        };
        let t = match name {
            "hicra" => Transform::Hicra {
                alpha: number(Self::default_alpha())?,
                mask: Self::default_planning_mask(),
            },
            "hicra_authors" => Transform::HicraAuthors {
                alpha: number(Self::default_alpha())?,
                mask: Self::default_planning_mask(),
                entropy_quantile: Self::default_entropy_quantile(),
            },
            "placebo" => Transform::Placebo {
                alpha: number(Self::default_alpha())?,
                mask: Self::default_placebo_mask(),
            },
            "entropy_mask" => Transform::EntropyMask {
                top_rho: number(Self::default_top_rho())?,
            },
            other => {
                return Err(CreditError::Config(format!(
                    "unknown transform `{other}`; known: hicra, hicra_authors, placebo, entropy_mask"
                )));
            }
        };
        t.validate()?;
        Ok(t)
    }

    /// Reshapes the token advantages `adv[group][rollout][token]` of `groups` in place.
    pub fn apply(&self, groups: &[Group], adv: &mut TokenAdvantages) -> Result<(), CreditError> {
        match self {
            Transform::Hicra { alpha, mask } | Transform::Placebo { alpha, mask } => {
                for_each_rollout(groups, adv, |group, i, a| {
                    amplify(a, access::mask(group, i, mask)?, *alpha);
                    Ok(())
                })
            }
            Transform::HicraAuthors {
                alpha,
                mask,
                entropy_quantile,
            } => for_each_rollout(groups, adv, |group, i, a| {
                if !longer_than_average_and_correct(group, i) {
                    return Ok(());
                }
                let planning = access::mask(group, i, mask)?;
                let high = top_share(access::entropies(group, i)?, *entropy_quantile);
                let tagged: Vec<bool> = planning.iter().zip(&high).map(|(p, h)| *p || *h).collect();
                amplify(a, &tagged, *alpha);
                Ok(())
            }),
            Transform::EntropyMask { top_rho } => {
                let mut all = Vec::new();
                for (group, i, _) in access::indexed(groups) {
                    all.extend_from_slice(access::entropies(group, i)?);
                }
                let mut keep = top_share(&all, *top_rho).into_iter();
                for a in adv.iter_mut().flatten().flatten() {
                    if !keep.next().unwrap_or(false) {
                        *a = 0.0;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The authors'-code condition: a correct response longer (in tokens) than its group's mean.
fn longer_than_average_and_correct(group: &Group, index: usize) -> bool {
    let mean_len =
        group.rollouts.iter().map(|r| r.len() as f64).sum::<f64>() / group.rollouts.len() as f64;
    let r = &group.rollouts[index];
    r.correct == Some(true) && r.len() as f64 > mean_len
}

/// `A + alpha * |A|` where `mask` is set.
pub fn amplify(advantages: &mut [f64], mask: &[bool], alpha: f64) {
    for (a, m) in advantages.iter_mut().zip(mask) {
        if *m {
            *a += alpha * a.abs();
        }
    }
}

/// Marks exactly `ceil(share * n)` values, the largest ones (earlier positions win ties).
pub fn top_share(values: &[f32], share: f64) -> Vec<bool> {
    let k = ((share * values.len() as f64).ceil() as usize).min(values.len());
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut marked = vec![false; values.len()];
    for &i in &order[..k] {
        marked[i] = true;
    }
    marked
}

fn for_each_rollout(
    groups: &[Group],
    adv: &mut TokenAdvantages,
    mut f: impl FnMut(&Group, usize, &mut Vec<f64>) -> Result<(), CreditError>,
) -> Result<(), CreditError> {
    for (group, group_adv) in groups.iter().zip(adv.iter_mut()) {
        for (i, a) in group_adv.iter_mut().enumerate() {
            f(group, i, a)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hicra_scales_by_one_plus_or_minus_alpha_and_never_flips_sign() {
        let mut a = vec![1.0, 1.0, -1.0, -1.0, 0.0];
        amplify(&mut a, &[true, false, true, false, true], 0.2);
        assert_eq!(a, vec![1.2, 1.0, -0.8, -1.0, 0.0]);
    }

    #[test]
    fn top_share_marks_exactly_the_ceiling_count() {
        assert_eq!(
            top_share(&[0.1, 0.9, 0.5, 0.9], 0.5),
            vec![false, true, false, true]
        );
        assert_eq!(top_share(&[0.3, 0.3, 0.3], 0.3), vec![true, false, false]);
        assert!(top_share(&[], 0.3).is_empty());
    }

    #[test]
    fn cli_forms_parse_and_ranges_are_checked() {
        assert_eq!(
            Transform::parse_cli("hicra:0.5").unwrap(),
            Transform::Hicra {
                alpha: 0.5,
                mask: "planning".into()
            }
        );
        assert!(
            matches!(Transform::parse_cli("entropy_mask").unwrap(), Transform::EntropyMask { top_rho } if top_rho == 0.2)
        );
        assert!(Transform::parse_cli("hicra:1.0").is_err());
        assert!(
            Transform::parse_cli("magic")
                .unwrap_err()
                .to_string()
                .contains("known: hicra")
        );
    }
}
