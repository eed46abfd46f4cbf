//! # hicra-pretrained: pretrained Llama-family checkpoints as plain host tensors
//!
//! This crate reads a pretrained decoder (Llama, SmolLM2, Qwen2) from disk and hands back
//! everything a model implementation needs, without depending on any tensor library:
//!
//! ```text
//!  .gguf file ──► gguf::  header, metadata, tensor infos (bounds-checked, mmapped)
//!                   │      dequantize F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q4_K/Q6_K ─► f32
//!                   │      rename blk.N.attn_q ─► model.layers.N.self_attn.q_proj, ...
//!                   │      tokenizer.ggml.* ─► byte-level BPE tokenizer
//!  HF directory ──► hf::   config.json, *.safetensors (F32/F16/BF16), tokenizer.json
//!                   ▼
//!              Pretrained { config: LlamaConfig, tensors: HF name ─► HostTensor,
//!                           tokenizer: Tokenizer, chat_template: ChatTemplate }
//! ```
//!
//! Tensors use Hugging Face names and row-major shapes (`[out, in]` for projections). The Q/K
//! rows of a `llama` GGUF stay in llama.cpp's interleaved RoPE order; [`LlamaConfig::rope_layout`]
//! says which order a checkpoint uses, and [`unpermute_rope`] converts. Every tensor the config
//! implies is checked for presence, shape and finiteness before [`load`] returns, and every
//! offset in a file is bounds-checked, so a corrupt checkpoint is an error, never a panic.
//!
//! A token classifier (transformers' `LlamaForTokenClassification`, the layout of hicra's
//! process reward models) is a decoder plus a `score` head: [`load_token_classifier`] reads it
//! as a [`Pretrained`] and a [`ScoreHead`]; [`load`] refuses it with a pointer there.
//!
//! The [`Tokenizer`] keeps the exact bytes of every token, which gives encode offsets and the
//! decoded byte span of every generated token ([`IncrementalDecoder`]). [`ChatTemplate`] renders
//! ChatML or a plain `{system}`/`{user}` template.

mod chat;
mod classifier;
mod config;
mod error;
pub mod gguf;
pub mod hf;
mod host_tensor;
pub mod names;
mod rope;
mod tokenizer;

pub use chat::{ChatMessage, ChatTemplate, ChatTemplateError};
pub use classifier::{ScoreHead, is_token_classifier, load_token_classifier};
pub use config::{LlamaConfig, RopeLayout};
pub use error::LoadError;
pub use host_tensor::HostTensor;
pub use rope::{RopeLayoutError, permute_rope, unpermute_rope};
pub use tokenizer::{Encoding, IncrementalDecoder, SpecialTokens, Tokenizer, TokenizerError};

use std::collections::BTreeMap;
use std::path::Path;

/// A loaded checkpoint: architecture, f32 weights by Hugging Face name, tokenizer, prompt format.
#[derive(Debug, Clone)]
pub struct Pretrained {
    pub config: LlamaConfig,
    /// `model.embed_tokens.weight`, `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight` (and
    /// `.bias` for q/k/v when `config.attention_bias`), `model.layers.{i}.mlp.{gate,up,down}_proj.weight`,
    /// `model.layers.{i}.{input,post_attention}_layernorm.weight`, `model.norm.weight`, and
    /// `lm_head.weight` unless embeddings are tied. See [`names::expected_tensors`].
    pub tensors: BTreeMap<String, HostTensor>,
    pub tokenizer: Tokenizer,
    pub chat_template: ChatTemplate,
    /// The chat template exactly as the checkpoint wrote it (Jinja), when it had one: an export
    /// writes it back verbatim rather than [`ChatTemplate::to_jinja`]'s rendering.
    pub chat_template_jinja: Option<String>,
}

impl Pretrained {
    /// A checkpoint as read from its files: `jinja` is the chat template it wrote (if any),
    /// kept verbatim and read as a [`ChatTemplate`].
    pub fn of_checkpoint(
        config: LlamaConfig,
        tensors: BTreeMap<String, HostTensor>,
        tokenizer: Tokenizer,
        jinja: Option<&str>,
    ) -> Self {
        Self {
            config,
            tensors,
            tokenizer,
            chat_template: ChatTemplate::of_checkpoint(jinja),
            chat_template_jinja: jinja.map(str::to_string),
        }
    }

    /// Checks the config and that every expected tensor is present, shaped as the config says
    /// and finite; tensors the config does not explain are an error too.
    pub fn validate(&self) -> Result<(), LoadError> {
        self.config.validate()?;
        let expected = names::expected_tensors(&self.config);
        for (name, shape) in &expected {
            let tensor = self
                .tensors
                .get(name)
                .ok_or_else(|| LoadError::tensor(name, "missing from the checkpoint"))?;
            if &tensor.shape != shape {
                return Err(LoadError::tensor(
                    name,
                    format!("has shape {:?}, the config implies {shape:?}", tensor.shape),
                ));
            }
            tensor.check_finite(name)?;
        }
        if let Some(extra) = self
            .tensors
            .keys()
            .find(|k| !expected.iter().any(|(n, _)| n == *k))
        {
            return Err(LoadError::tensor(
                extra,
                "is not part of a Llama-family decoder with this config",
            ));
        }
        if self.tokenizer.vocab_size() > self.config.vocab_size {
            return Err(LoadError::Tokenizer(format!(
                "tokenizer has {} tokens but the model only {} embedding rows",
                self.tokenizer.vocab_size(),
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    /// Number of tensors per storage type (`{"F32": 61, "Q4_1": 210}`).
    pub fn dtype_histogram(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for t in self.tensors.values() {
            *counts.entry(t.dtype.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// Loads a `.gguf` file or a Hugging Face directory (`config.json` + safetensors + `tokenizer.json`).
pub fn load(path: &Path) -> Result<Pretrained, LoadError> {
    let pretrained = if path.is_dir() {
        hf::load(path)?
    } else if path.is_file() {
        gguf::load(path)?
    } else if !path.exists() {
        return Err(LoadError::MissingFile {
            path: path.to_path_buf(),
        });
    } else {
        return Err(LoadError::UnknownFormat {
            path: path.to_path_buf(),
        });
    };
    if is_token_classifier(&pretrained.config.architecture) {
        return Err(LoadError::UnsupportedFeature(format!(
            "{} is a token classifier ({}), not a language model: a process reward model, \
             which `hicra_pretrained::load_token_classifier` (hicra-prm's store) reads",
            path.display(),
            pretrained.config.architecture
        )));
    }
    pretrained.validate()?;
    tracing::info!(
        path = %path.display(),
        architecture = %pretrained.config.architecture,
        parameters = pretrained.config.num_parameters(),
        "loaded pretrained checkpoint"
    );
    Ok(pretrained)
}
