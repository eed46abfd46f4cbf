//! A labelled solution made ready for training or evaluation: its encoding and the labels of
//! the chosen [`PrmTarget`] placed on its step ends ([`Example`], made by [`example`]).

use hicra_train::TextCodec;

use super::PrmTarget;
use crate::labels::LabelledSolution;
use crate::model::{Encoded, encode};

/// One encoded solution with its training targets.
pub(super) struct Example {
    /// The solution's token ids and step ends.
    pub(super) encoded: Encoded,
    /// `(absolute position, label)`.
    pub(super) targets: Vec<(usize, f32)>,
}

/// Encodes `record` and places `target`'s labels on its step ends (shared ends: the later
/// label wins).
pub(super) fn example(
    model_room: usize,
    codec: &TextCodec,
    record: &LabelledSolution,
    target: PrmTarget,
    check: &dyn Fn(&Encoded, &str) -> Result<(), String>,
) -> Result<Example, String> {
    record.check()?;
    let encoded = encode(codec, &record.prompt, &record.steps)?;
    if encoded.ids.len() > model_room {
        return Err(format!(
            "problem `{}`: {} prompt + {} response tokens, more than max_seq_len \
             ({model_room}): raise max_seq_len or drop the record",
            record.prompt.id,
            encoded.prompt_len,
            encoded.ids.len() - encoded.prompt_len
        ));
    }
    check(&encoded, &record.prompt.id)?;
    let targets = target
        .labels(record)?
        .into_iter()
        .filter(|&(k, _)| encoded.owns_end(k))
        .map(|(k, y)| (encoded.step_ends[k], y as f32))
        .collect();
    Ok(Example { encoded, targets })
}
