//! What the learner requires of a credited batch before it trains on it: every rollout's
//! per-token arrays (log-probs, advantages, every tagger mask) have one entry per response
//! token, and advantages exist (a credit stage ran). Anything else is an error naming the
//! rollout (prompt id, sample index): never a zero fill, never an out-of-bounds panic.

use hicra_messages::{Rollout, RolloutBatch};

/// `Ok` when every rollout of `batch` is complete, else the first problem found.
pub(super) fn check(batch: &RolloutBatch) -> Result<(), String> {
    for group in &batch.groups {
        for (index, r) in group.rollouts.iter().enumerate() {
            check_rollout(r).map_err(|problem| {
                format!(
                    "learner: rollout {index} of prompt `{}` (step {}): {problem}",
                    group.prompt.id, batch.step
                )
            })?;
        }
    }
    Ok(())
}

fn check_rollout(r: &Rollout) -> Result<(), String> {
    let tokens = r.len();
    if tokens > 0 && r.advantages.is_empty() {
        return Err(format!(
            "no advantages for its {tokens} tokens (is a credit stage upstream of the learner?)"
        ));
    }
    let mut arrays: Vec<(String, usize)> = vec![
        ("logprobs".into(), r.logprobs.len()),
        ("advantages".into(), r.advantages.len()),
    ];
    arrays.extend(
        r.masks
            .iter()
            .map(|(name, m)| (format!("mask `{name}`"), m.len())),
    );
    for (what, got) in arrays {
        if got != tokens {
            return Err(format!("{what} has {got} entries for {tokens} tokens"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hicra_messages::{Group, Prompt};

    use super::*;

    fn rollout(n: usize) -> Rollout {
        Rollout {
            tokens: vec![1; n],
            logprobs: vec![-0.5; n],
            advantages: vec![1.0; n],
            masks: [("planning".to_string(), vec![false; n])].into(),
            ..Default::default()
        }
    }

    fn batch(rollouts: Vec<Rollout>) -> RolloutBatch {
        RolloutBatch::new(3, vec![Group::new(Prompt::new("q7", "", ""), rollouts)])
    }

    #[test]
    fn complete_rollouts_pass_and_empty_ones_need_nothing() {
        let empty = Rollout::default();
        assert_eq!(check(&batch(vec![rollout(3), empty, rollout(1)])), Ok(()));
    }

    /// A way to spoil a rollout, and the error it must give.
    type Spoiler = (fn(&mut Rollout), &'static str);

    #[test]
    fn missing_or_mismatched_arrays_name_the_rollout() {
        let cases: [Spoiler; 5] = [
            (
                |r| r.advantages.clear(),
                "rollout 1 of prompt `q7` (step 3): no advantages for its 3 tokens (is a credit \
                 stage upstream of the learner?)",
            ),
            (
                |r| r.advantages.push(0.0),
                "rollout 1 of prompt `q7` (step 3): advantages has 4 entries for 3 tokens",
            ),
            (
                |r| r.logprobs.truncate(1),
                "rollout 1 of prompt `q7` (step 3): logprobs has 1 entries for 3 tokens",
            ),
            (
                |r| {
                    r.masks.insert("placebo".into(), vec![true; 5]);
                },
                "rollout 1 of prompt `q7` (step 3): mask `placebo` has 5 entries for 3 tokens",
            ),
            (
                |r| r.tokens.push(2),
                "rollout 1 of prompt `q7` (step 3): logprobs has 3 entries for 4 tokens",
            ),
        ];
        for (spoil, want) in cases {
            let mut bad = rollout(3);
            spoil(&mut bad);
            let err = check(&batch(vec![rollout(2), bad])).unwrap_err();
            assert_eq!(err, format!("learner: {want}"));
        }
    }
}
