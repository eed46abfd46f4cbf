//! A process reward model on disk: a Hugging Face token-classifier directory plus `prm.json`.
//!
//! ```text
//!  DIR/config.json             LlamaForTokenClassification (Qwen2ForTokenClassification with
//!                              q/k/v biases), num_labels 1, id2label {0: "correct"}
//!  DIR/model.safetensors       the decoder under transformers' `model.*` names, and
//!                              `score.weight` [1, d], `score.bias` [1]; no `lm_head.weight`
//!  DIR/tokenizer*.json, special_tokens_map.json, generation_config.json
//!  DIR/prm.json                how steps are cut, the target, the base model, training figures,
//!                              the codec's identity
//! ```
//!
//! transformers loads the directory with `AutoModelForTokenClassification.from_pretrained`;
//! its `logits[0, t, 0]` is this crate's logit at token `t` (the head is transformers'
//! `GenericForTokenClassification.score`, an `nn.Linear(hidden, num_labels)` with a bias, read
//! after the final norm; its dropout is off in `eval()`). `scripts/check-prm-export.py`
//! compares the two.
//!
//! A PRM trained from a character-alphabet policy exports its alphabet as a byte-level
//! vocabulary (ASCII alphabets only) with the one-message-per-line prompt format, so
//! transformers reads it; `prm.json` keeps the alphabet itself, and [`load`] rebuilds the
//! character codec from it, so prompts are encoded exactly as in training. Every codec is
//! fingerprinted ([`codec_identity`]: each id's text, the stop tokens, and for a pretrained
//! tokenizer a probe conversation through its chat template); [`load`] refuses a directory
//! whose tokenizer files no longer give the fingerprint recorded at save time.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use hicra_export::{ExportOptions, Format, ScoreHead, export_token_classifier};
use hicra_messages::{ChatMessage, Prompt};
use hicra_model::{CharTokenizer, CheckpointInfo, Device, Llama, RuntimeBackend, llama_config_of};
use hicra_pretrained::{ChatTemplate, HostTensor, RopeLayout, Tokenizer};
use hicra_tasks::steps::Segmentation;
use hicra_train::TextCodec;
use serde::{Deserialize, Serialize};

use crate::model::ProcessRewardModel;
use crate::train::{PrmTarget, PrmTrainConfig};

/// The description file of a PRM directory.
pub const PRM_FILE: &str = "prm.json";
/// The name of the head's one output in `config.json`'s `id2label`.
pub const LABEL: &str = "correct";
/// The version of `prm.json` this crate writes and reads.
pub const FORMAT: u32 = 1;

/// Which codec a PRM reads text with, and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodecIdentity {
    /// `chars` (a character alphabet) or `pretrained` (a checkpoint's tokenizer and chat
    /// template).
    pub kind: String,
    /// The alphabet of a `chars` codec, in id order (ids 2..).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabet: Option<String>,
    /// Number of token ids.
    pub vocab_size: usize,
    /// FNV-1a (64-bit, hex) of what the codec does: see [`codec_identity`].
    pub fingerprint: String,
}

/// What `prm.json` says about a PRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrmInfo {
    /// Version of this file's layout ([`FORMAT`]).
    pub format: u32,
    /// How responses are cut into steps: the PRM must be fed steps cut the same way.
    pub segmentation: Segmentation,
    /// What its logits were trained to predict.
    pub target: PrmTarget,
    /// The policy its backbone came from (a `--model` spec).
    pub base_model: String,
    /// The training configuration, when it was trained by [`crate::train::train`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_config: Option<PrmTrainConfig>,
    /// Final training and held-out figures (finite values only).
    #[serde(default)]
    pub training: BTreeMap<String, f64>,
    /// Longest sequence the saved model took (its RoPE tables at save time).
    pub max_seq_len: usize,
    /// The codec (filled in by [`save`]).
    pub codec: CodecIdentity,
}

