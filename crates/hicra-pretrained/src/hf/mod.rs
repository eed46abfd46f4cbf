//! Hugging Face checkpoint directories: `config.json`, safetensors weights, `tokenizer.json`,
//! and the chat template of `tokenizer_config.json`.

mod config;
mod weights;

pub use config::HfConfig;
pub use weights::read_weights;

use std::path::Path;

use crate::{LoadError, Pretrained, SpecialTokens, Tokenizer, names};

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::MissingFile {
            path: path.to_path_buf(),
        },
        _ => LoadError::io(path, e),
    })?;
    serde_json::from_str(&text).map_err(|source| LoadError::Json {
        path: path.to_path_buf(),
        source,
    })
}

fn read_optional_json(path: &Path) -> Result<Option<serde_json::Value>, LoadError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Loads a Hugging Face directory (Q/K rows in rotate-half order).
pub fn load(dir: &Path) -> Result<Pretrained, LoadError> {
    let hf: HfConfig = read_json(&dir.join("config.json"))?;
    let generation = read_optional_json(&dir.join("generation_config.json"))?;
    let extra_eos = generation
        .as_ref()
        .and_then(|g| g.get("eos_token_id").cloned())
        .and_then(|v| serde_json::from_value::<config::TokenIds>(v).ok())
        .map(|ids| ids.to_vec())
        .unwrap_or_default();
    let mut config = hf.to_llama(&extra_eos)?;
    let mut tensors = read_weights(dir)?;
    if config.tie_word_embeddings {
        tensors.remove(names::LM_HEAD); // some checkpoints store the tied head twice
    }
    let tokenizer_path = dir.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        return Err(LoadError::MissingFile {
            path: tokenizer_path,
        });
    }
    let inner = tokenizers::Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| LoadError::Tokenizer(format!("{}: {e}", tokenizer_path.display())))?;
    config.add_bos = adds_bos(&inner, config.bos_token_id);
    let special = SpecialTokens {
        bos: config.bos_token_id,
        eos: config.eos_token_ids.clone(),
        pad: None,
        add_bos: config.add_bos,
    };
    let tokenizer = Tokenizer::new(inner, special)?;
    let tokenizer_config = read_optional_json(&dir.join("tokenizer_config.json"))?;
    let jinja = tokenizer_config
        .as_ref()
        .and_then(|c| c.get("chat_template"))
        .and_then(|t| t.as_str());
    Ok(Pretrained::of_checkpoint(config, tensors, tokenizer, jinja))
}

/// Whether the tokenizer's post-processor puts BOS in front of every encoding.
fn adds_bos(inner: &tokenizers::Tokenizer, bos: Option<u32>) -> bool {
    let Some(bos) = bos else { return false };
    inner
        .encode("a", true)
        .is_ok_and(|e| e.get_ids().first() == Some(&bos))
}
