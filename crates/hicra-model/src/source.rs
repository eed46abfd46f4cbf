//! Where a policy comes from, as users write it on the command line or in TOML:
//!
//! * a path to a `.gguf` file or a Hugging Face directory: pretrained weights, tokenizer and
//!   chat template;
//! * `smollm2`: the SmolLM2-135M-Instruct GGUF fetched by `scripts/fetch-model.sh`
//!   (`$HICRA_SMOLLM2_GGUF`, else `models/SmolLM2-135M-Instruct.Q4_1.gguf`);
//! * `random:smollm2-135m` or `random:tiny`: that architecture, randomly initialised (seeded),
//!   without a tokenizer: for speed measurements and tests, where weights do not matter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::backend::Backend;
use hicra_pretrained::{ChatTemplate, LlamaConfig, Tokenizer};

use crate::config::ModelConfig;
use crate::llama::Llama;
use crate::pretrained::{PretrainedModelError, model_config};

/// File name of the SmolLM2 checkpoint `scripts/fetch-model.sh` places in `models/`.
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    Checkpoint(PathBuf),
    Random { shape: String, seed: u64 },
}

impl ModelSource {
    /// Parses `PATH`, `smollm2`, or `random:SHAPE`.
    pub fn parse(text: &str) -> Self {
        if text == "smollm2" {
            return Self::Checkpoint(default_smollm2_path());
        }
        match text.strip_prefix("random:") {
            Some(shape) => Self::Random {
                shape: shape.to_string(),
                seed: 0,
            },
            None => Self::Checkpoint(PathBuf::from(text)),
        }
    }
}

/// `$HICRA_SMOLLM2_GGUF`, else `models/SmolLM2-135M-Instruct.Q4_1.gguf` in the working directory.
pub fn default_smollm2_path() -> PathBuf {
    std::env::var_os("HICRA_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models").join(SMOLLM2_FILE))
}

/// A model on its device, with what the checkpoint said about itself.
pub struct LoadedModel<B: Backend> {
    pub model: Llama<B>,
    pub config: ModelConfig,
    /// The checkpoint's own description; `None` for random models.
    pub checkpoint: Option<CheckpointInfo>,
}

/// What a pretrained checkpoint brings besides its weights.
#[derive(Debug, Clone)]
pub struct CheckpointInfo {
    pub config: LlamaConfig,
    pub tokenizer: Tokenizer,
    pub chat_template: ChatTemplate,
    /// The template's Jinja as the checkpoint stored it (exports write it back verbatim).
    pub chat_template_jinja: Option<String>,
    /// Tensors per storage type (`{"F32": 61, "Q4_1": 210}`).
    pub dtypes: BTreeMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelSourceError {
    #[error(transparent)]
    Pretrained(#[from] PretrainedModelError),
    #[error("unknown random model shape `{0}` (known: smollm2-135m, tiny)")]
    UnknownShape(String),
    #[error("{path} does not exist{hint}")]
    Missing { path: PathBuf, hint: &'static str },
}

/// Loads (or initialises) the model `source` names on `device`, with RoPE tables for
/// `max_seq_len` positions (the checkpoint's context length when `None`).
pub fn load_model<B: Backend>(
    source: &ModelSource,
    max_seq_len: Option<usize>,
    device: &B::Device,
) -> Result<LoadedModel<B>, ModelSourceError> {
    match source {
        ModelSource::Random { shape, seed } => {
            let mut config = match shape.as_str() {
                "smollm2-135m" => ModelConfig::smollm2_135m(),
                "tiny" => ModelConfig::tiny(64),
                other => return Err(ModelSourceError::UnknownShape(other.to_string())),
            };
            if let Some(len) = max_seq_len {
                config.max_seq_len = len;
            }
            Ok(LoadedModel {
                model: Llama::init(&config, *seed, device),
                config,
                checkpoint: None,
            })
        }
        ModelSource::Checkpoint(path) => {
            if !path.exists() {
                let hint = if path.ends_with(SMOLLM2_FILE) {
                    " (run scripts/fetch-model.sh to fetch SmolLM2, or set HICRA_SMOLLM2_GGUF)"
                } else {
                    ""
                };
                return Err(ModelSourceError::Missing {
                    path: path.clone(),
                    hint,
                });
            }
            let pretrained = hicra_pretrained::load(path).map_err(PretrainedModelError::from)?;
            let model = Llama::from_pretrained(&pretrained, max_seq_len, device)?;
            let config = model_config(&pretrained.config, max_seq_len)?;
            let dtypes = pretrained.dtype_histogram();
            Ok(LoadedModel {
                model,
                config,
                checkpoint: Some(CheckpointInfo {
                    config: pretrained.config,
                    tokenizer: pretrained.tokenizer,
                    chat_template: pretrained.chat_template,
                    chat_template_jinja: pretrained.chat_template_jinja,
                    dtypes,
                }),
            })
        }
    }
}
