//! Building the tokenizer of a GGUF file from its `tokenizer.ggml.*` metadata.
//!
//! Supported: byte-level BPE (`tokenizer.ggml.model = gpt2`) with the pre-tokenizers named by
//! `tokenizer.ggml.pre` that llama.cpp defines as
//! - `smollm` (and `starcoder`, `refact`, `codeshell`, ...): every digit alone (`\p{N}`), then
//!   the GPT-2 split (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`);
//! - `gpt-2` / `default`: the GPT-2 split alone;
//! - `llama-bpe` (Llama 3) and `qwen2`: their published regexes (digits in runs of 1-3, or alone).
//!
//! Tokens of type 3 (control) become special added tokens, recognised in text; type 4
//! (user-defined) become ordinary added tokens.

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::Split;
use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::metadata::Metadata;
use crate::{LoadError, SpecialTokens, Tokenizer};

const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const TOKEN_TYPE_CONTROL: u64 = 3;
const TOKEN_TYPE_USER_DEFINED: u64 = 4;

/// The tokenizer described by `metadata`, with `special` token ids.
pub fn tokenizer_from_metadata(
    metadata: &Metadata,
    special: SpecialTokens,
) -> Result<Tokenizer, LoadError> {
    let model = metadata.req_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(LoadError::UnsupportedFeature(format!(
            "GGUF tokenizer model {model:?} (only byte-level BPE, \"gpt2\", is supported)"
        )));
    }
    let tokens = metadata.req_strings("tokenizer.ggml.tokens")?;
    let merges = metadata.req_strings("tokenizer.ggml.merges")?;
    let types = token_types(metadata, tokens.len())?;
    let pre = metadata.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");

    let mut vocab = Vocab::default();
    for (id, token) in tokens.iter().enumerate() {
        if vocab.insert(token.to_string(), id as u32).is_some() {
            return Err(LoadError::Tokenizer(format!(
                "token {token:?} appears twice in tokenizer.ggml.tokens"
            )));
        }
    }
    let merges = merges
        .iter()
        .map(|m| match m.split(' ').collect::<Vec<_>>()[..] {
            [a, b] => Ok((a.to_string(), b.to_string())),
            _ => Err(LoadError::Tokenizer(format!(
                "merge {m:?} is not two tokens separated by a space"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| LoadError::Tokenizer(format!("invalid BPE vocabulary/merges: {e}")))?;

    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
    inner.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    let added = |wanted: u64, special: bool| -> Vec<AddedToken> {
        tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == wanted)
            .map(|(tok, _)| AddedToken::from(tok.to_string(), special))
            .collect()
    };
    inner.add_special_tokens(&added(TOKEN_TYPE_CONTROL, true));
    inner.add_tokens(&added(TOKEN_TYPE_USER_DEFINED, false));
    Tokenizer::new(inner, special)
}

fn token_types(metadata: &Metadata, n: usize) -> Result<Vec<u64>, LoadError> {
    const KEY: &str = "tokenizer.ggml.token_type";
    let Some(types) = metadata.opt_array(KEY)? else {
        return Ok(vec![1; n]);
    };
    if types.len() != n {
        return Err(LoadError::metadata(
            KEY,
            format!("has {} entries for {n} tokens", types.len()),
        ));
    }
    types
        .iter()
        .map(|t| {
            t.as_u64()
                .ok_or_else(|| LoadError::metadata(KEY, "holds a non-integer"))
        })
        .collect()
}

/// Pre-tokenizer names [`tokenizer_from_metadata`] understands, one per distinct split.
const PRE_TOKENIZER_NAMES: [&str; 4] = ["smollm", "gpt-2", "llama-bpe", "qwen2"];

/// The `tokenizer.ggml.pre` name whose pre-tokenizer `tokenizer` uses (the inverse of what
/// [`tokenizer_from_metadata`] builds), or `None` when llama.cpp has no name for its split.
pub fn pre_tokenizer_name(tokenizer: &tokenizers::Tokenizer) -> Option<&'static str> {
    let own = serde_json::to_value(tokenizer.get_pre_tokenizer()?).ok()?;
    PRE_TOKENIZER_NAMES.into_iter().find(|name| {
        pre_tokenizer(name)
            .ok()
            .and_then(|p| serde_json::to_value(p).ok())
            .is_some_and(|v| v == own)
    })
}

fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, LoadError> {
    let gpt2 = || PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true));
    let regex_then_bytes = |regex: &str| -> Result<PreTokenizerWrapper, LoadError> {
        let split = Split::new(
            tokenizers::pre_tokenizers::split::SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| LoadError::Tokenizer(format!("pre-tokenizer regex: {e}")))?;
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Split(split),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false)),
        ])))
    };
    match pre {
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
            Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                gpt2(),
            ])))
        }
        "default" | "gpt-2" => Ok(gpt2()),
        "llama-bpe" | "llama3" => regex_then_bytes(LLAMA3_REGEX),
        "qwen2" => regex_then_bytes(QWEN2_REGEX),
        other => Err(LoadError::UnsupportedFeature(format!(
            "GGUF pre-tokenizer {other:?} (supported: smollm, starcoder, gpt-2, default, llama-bpe, qwen2)"
        ))),
    }
}
