//! Encoding a prompt and its steps for the PRM: the token ids of prompt and response, and the
//! position of each step's last token ([`Encoded`], made by [`encode`]). The rules (no stop
//! token, the response encoded at once, steps sharing a token) are set out in the
//! [`model`](super) module's documentation.

use hicra_messages::Prompt;
use hicra_train::TextCodec;

/// A prompt and its steps as token ids, with where each step ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Prompt ids followed by the response's ids (no stop token).
    pub ids: Vec<u32>,
    /// How many of `ids` are the prompt's.
    pub prompt_len: usize,
    /// Per step: the absolute position in `ids` of its last token (non-decreasing; equal for
    /// steps that end in the same token).
    pub step_ends: Vec<usize>,
    /// Steps whose last token is also the next step's: they share its score and are not
    /// training targets of their own (the later step's label wins).
    pub shared_ends: usize,
}

impl Encoded {
    /// Whether step `k` is the last of the steps ending at its token (the one whose label a
    /// shared position is trained on).
    pub fn owns_end(&self, k: usize) -> bool {
        self.step_ends
            .get(k + 1)
            .is_none_or(|next| *next != self.step_ends[k])
    }
}

/// Encodes `prompt` and the response made of `steps` for the PRM (see the [`model`](super)
/// module documentation for the rules). Errors name the problem.
pub fn encode(codec: &TextCodec, prompt: &Prompt, steps: &[String]) -> Result<Encoded, String> {
    let fail = |e: String| format!("problem `{}`: {e}", prompt.id);
    let mut ids = codec.encode_prompt(prompt)?;
    let prompt_len = ids.len();
    let response: String = steps.concat();
    let mut response_ids = Vec::new();
    if !response.is_empty() {
        response_ids = codec.encode_response(&response).map_err(fail)?;
        response_ids.pop(); // the stop token encode_response appends
    }
    let (text, spans) = codec.decode_with_spans(&response_ids).map_err(fail)?;
    if text != response {
        return Err(fail(format!(
            "the tokenizer does not give the response back (decoded {:?}, expected {:?}), so \
             its steps cannot be placed on tokens",
            preview(&text),
            preview(&response)
        )));
    }
    let mut step_ends = Vec::with_capacity(steps.len());
    let (mut byte, mut token) = (0usize, 0usize);
    for (k, step) in steps.iter().enumerate() {
        byte += step.len();
        let position = if byte == 0 {
            // an empty first step: nothing of the response yet, read after the prompt
            prompt_len.checked_sub(1).ok_or_else(|| {
                fail("its first step is empty and its prompt encodes to no tokens".into())
            })?
        } else {
            while token < spans.len() && spans[token].1 < byte {
                token += 1;
            }
            if token == spans.len() {
                return Err(fail(format!(
                    "step {} ends at byte {byte}, past the response's tokens",
                    k + 1
                )));
            }
            prompt_len + token
        };
        step_ends.push(position);
    }
    let shared_ends = step_ends.windows(2).filter(|w| w[0] == w[1]).count();
    ids.extend(response_ids);
    Ok(Encoded {
        ids,
        prompt_len,
        step_ends,
        shared_ends,
    })
}

/// The first 60 characters of `text`, with an ellipsis when there are more.
fn preview(text: &str) -> String {
    let mut cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}
