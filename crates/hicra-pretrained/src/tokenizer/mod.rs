//! The tokenizer of a pretrained model: text <-> token ids, with byte offsets.
//!
//! Wraps a [`tokenizers::Tokenizer`] (built from GGUF metadata or read from `tokenizer.json`)
//! and keeps, for every id, the exact bytes it stands for. Decoding concatenates those bytes,
//! so a token's span in the decoded text is known exactly ([`IncrementalDecoder`]); encoding
//! reports the byte range of each token in the input.

mod byte_map;
mod characters;
mod incremental;

pub use incremental::IncrementalDecoder;

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Why text could not be encoded or ids decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenizerError {
    #[error("token id {id} is outside the vocabulary of {vocab_size}")]
    UnknownId { id: u32, vocab_size: usize },
    #[error("cannot encode text: {0}")]
    Encode(String),
}

/// The special token ids a sampler needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpecialTokens {
    /// Beginning of sequence, if the vocabulary has one.
    pub bos: Option<u32>,
    /// Tokens that end a generation.
    pub eos: Vec<u32>,
    /// Padding, if the vocabulary names one.
    pub pad: Option<u32>,
    /// Whether prompts start with `bos`.
    pub add_bos: bool,
}

/// Token ids of a text and the byte range of each token in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoding {
    pub ids: Vec<u32>,
    /// Byte ranges into the encoded text (a BOS added by [`Tokenizer::encode_prompt`] gets `0..0`).
    /// A range may end inside a multi-byte character when a token holds only part of it.
    pub offsets: Vec<Range<usize>>,
}

/// A model's tokenizer.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bytes: Vec<Vec<u8>>,
    special: Vec<bool>,
    special_tokens: SpecialTokens,
}

impl Tokenizer {
    /// Wraps `inner`. Token bytes come from the byte-level alphabet when every regular token is
    /// spelt in it; otherwise SentencePiece conventions apply (`▁` is a space, `<0xAB>` a byte).
    pub fn new(
        inner: tokenizers::Tokenizer,
        special_tokens: SpecialTokens,
    ) -> Result<Self, crate::LoadError> {
        let vocab_size = inner.get_vocab_size(true);
        let added = inner.get_added_tokens_decoder();
        let mut tokens = Vec::with_capacity(vocab_size);
        for id in 0..vocab_size as u32 {
            let token = inner.id_to_token(id).ok_or_else(|| {
                crate::LoadError::Tokenizer(format!(
                    "token ids are not contiguous: id {id} of {vocab_size} has no token"
                ))
            })?;
            tokens.push(token);
        }
        let is_added = |id: usize| added.contains_key(&(id as u32));
        let byte_level = tokens
            .iter()
            .enumerate()
            .all(|(id, t)| is_added(id) || byte_map::token_to_bytes(t).is_some());
        let bytes = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| match () {
                _ if is_added(id) => t.as_bytes().to_vec(),
                _ if byte_level => byte_map::token_to_bytes(t).expect("checked above"),
                _ => sentencepiece_bytes(t),
            })
            .collect();
        let special = (0..vocab_size)
            .map(|id| added.get(&(id as u32)).is_some_and(|t| t.special))
            .collect();
        if let Some(bad) = special_tokens
            .eos
            .iter()
            .chain(&special_tokens.bos)
            .find(|&&id| id as usize >= vocab_size)
        {
            return Err(crate::LoadError::Tokenizer(format!(
                "special token id {bad} is outside the vocabulary of {vocab_size}"
            )));
        }
        Ok(Self {
            inner,
            bytes,
            special,
            special_tokens,
        })
    }

    /// Number of token ids (including added and special tokens).
    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special_tokens
    }

    /// Whether `id` is a special (control) token such as `<|im_end|>`.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// The id of a token spelt as in the vocabulary (`"<|im_end|>"`, `"Ġthe"`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The vocabulary spelling of `id`.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The bytes token `id` stands for (a special token: its text).
    pub fn token_bytes(&self, id: u32) -> Result<&[u8], TokenizerError> {
        self.bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .ok_or(TokenizerError::UnknownId {
                id,
                vocab_size: self.vocab_size(),
            })
    }

    /// Ids of `text` as-is: special tokens written in the text are recognised, nothing is added.
    pub fn encode(&self, text: &str) -> Result<Encoding, TokenizerError> {
        let encoded = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        let ids = encoded.get_ids().to_vec();
        let mut offsets = Vec::with_capacity(ids.len());
        let mut at = 0;
        for &id in &ids {
            let len = self.token_bytes(id)?.len();
            offsets.push(at..at + len);
            at += len;
        }
        if at != text.len() {
            // Not lossless (a normalizer changed the text): use the library's own offsets.
            offsets = encoded.get_offsets().iter().map(|&(s, e)| s..e).collect();
        }
        Ok(Encoding { ids, offsets })
    }

    /// [`encode`](Self::encode), preceded by BOS when the model's metadata asks for it.
    pub fn encode_prompt(&self, text: &str) -> Result<Encoding, TokenizerError> {
        let mut enc = self.encode(text)?;
        if let (true, Some(bos)) = (self.special_tokens.add_bos, self.special_tokens.bos) {
            enc.ids.insert(0, bos);
            enc.offsets.insert(0, 0..0);
        }
        Ok(enc)
    }

    /// The text of `ids`; special tokens are written out unless `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        Ok(self.decode_with_spans(ids, skip_special)?.0)
    }

    /// The text of `ids` and the byte range each token occupies in it.
    pub fn decode_with_spans(
        &self,
        ids: &[u32],
        skip_special: bool,
    ) -> Result<(String, Vec<Range<usize>>), TokenizerError> {
        let mut decoder = self.incremental_decoder(skip_special);
        for &id in ids {
            decoder.push(id)?;
        }
        Ok(decoder.finish())
    }

    /// A streaming decoder for a sampler.
    pub fn incremental_decoder(&self, skip_special: bool) -> IncrementalDecoder<'_> {
        IncrementalDecoder::new(self, skip_special)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Bytes of a SentencePiece token: `<0xAB>` is one byte, `▁` a space.
fn sentencepiece_bytes(token: &str) -> Vec<u8> {
    let hex = token.strip_prefix("<0x").and_then(|t| t.strip_suffix('>'));
    if let Some(byte) = hex
        .filter(|h| h.len() == 2)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
    {
        return vec![byte];
    }
    token.replace('▁', " ").into_bytes()
}
