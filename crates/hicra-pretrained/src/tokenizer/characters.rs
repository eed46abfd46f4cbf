//! A character alphabet (the tokenizer of policies trained from scratch) as a byte-level BPE
//! vocabulary without merges, so that Hugging Face `tokenizers`, transformers and llama.cpp
//! give every character the id the policy was trained with: 0 = `<pad>`, 1 = `<eos>` (both
//! special), then one token per character in alphabet order.
//!
//! Byte-level BPE spells every byte as one character of its alphabet, so a single-byte (ASCII)
//! character is one vocabulary entry; a character of several UTF-8 bytes would need merges
//! through byte tokens the policy has no ids for, and is refused.

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper};

use super::byte_map::byte_to_char;
use crate::{LoadError, SpecialTokens, Tokenizer};

/// Spelling of the padding token (id 0).
pub const PAD_TOKEN: &str = "<pad>";
/// Spelling of the end-of-text token (id 1).
pub const EOS_TOKEN: &str = "<eos>";

impl Tokenizer {
    /// The tokenizer of a character alphabet, ids 2.. in `alphabet` order after `<pad>` and
    /// `<eos>`; text outside the alphabet encodes to nothing.
    pub fn of_characters(alphabet: &[char]) -> Result<Self, LoadError> {
        let mut vocab = Vocab::default();
        vocab.insert(PAD_TOKEN.to_string(), 0);
        vocab.insert(EOS_TOKEN.to_string(), 1);
        for (i, &c) in alphabet.iter().enumerate() {
            let byte = u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
                LoadError::UnsupportedFeature(format!(
                    "character {c:?} of the alphabet is not ASCII; a byte-level vocabulary \
                         (what Hugging Face and llama.cpp read) has no single token for it"
                ))
            })?;
            let spelling = byte_to_char(byte).to_string();
            if vocab.insert(spelling, i as u32 + 2).is_some() {
                return Err(LoadError::Tokenizer(format!(
                    "character {c:?} appears twice in the alphabet"
                )));
            }
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, Vec::new())
            .build()
            .map_err(|e| LoadError::Tokenizer(format!("character vocabulary: {e}")))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        // GPT-2's pre-tokenizer (llama.cpp's `gpt-2`), so a GGUF of this vocabulary reads back
        // as the same tokenizer.
        inner.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, true, true,
        ))));
        inner.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
        inner.add_special_tokens(&[
            AddedToken::from(PAD_TOKEN, true),
            AddedToken::from(EOS_TOKEN, true),
        ]);
        Tokenizer::new(
            inner,
            SpecialTokens {
                bos: None,
                eos: vec![1],
                pad: Some(0),
                add_bos: false,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_keep_their_ids() {
        let alphabet: Vec<char> = "ab \n+".chars().collect();
        let t = Tokenizer::of_characters(&alphabet).unwrap();
        assert_eq!(t.vocab_size(), 7);
        let enc = t.encode("ab +\nba").unwrap();
        assert_eq!(enc.ids, vec![2, 3, 4, 6, 5, 3, 2]);
        assert_eq!(t.decode(&enc.ids, true).unwrap(), "ab +\nba");
        assert!(t.is_special(0) && t.is_special(1) && !t.is_special(2));
        assert_eq!(t.decode(&[2, 1], false).unwrap(), "a<eos>");
    }

    #[test]
    fn non_ascii_characters_are_refused() {
        let err = Tokenizer::of_characters(&['a', 'é'])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'é'"), "{err}");
    }
}
