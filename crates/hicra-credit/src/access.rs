//! Checked access to a rollout's per-token arrays. A mask nobody set, or an array whose length
//! does not match the response tokens, becomes a [`CreditError`] naming the group and rollout
//! instead of a silent all-false mask or an out-of-bounds panic. [`check_inputs`] checks a
//! credit stage's whole input (the sampler's log-probs and entropies, every tagger's mask)
//! before anything is computed from it.

use hicra_messages::{Group, Rollout};

use crate::error::CreditError;

/// The mask `name` of rollout `index` of `group`; it must exist and cover every token.
pub fn mask<'a>(group: &'a Group, index: usize, name: &str) -> Result<&'a [bool], CreditError> {
    let r = &group.rollouts[index];
    let Some(m) = r.masks.get(name) else {
        let present: Vec<&str> = r.masks.keys().map(String::as_str).collect();
        return Err(CreditError::MissingMask {
            group: group.prompt.id.clone(),
            index,
            mask: name.into(),
            present: if present.is_empty() {
                "none".into()
            } else {
                present.join(", ")
            },
        });
    };
    if m.len() != r.len() {
        return Err(CreditError::MaskLength {
            group: group.prompt.id.clone(),
            index,
            mask: name.into(),
            got: m.len(),
            tokens: r.len(),
        });
    }
    Ok(m)
}

/// The token entropies of rollout `index` of `group`: one finite value per token.
pub fn entropies(group: &Group, index: usize) -> Result<&[f32], CreditError> {
    let r = &group.rollouts[index];
    same_length(group, index, "entropies", r.entropies.len())?;
    if let Some(token) = r.entropies.iter().position(|e| !e.is_finite()) {
        return Err(CreditError::NonFiniteToken {
            group: group.prompt.id.clone(),
            index,
            what: "entropy",
            token,
            value: f64::from(r.entropies[token]),
        });
    }
    Ok(&r.entropies)
}

/// Every rollout's log-probs, entropies and masks have one entry per response token: what a
/// credit stage receives from the sampler and the taggers, and reports figures from.
pub fn check_inputs(groups: &[Group]) -> Result<(), CreditError> {
    for (group, index, r) in indexed(groups) {
        same_length(group, index, "logprobs", r.logprobs.len())?;
        same_length(group, index, "entropies", r.entropies.len())?;
        for name in r.masks.keys() {
            mask(group, index, name)?;
        }
    }
    Ok(())
}

/// Checks that a per-token array of `got` entries matches the rollout's token count.
pub fn same_length(
    group: &Group,
    index: usize,
    what: &'static str,
    got: usize,
) -> Result<(), CreditError> {
    let tokens = group.rollouts[index].len();
    if got == tokens {
        return Ok(());
    }
    Err(CreditError::TokenLength {
        group: group.prompt.id.clone(),
        index,
        what,
        got,
        tokens,
    })
}

/// Every rollout of a batch's groups with its group and index, for checked access.
pub fn indexed(groups: &[Group]) -> impl Iterator<Item = (&Group, usize, &Rollout)> {
    groups
        .iter()
        .flat_map(|g| g.rollouts.iter().enumerate().map(move |(i, r)| (g, i, r)))
}
