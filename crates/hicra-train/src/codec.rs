//! How a policy reads and writes text: a character alphabet for models trained from scratch,
//! or a pretrained checkpoint's tokenizer with its chat template. Prompts, SFT targets and
//! sampled responses all go through the same [`TextCodec`], so the learner scores exactly the
//! ids the sampler produced.

use std::ops::Range;

use hicra_messages::Prompt;
use hicra_model::{CharTokenizer, CheckpointInfo};

#[derive(Debug, Clone)]
pub enum TextCodec {
    /// Messages joined by newlines, one id per character (the quickstart's models).
    Chars(CharTokenizer),
    /// A checkpoint's byte-level BPE tokenizer; prompts are rendered by its chat template.
    Pretrained(Box<CheckpointInfo>),
}

impl TextCodec {
    /// Token ids of a prompt, ready for generation (assistant turn opened).
    pub fn encode_prompt(&self, prompt: &Prompt) -> Result<Vec<u32>, String> {
        let fail = |e: String| format!("prompt `{}`: {e}", prompt.id);
        match self {
            Self::Chars(t) => t
                .encode(&prompt_text(prompt))
                .map_err(|e| fail(e.to_string())),
            Self::Pretrained(ckpt) => {
                let messages: Vec<hicra_pretrained::ChatMessage> = prompt
                    .messages
                    .iter()
                    .map(|m| hicra_pretrained::ChatMessage::new(&m.role, &m.content))
                    .collect();
                let text = ckpt
                    .chat_template
                    .render_messages(&messages, true)
                    .map_err(|e| fail(e.to_string()))?;
                Ok(ckpt
                    .tokenizer
                    .encode_prompt(&text)
                    .map_err(|e| fail(e.to_string()))?
                    .ids)
            }
        }
    }

    /// Token ids of a response text followed by the end-of-response token (SFT targets).
    pub fn encode_response(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids = match self {
            Self::Chars(t) => t.encode(text).map_err(|e| e.to_string())?,
            Self::Pretrained(ckpt) => ckpt.tokenizer.encode(text).map_err(|e| e.to_string())?.ids,
        };
        let stop = self.stop_tokens().first().copied().ok_or(
            "the checkpoint declares no end-of-sequence token, so a response cannot be ended: \
             use a checkpoint whose tokenizer has one",
        )?;
        ids.push(stop);
        Ok(ids)
    }

    /// The text of generated ids (special tokens dropped) and each token's byte span in it.
    pub fn decode_with_spans(&self, ids: &[u32]) -> Result<(String, Vec<(usize, usize)>), String> {
        match self {
            Self::Chars(t) => Ok(t.decode_with_spans(ids)),
            Self::Pretrained(ckpt) => {
                let (text, spans) = ckpt
                    .tokenizer
                    .decode_with_spans(ids, true)
                    .map_err(|e| e.to_string())?;
                Ok((
                    text,
                    spans
                        .into_iter()
                        .map(|Range { start, end }| (start, end))
                        .collect(),
                ))
            }
        }
    }

    /// Tokens that end a response; the first one terminates SFT targets.
    pub fn stop_tokens(&self) -> Vec<u32> {
        match self {
            Self::Chars(_) => vec![CharTokenizer::EOS],
            Self::Pretrained(ckpt) => ckpt.config.eos_token_ids.clone(),
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Chars(t) => t.vocab_size(),
            Self::Pretrained(ckpt) => ckpt.tokenizer.vocab_size(),
        }
    }
}

/// The text a character-level model sees for a prompt: its messages' contents, one per line,
/// then a newline (no chat template).
pub fn prompt_text(prompt: &Prompt) -> String {
    let mut text: String = prompt
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}
