//! Cutting a sampled response into steps: the texts of its steps and the token each ends
//! on, by the run's [`Segmentation`]. The labeller rolls out from these ends, and
//! `reward.process` cuts the responses it scores the same way.

use hicra_tasks::steps::Segmentation;
use hicra_train::TextCodec;

/// A response cut into steps: their texts and where each ends in the tokens.
pub struct Cut {
    /// The whole response, decoded.
    pub text: String,
    /// The steps' texts: they concatenate to `text`.
    pub steps: Vec<String>,
    /// Per step, the tokens up to and including its last one.
    pub token_ends: Vec<usize>,
}

/// Cuts `tokens` (a response without its stop token) into steps by `segmentation`: a step's
/// text runs to the end of its last token's span, the last step to the end of the text.
pub fn cut(tokens: &[u32], codec: &TextCodec, segmentation: &Segmentation) -> Result<Cut, String> {
    let (text, spans) = codec.decode_with_spans(tokens)?;
    let token_ends = segmentation.token_step_ends(&text, &spans);
    let mut steps = Vec::with_capacity(token_ends.len());
    let mut start = 0;
    for (i, &end) in token_ends.iter().enumerate() {
        let byte_end = if i + 1 == token_ends.len() {
            text.len()
        } else {
            spans[end - 1].1.max(start)
        };
        steps.push(text[start..byte_end].to_string());
        start = byte_end;
    }
    Ok(Cut {
        text,
        steps,
        token_ends,
    })
}
