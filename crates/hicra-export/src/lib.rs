//! # hicra-export: trained policies out to the tools people serve and evaluate with
//!
//! A policy leaves hicra in one of two formats, from one entry point, [`export`] (and the
//! adapters of a LoRA run as a PEFT adapter, from [`export_peft`]):
//!
//! ```text
//!  Pretrained { config, tensors (HF names, f32), tokenizer, chat template }
//!      │
//!      ├─ Format::Hf ──► DIR/config.json             LlamaForCausalLM | Qwen2ForCausalLM
//!      │                   (export_token_classifier: *ForTokenClassification, score.* head)
//!      │                 DIR/generation_config.json  bos, eos (every end-of-turn id)
//!      │                 DIR/model.safetensors       rotate-half Q/K, F32 | F16 | BF16,
//!      │                   (or model-0000i-of-0000n.safetensors + model.safetensors.index.json
//!      │                    above the shard size, 2 GB by default)
//!      │                 DIR/tokenizer.json, tokenizer_config.json (chat template),
//!      │                 DIR/special_tokens_map.json
//!      │
//!      └─ Format::Gguf ─► FILE.gguf  GGUF v3: llama.cpp's tensor names, interleaved Q/K rows
//!                         for `llama` (qwen2 unpermuted), `ARCH.*` hyper-parameters, the full
//!                         `tokenizer.ggml.*` vocabulary (tokens, types, merges, pre-tokenizer,
//!                         specials, chat template); F32 | F16 | BF16 | Q8_0 matrices, norms F32
//!
//!  LoraAdapter { rank, alpha, base, per layer and module lora_A [r, in], lora_B [out, r] }
//!      └─ Format::Peft ─► DIR/adapter_config.json      PEFT's LoraConfig (peft_type LORA)
//!                         DIR/adapter_model.safetensors  base_model.model.model.layers.{i}.
//!                                                        {self_attn,mlp}.*_proj.lora_{A,B}.weight
//! ```
//!
//! The input is the loader's own [`Pretrained`], so whatever `hicra_pretrained::load` reads
//! (GGUF, Hugging Face) converts to either format, and a hicra policy (trained from a
//! checkpoint, or from scratch with a character alphabet: see
//! `hicra_pretrained::Tokenizer::of_characters`) exports once it is described that way.
//!
//! Writes are atomic: everything goes to a temporary sibling, which is renamed over the target
//! only when complete; an existing target is replaced only with `force`. A model the format
//! cannot express (a tokenizer llama.cpp has no pre-tokenizer name for, Q8_0 in safetensors,
//! an architecture neither format names) is an [`ExportError`], never a partial file.
//!
//! Names, layouts and metadata keys follow transformers' `modeling_llama` / `modeling_qwen2`
//! and llama.cpp's `convert_hf_to_gguf.py` and `gguf-py` constants (facts, not code).

mod atomic;
mod dtype;
mod error;
mod gguf;
mod gguf_writer;
mod hf;
mod json;
mod layout;
pub mod peft;
mod tokenizer_files;

pub use dtype::ExportDtype;
pub use error::ExportError;
pub use hicra_pretrained::{HostTensor, Pretrained, ScoreHead};
pub use peft::{LayerAdapter, LoraAdapter, LoraModule};

use std::path::{Path, PathBuf};

/// Which format [`export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Hugging Face directory (transformers, vLLM, TRL).
    Hf,
    /// One GGUF v3 file (llama.cpp, ollama, LM Studio).
    Gguf,
    /// A PEFT LoRA adapter directory (a LoRA run's adapters, for the base it trained on):
    /// written by [`export_peft`], not [`export`].
    Peft,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hf" => Ok(Self::Hf),
            "gguf" => Ok(Self::Gguf),
            "peft" => Ok(Self::Peft),
            other => Err(format!("unknown export format `{other}` (hf, gguf, peft)")),
        }
    }
}

/// How [`export`] writes.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: Format,
    /// Storage type of the weight matrices.
    pub dtype: ExportDtype,
    /// Replace an existing target.
    pub force: bool,
    /// Largest safetensors shard, in bytes, before the weights are split (Hugging Face only).
    pub max_shard_bytes: u64,
}

impl ExportOptions {
    /// `format` in f32, 2 GB shards, never overwriting.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            dtype: ExportDtype::F32,
            force: false,
            max_shard_bytes: 2_000_000_000,
        }
    }
}

/// What [`export`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The directory (Hugging Face) or file (GGUF).
    pub path: PathBuf,
    /// Files written, relative to `path` for a directory.
    pub files: Vec<String>,
    /// Bytes written in all.
    pub bytes: u64,
}

/// Writes `model` to `out` in `options.format`.
pub fn export(
    model: &Pretrained,
    out: &Path,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    model.validate().map_err(|e| {
        ExportError::Unexpressible(format!("the model is not a valid decoder: {e}"))
    })?;
    match options.format {
        Format::Hf => atomic::write_dir(out, options.force, |dir| {
            hf::write(model, None, dir, options)
        }),
        Format::Gguf => atomic::write_file(out, options.force, |file| {
            gguf::write(model, file, options.dtype)
        }),
        Format::Peft => Err(ExportError::Unexpressible(
            "a PEFT adapter holds the adapters of a run trained with LoRA, not a whole model: \
             export a LoRA run's checkpoint, or a whole model with --format hf or gguf"
                .into(),
        )),
    }
}

/// Writes `adapter` to the directory `out` as PEFT saves a LoRA adapter
/// (`adapter_config.json`, `adapter_model.safetensors`: see [`peft`]), in `options.dtype`
/// (f32, f16 or bf16). An adapter PEFT cannot hold (mis-shaped tensors, a layer adapted twice)
/// is refused.
pub fn export_peft(
    adapter: &LoraAdapter,
    out: &Path,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    if let Some(problem) = adapter.problem() {
        return Err(ExportError::Unexpressible(format!(
            "the adapter: {problem}"
        )));
    }
    atomic::write_dir(out, options.force, |dir| {
        peft::write(adapter, dir, options.dtype)
    })
}

/// Writes `model` with the scoring `head` in place of its language-model head, as a Hugging
/// Face token classifier (`LlamaForTokenClassification` / `Qwen2ForTokenClassification`, which
/// `AutoModelForTokenClassification` loads): the decoder's tensors as [`export`] writes them,
/// `score.weight` `[labels, hidden]` and `score.bias` `[labels]`, `num_labels` and `id2label`
/// in `config.json`, and no `lm_head.weight` (the config says tied embeddings: there is no
/// output head). Hugging Face format only; GGUF has no token classifiers.
pub fn export_token_classifier(
    model: &Pretrained,
    head: &ScoreHead,
    out: &Path,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    if options.format != Format::Hf {
        return Err(ExportError::Unexpressible(
            "a token classifier (a process reward model) exports as a Hugging Face directory \
             only: GGUF has no token-classification head"
                .into(),
        ));
    }
    model.validate().map_err(|e| {
        ExportError::Unexpressible(format!("the model is not a valid decoder: {e}"))
    })?;
    head.validate(model.config.hidden_size)
        .map_err(|e| ExportError::Unexpressible(format!("the scoring head: {e}")))?;
    atomic::write_dir(out, options.force, |dir| {
        hf::write(model, Some(head), dir, options)
    })
}
