//! Token classifiers: a Llama-family decoder whose final hidden state at every position goes
//! through a small linear *scoring head* instead of the language-model head. This is the
//! layout of transformers' `LlamaForTokenClassification` / `Qwen2ForTokenClassification`
//! (`GenericForTokenClassification` in `modeling_layers.py`): the decoder's tensors under the
//! usual `model.` names, plus `score.weight` `[num_labels, hidden_size]` and `score.bias`
//! `[num_labels]`, and no `lm_head.weight`. A process reward model is stored this way, with one
//! label.
//!
//! [`load_token_classifier`] reads such a directory into the decoder ([`Pretrained`], whose
//! config says tied embeddings since a classifier has no output head to untie) and the
//! [`ScoreHead`].

use std::path::Path;

use crate::names::{LM_HEAD, SCORE_BIAS, SCORE_WEIGHT};
use crate::{HostTensor, LoadError, Pretrained, hf};

/// The scoring head of a token classifier: `logits = hidden · weightᵀ + bias` per position.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreHead {
    /// One name per output (`config.json`'s `id2label`, in id order).
    pub labels: Vec<String>,
    /// `[num_labels, hidden_size]`, transformers' `nn.Linear` layout.
    pub weight: HostTensor,
    /// `[num_labels]`.
    pub bias: HostTensor,
}

impl ScoreHead {
    /// Checks the shapes against `hidden_size` and the label count, and that every value is
    /// finite.
    pub fn validate(&self, hidden_size: usize) -> Result<(), LoadError> {
        let n = self.labels.len();
        if n == 0 {
            return Err(LoadError::Config(
                "a token classifier needs at least one label".into(),
            ));
        }
        for (name, tensor, shape) in [
            (SCORE_WEIGHT, &self.weight, vec![n, hidden_size]),
            (SCORE_BIAS, &self.bias, vec![n]),
        ] {
            if tensor.shape != shape {
                return Err(LoadError::tensor(
                    name,
                    format!(
                        "has shape {:?}; {n} label(s) on hidden size {hidden_size} need {shape:?}",
                        tensor.shape
                    ),
                ));
            }
            tensor.check_finite(name)?;
        }
        Ok(())
    }
}

/// Whether `architecture` (a `config.json` class name) is a token classifier.
pub fn is_token_classifier(architecture: &str) -> bool {
    architecture.ends_with("ForTokenClassification")
}

/// Loads a Hugging Face token-classifier directory: the decoder (validated like any
/// checkpoint) and its scoring head. A directory of another architecture is an error.
pub fn load_token_classifier(dir: &Path) -> Result<(Pretrained, ScoreHead), LoadError> {
    if !dir.is_dir() {
        return Err(if dir.exists() {
            LoadError::UnknownFormat {
                path: dir.to_path_buf(),
            }
        } else {
            LoadError::MissingFile {
                path: dir.to_path_buf(),
            }
        });
    }
    let mut decoder = hf::load(dir)?;
    if !is_token_classifier(&decoder.config.architecture) {
        return Err(LoadError::UnsupportedFeature(format!(
            "{} holds a {} (config.json `architectures`), not a token classifier \
             (LlamaForTokenClassification, Qwen2ForTokenClassification)",
            dir.display(),
            decoder.config.architecture
        )));
    }
    let mut take = |name: &str| {
        decoder
            .tensors
            .remove(name)
            .ok_or_else(|| LoadError::tensor(name, "missing from the token classifier"))
    };
    let weight = take(SCORE_WEIGHT)?;
    let bias = take(SCORE_BIAS)?;
    // A classifier has no language-model head: transformers saves none whatever
    // `tie_word_embeddings` says, so the decoder is described as tied (nothing to untie).
    decoder.tensors.remove(LM_HEAD);
    decoder.config.tie_word_embeddings = true;
    let labels = labels_of(dir, weight.shape.first().copied().unwrap_or(0))?;
    let head = ScoreHead {
        labels,
        weight,
        bias,
    };
    decoder.validate()?;
    head.validate(decoder.config.hidden_size)?;
    Ok((decoder, head))
}

/// The label names of `config.json`'s `id2label` (`LABEL_i` where it has none, as
/// transformers names them).
fn labels_of(dir: &Path, count: usize) -> Result<Vec<String>, LoadError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| LoadError::io(&path, e))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| LoadError::Json {
            path: path.clone(),
            source,
        })?;
    let names = config.get("id2label").and_then(|v| v.as_object());
    Ok((0..count)
        .map(|i| {
            names
                .and_then(|m| m.get(&i.to_string()))
                .and_then(|v| v.as_str())
                .map_or_else(|| format!("LABEL_{i}"), str::to_string)
        })
        .collect())
}