impl PrmInfo {
    /// A description with no training figures; [`save`] fills in the codec and context.
    pub fn new(segmentation: Segmentation, target: PrmTarget, base_model: &str) -> Self {
        Self {
            format: FORMAT,
            segmentation,
            target,
            base_model: base_model.to_string(),
            train_config: None,
            training: BTreeMap::new(),
            max_seq_len: 0,
            codec: CodecIdentity {
                kind: String::new(),
                alphabet: None,
                vocab_size: 0,
                fingerprint: String::new(),
            },
        }
    }
}

/// 64-bit FNV-1a (Fowler, Noll & Vo), a stable, dependency-free fingerprint.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The conversation a pretrained codec's fingerprint encodes (system and user turns, the
/// assistant turn opened).
fn probe_prompt() -> Prompt {
    Prompt {
        messages: vec![
            ChatMessage::new("system", "You check arithmetic."),
            ChatMessage::new("user", "What is 12 + 30? Think step by step."),
        ],
        ..Prompt::new("codec-probe", "What is 12 + 30?", "42")
    }
}

/// The codec's identity: its kind, alphabet (characters) and a fingerprint over the text of
/// every id, the stop tokens, and (pretrained codecs) the ids of a probe conversation through
/// the chat template, BOS included.
pub fn codec_identity(codec: &TextCodec) -> Result<CodecIdentity, String> {
    let mut hash = Fnv::new();
    let vocab_size = codec.vocab_size();
    for id in 0..vocab_size as u32 {
        let (text, _) = codec.decode_with_spans(&[id])?;
        hash.write(text.as_bytes());
        hash.write(&[0xff]);
    }
    for stop in codec.stop_tokens() {
        hash.write(&stop.to_le_bytes());
    }
    let (kind, alphabet) = match codec {
        TextCodec::Chars(t) => ("chars", Some(t.alphabet().iter().collect::<String>())),
        TextCodec::Pretrained(_) => {
            for id in codec.encode_prompt(&probe_prompt())? {
                hash.write(&id.to_le_bytes());
            }
            ("pretrained", None)
        }
    };
    if let Some(a) = &alphabet {
        hash.write(a.as_bytes());
    }
    Ok(CodecIdentity {
        kind: kind.to_string(),
        alphabet,
        vocab_size,
        fingerprint: format!("{:016x}", hash.0),
    })
}

/// Writes `prm` (read with `codec`) to `dir` as a token-classifier directory with `prm.json`
/// (`info`, with its codec identity and context filled in; non-finite figures dropped).
/// An existing `dir` is replaced only with `force`. Returns the description written.
pub fn save<B: Backend>(
    dir: &Path,
    prm: &ProcessRewardModel<B>,
    codec: &TextCodec,
    info: &PrmInfo,
    force: bool,
) -> Result<PrmInfo, String> {
    let identity = codec_identity(codec)?;
    let (tokenizer, template, jinja, mut config) = match codec {
        TextCodec::Chars(t) => {
            let tokenizer = Tokenizer::of_characters(t.alphabet())
                .map_err(|e| format!("the PRM's character alphabet cannot be exported: {e}"))?;
            let config = llama_config_of(&prm.config, &tokenizer);
            (tokenizer, ChatTemplate::Lines, None, config)
        }
        TextCodec::Pretrained(ckpt) => {
            let mut config = ckpt.config.clone();
            config.rope_layout = RopeLayout::HalfSplit; // the layout hicra computes in
            (
                ckpt.tokenizer.clone(),
                ckpt.chat_template.clone(),
                ckpt.chat_template_jinja.clone(),
                config,
            )
        }
    };
    config.tie_word_embeddings = true; // a PRM has no output head
    let d = prm.hidden_size();
    if config.hidden_size != d || config.vocab_size != prm.config.vocab_size {
        return Err(format!(
            "the codec's checkpoint (hidden {}, vocabulary {}) is not the PRM's backbone \
             (hidden {d}, vocabulary {})",
            config.hidden_size, config.vocab_size, prm.config.vocab_size
        ));
    }
    let pretrained = prm
        .backbone
        .to_pretrained(config, tokenizer, template, jinja);
    let weights: Vec<f32> = prm
        .head_weight
        .val()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| format!("reading the PRM head: {e:?}"))?;
    let head = ScoreHead {
        labels: vec![LABEL.to_string()],
        // [d, 1] row-major holds the same values as its transpose [1, d]
        weight: HostTensor::new(vec![1, d], weights, "F32")?,
        bias: HostTensor::new(vec![1], vec![prm.bias_value() as f32], "F32")?,
    };
    let options = ExportOptions {
        force,
        ..ExportOptions::new(Format::Hf)
    };
    export_token_classifier(&pretrained, &head, dir, &options)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = info.clone();
    written.format = FORMAT;
    written.codec = identity;
    written.max_seq_len = prm.max_seq_len();
    written.training.retain(|_, v| v.is_finite());
    let path = dir.join(PRM_FILE);
    let text = serde_json::to_string_pretty(&written).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(written)
}

