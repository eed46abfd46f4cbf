//! [`PolicyUpdate`] as bytes, for a weights edge between processes: a JSON header (version,
//! architecture and, the first time on an edge, the text codec: the alphabet, or the
//! tokenizer.json, special tokens and chat template of a checkpoint) followed by the
//! parameters as little-endian `f32` in [`crate::flat`] order. Never a pointer: the receiver
//! builds its own model of that architecture and loads the values into it.
//!
//! A LoRA update ([`PolicyWeights::Lora`]) names its base by SHA-256 and carries the adapters'
//! `A` and `B` (with the rank, targets and scale in the header); the first update of a base on
//! an edge carries the base's values too ([`UpdateEncoder`]). The receiver keeps the last base
//! it received and refuses adapters for another, naming the hash.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use hicra_model::{CharTokenizer, CheckpointInfo, Device, Llama, ModelConfig, RuntimeBackend};
use hicra_pretrained::{ChatTemplate, LlamaConfig, SpecialTokens, Tokenizer};
use serde::{Deserialize, Serialize};

use crate::codec::TextCodec;
use crate::flat;
use crate::policy::{PolicyUpdate, PolicyWeights, SharedBase};

mod lora;

#[derive(Serialize, Deserialize)]
enum CodecWire {
    Chars {
        alphabet: String,
    },
    Pretrained {
        config: Box<LlamaConfig>,
        tokenizer_json: String,
        special: SpecialTokens,
        chat_template: Option<String>,
        dtypes: BTreeMap<String, usize>,
    },
}

#[derive(Serialize, Deserialize)]
struct Header {
    version: u64,
    config: ModelConfig,
    codec: Option<CodecWire>,
    values: usize,
    /// Absent: the values are the whole model's.
    #[serde(default)]
    lora: Option<lora::LoraHeader>,
}

fn codec_wire(codec: &TextCodec) -> Result<CodecWire, String> {
    Ok(match codec {
        TextCodec::Chars(t) => CodecWire::Chars {
            alphabet: t.alphabet().iter().collect(),
        },
        TextCodec::Pretrained(info) => CodecWire::Pretrained {
            config: Box::new(info.config.clone()),
            tokenizer_json: info
                .tokenizer
                .inner()
                .to_string(false)
                .map_err(|e| format!("writing the tokenizer: {e}"))?,
            special: info.tokenizer.special_tokens().clone(),
            chat_template: info
                .chat_template_jinja
                .clone()
                .or_else(|| Some(info.chat_template.to_jinja())),
            dtypes: info.dtypes.clone(),
        },
    })
}

fn codec_from(wire: CodecWire) -> Result<TextCodec, String> {
    Ok(match wire {
        CodecWire::Chars { alphabet } => TextCodec::Chars(CharTokenizer::new(&alphabet)),
        CodecWire::Pretrained {
            config,
            tokenizer_json,
            special,
            chat_template,
            dtypes,
        } => {
            let inner = tokenizers::Tokenizer::from_str(&tokenizer_json)
                .map_err(|e| format!("reading the tokenizer: {e}"))?;
            let tokenizer = Tokenizer::new(inner, special).map_err(|e| e.to_string())?;
            TextCodec::Pretrained(Box::new(CheckpointInfo {
                config: *config,
                tokenizer,
                chat_template: ChatTemplate::of_checkpoint(chat_template.as_deref()),
                chat_template_jinja: chat_template,
                dtypes,
            }))
        }
    })
}

/// The bytes of `update`: `with_codec` includes its text codec (needed once per edge), and
/// for a LoRA update `with_base` its base (needed once per edge and base), the adapters always.
pub fn encode_update(
    update: &PolicyUpdate,
    with_codec: bool,
    with_base: bool,
) -> Result<Vec<u8>, String> {
    let (values, lora) = match &update.weights {
        PolicyWeights::Whole(_) => (flat::parameters(&update.model()), None),
        PolicyWeights::Lora(lora) => {
            let (header, values) = lora::encode(lora, with_base);
            (values, Some(header))
        }
    };
    let header = Header {
        version: update.version,
        config: update.config.clone(),
        codec: with_codec.then(|| codec_wire(&update.codec)).transpose()?,
        values: values.len(),
        lora,
    };
    let json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(8 + json.len() + 4 * values.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Encodes the updates of one edge: the codec with the first, a LoRA base with the first
/// update of that base (every receiver of the edge decodes every message, in order).
#[derive(Default)]
pub struct UpdateEncoder {
    codec_sent: bool,
    base_sent: Option<String>,
}

impl UpdateEncoder {
    pub fn encode(&mut self, update: &PolicyUpdate) -> Result<Vec<u8>, String> {
        let base = match &update.weights {
            PolicyWeights::Lora(lora) => Some(&lora.base.sha256),
            PolicyWeights::Whole(_) => None,
        };
        let with_base = base.is_some() && base != self.base_sent.as_ref();
        let bytes = encode_update(update, !self.codec_sent, with_base)?;
        self.codec_sent = true;
        if with_base {
            self.base_sent = base.cloned();
        }
        Ok(bytes)
    }
}

/// Rebuilds updates on the receiving process, keeping the codec the first one brought and
/// the last LoRA base received.
pub struct UpdateDecoder {
    codec: Option<Arc<TextCodec>>,
    base: Option<Arc<SharedBase>>,
    device: Device,
}

impl UpdateDecoder {
    /// Models are built on `device` (the receiving sampler moves them to its own).
    pub fn new(device: Device) -> Self {
        Self {
            codec: None,
            base: None,
            device,
        }
    }

    pub fn decode(&mut self, bytes: &[u8]) -> Result<PolicyUpdate, String> {
        let bad = |what: &str| format!("a weights message {what}");
        let len = u64::from_le_bytes(
            bytes
                .get(..8)
                .ok_or_else(|| bad("shorter than its header"))?
                .try_into()
                .expect("8 bytes"),
        ) as usize;
        let json = bytes
            .get(8..8 + len)
            .ok_or_else(|| bad("cut inside its header"))?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| bad(&format!("with a bad header: {e}")))?;
        let body = &bytes[8 + len..];
        if body.len() != 4 * header.values {
            return Err(bad(&format!(
                "of {} bytes for {} values",
                body.len(),
                header.values
            )));
        }
        if let Some(codec) = header.codec {
            self.codec = Some(Arc::new(codec_from(codec)?));
        }
        let codec = self
            .codec
            .clone()
            .ok_or_else(|| bad("arrived before the one with the tokenizer"))?;
        let values: Vec<f32> = body
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        header.config.validate()?;
        let blank = || Llama::<RuntimeBackend>::init(&header.config, 0, &self.device);
        let Some(lora) = header.lora else {
            let model = flat::load_parameters(blank(), &values)?;
            return Ok(PolicyUpdate::whole(
                header.version,
                model,
                codec,
                header.config,
            ));
        };
        let with_base = lora.with_base;
        let lora = lora::decode(lora, &values, blank, self.base.as_ref())?;
        if with_base {
            self.base = Some(lora.base.clone());
        }
        Ok(PolicyUpdate {
            version: header.version,
            weights: PolicyWeights::Lora(lora),
            codec,
            config: header.config,
        })
    }
}

#[cfg(test)]
mod tests;
