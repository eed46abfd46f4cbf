//! Everything that can go wrong while loading a checkpoint.

use std::path::PathBuf;

/// Why a checkpoint, its tokenizer or its chat template could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is neither a .gguf file nor a directory with config.json")]
    UnknownFormat { path: PathBuf },
    #[error("missing file {path}")]
    MissingFile { path: PathBuf },
    #[error("not a GGUF file (magic bytes {found:?}, expected \"GGUF\")")]
    BadMagic { found: [u8; 4] },
    #[error("GGUF version {0} is not supported (only 2 and 3)")]
    UnsupportedGgufVersion(u32),
    #[error(
        "file is truncated or corrupt: {what} needs bytes {start}..{end} but the file has {len}"
    )]
    Truncated {
        what: String,
        start: u64,
        end: u64,
        len: u64,
    },
    #[error("corrupt file: {0}")]
    Corrupt(String),
    #[error("tensor {tensor}: quantization type {dtype} is not supported (supported: {supported})")]
    UnsupportedDtype {
        tensor: String,
        dtype: String,
        supported: &'static str,
    },
    #[error(
        "architecture {0:?} is not supported (supported: llama, qwen2 / LlamaForCausalLM, Qwen2ForCausalLM)"
    )]
    UnsupportedArchitecture(String),
    #[error("unsupported model feature: {0}")]
    UnsupportedFeature(String),
    #[error("metadata key {key}: {problem}")]
    Metadata { key: String, problem: String },
    #[error("invalid model config: {0}")]
    Config(String),
    #[error("tensor {name}: {problem}")]
    Tensor { name: String, problem: String },
    #[error("tensor {name} holds a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        name: String,
        index: usize,
        value: f32,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("invalid JSON in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl LoadError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn metadata(key: &str, problem: impl Into<String>) -> Self {
        Self::Metadata {
            key: key.to_string(),
            problem: problem.into(),
        }
    }

    pub(crate) fn tensor(name: &str, problem: impl Into<String>) -> Self {
        Self::Tensor {
            name: name.to_string(),
            problem: problem.into(),
        }
    }
}