/// Reads `dir`'s `prm.json`.
pub fn read_info(dir: &Path) -> Result<PrmInfo, String> {
    let path = dir.join(PRM_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (a process reward model directory is written by hicra-prm's store::save)",
            path.display()
        )
    })?;
    let info: PrmInfo =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if info.format != FORMAT {
        return Err(format!(
            "{}: format {} (this build reads format {FORMAT})",
            path.display(),
            info.format
        ));
    }
    Ok(info)
}

/// Loads the PRM in `dir` on `device` with RoPE tables for `max_seq_len` positions (the saved
/// context when `None`), with its codec and description. Errors when the tokenizer files no
/// longer match the codec recorded in `prm.json`.
pub fn load(
    dir: &Path,
    max_seq_len: Option<usize>,
    device: &Device,
) -> Result<(ProcessRewardModel<RuntimeBackend>, TextCodec, PrmInfo), String> {
    let info = read_info(dir)?;
    let (decoder, head) = hicra_pretrained::load_token_classifier(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if head.labels.len() != 1 {
        return Err(format!(
            "{}: a PRM has one output, this classifier has {} ({:?})",
            dir.display(),
            head.labels.len(),
            head.labels
        ));
    }
    let len = max_seq_len.or(Some(info.max_seq_len).filter(|&n| n > 0));
    let backbone = Llama::<RuntimeBackend>::from_pretrained(&decoder, len, device)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let config = hicra_model::model_config(&decoder.config, len)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let d = decoder.config.hidden_size;
    let prm = ProcessRewardModel {
        backbone,
        head_weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(head.weight.data.clone(), [d, 1]),
            device,
        )),
        head_bias: Param::from_tensor(Tensor::from_data(
            TensorData::new(head.bias.data.clone(), [1]),
            device,
        )),
        config,
    };
    let codec = match info.codec.kind.as_str() {
        "chars" => {
            let alphabet = info
                .codec
                .alphabet
                .as_deref()
                .ok_or_else(|| format!("{}: a `chars` codec without its alphabet", PRM_FILE))?;
            TextCodec::Chars(CharTokenizer::new(alphabet))
        }
        "pretrained" => TextCodec::Pretrained(Box::new(CheckpointInfo {
            dtypes: decoder.dtype_histogram(),
            config: decoder.config,
            tokenizer: decoder.tokenizer,
            chat_template: decoder.chat_template,
            chat_template_jinja: decoder.chat_template_jinja,
        })),
        other => {
            return Err(format!(
                "{}: unknown codec kind `{other}` (chars, pretrained)",
                dir.join(PRM_FILE).display()
            ));
        }
    };
    let found = codec_identity(&codec)?;
    if found != info.codec {
        return Err(format!(
            "{}: its tokenizer files give codec {} ({} ids), but the PRM was trained with {} \
             ({} ids): the tokenizer was changed after saving",
            dir.display(),
            found.fingerprint,
            found.vocab_size,
            info.codec.fingerprint,
            info.codec.vocab_size
        ));
    }
    Ok((prm, codec, info))
}

#[cfg(test)]
mod tests;
