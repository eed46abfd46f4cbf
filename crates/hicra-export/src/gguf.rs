//! A model as llama.cpp reads it: `ARCH.*` hyper-parameters, `tokenizer.ggml.*` vocabulary,
//! tensors under llama.cpp's names with Q/K rows in the family's layout.

use std::path::Path;

use hicra_pretrained::gguf::{gguf_name, pre_tokenizer_name};

use crate::dtype::Q8_0_BLOCK;
use crate::gguf_writer::{self, Tensor, Value};
use crate::layout::{Family, tensors_in};
use crate::{ExportDtype, ExportError, Pretrained};

const TOKEN_NORMAL: i32 = 1;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;
const TOKEN_UNUSED: i32 = 5;

/// ggml type codes.
const GGML_F32: u32 = 0;
const GGML_F16: u32 = 1;
const GGML_Q8_0: u32 = 8;
const GGML_BF16: u32 = 30;

pub fn write(model: &Pretrained, path: &Path, dtype: ExportDtype) -> Result<(), ExportError> {
    let family = Family::of(model)?;
    let mut metadata = hyper_parameters(model, family, dtype);
    metadata.extend(tokenizer_metadata(model)?);
    let tensors = tensors_in(model, family.gguf_layout())?
        .into_iter()
        .map(|(name, t)| {
            let gguf = gguf_name(&name).ok_or_else(|| {
                ExportError::Unexpressible(format!("tensor {name} has no GGUF name"))
            })?;
            let row = *t.shape.last().unwrap_or(&0);
            let stored = match dtype {
                _ if t.shape.len() == 1 => ExportDtype::F32,
                // a row that is not whole blocks stays exact
                ExportDtype::Q8_0 if row % Q8_0_BLOCK != 0 => ExportDtype::F32,
                other => other,
            };
            let ggml_type = match stored {
                ExportDtype::F32 => GGML_F32,
                ExportDtype::F16 => GGML_F16,
                ExportDtype::Bf16 => GGML_BF16,
                ExportDtype::Q8_0 => GGML_Q8_0,
            };
            Ok(Tensor {
                name: gguf,
                shape: t.shape.clone(),
                ggml_type,
                data: stored.encode(&t.data),
            })
        })
        .collect::<Result<Vec<_>, ExportError>>()?;
    gguf_writer::write(path, &metadata, &tensors)
}

fn hyper_parameters(
    model: &Pretrained,
    family: Family,
    dtype: ExportDtype,
) -> Vec<(String, Value)> {
    let c = &model.config;
    let arch = family.gguf_name();
    let u = |n: usize| Value::U32(n as u32);
    // llama.cpp's `llama_ftype`: all F32, mostly F16, mostly Q8_0, mostly BF16
    let file_type = match dtype {
        ExportDtype::F32 => 0,
        ExportDtype::F16 => 1,
        ExportDtype::Q8_0 => 7,
        ExportDtype::Bf16 => 32,
    };
    let mut out = vec![
        ("general.architecture".to_string(), Value::Str(arch.into())),
        (
            "general.name".to_string(),
            Value::Str("hicra export".into()),
        ),
        ("general.file_type".to_string(), Value::U32(file_type)),
    ];
    let keyed = [
        ("context_length", u(c.max_position_embeddings)),
        ("embedding_length", u(c.hidden_size)),
        ("block_count", u(c.num_layers)),
        ("feed_forward_length", u(c.intermediate_size)),
        ("rope.dimension_count", u(c.head_dim)),
        ("rope.freq_base", Value::F32(c.rope_theta)),
        ("attention.head_count", u(c.num_heads)),
        ("attention.head_count_kv", u(c.num_kv_heads)),
        ("attention.key_length", u(c.head_dim)),
        ("attention.value_length", u(c.head_dim)),
        (
            "attention.layer_norm_rms_epsilon",
            Value::F32(c.rms_norm_eps),
        ),
        ("vocab_size", u(c.vocab_size)),
    ];
    out.extend(keyed.into_iter().map(|(k, v)| (format!("{arch}.{k}"), v)));
    out
}

/// The vocabulary as llama.cpp's byte-level BPE (`gpt2`) metadata.
fn tokenizer_metadata(model: &Pretrained) -> Result<Vec<(String, Value)>, ExportError> {
    let tokenizer = &model.tokenizer;
    let inner = tokenizer.inner();
    let cannot = |why: String| ExportError::Unexpressible(format!("the tokenizer in GGUF: {why}"));
    let model_json = serde_json::to_value(inner.get_model())
        .map_err(|e| cannot(format!("cannot read its model: {e}")))?;
    if model_json.get("type").and_then(|t| t.as_str()) != Some("BPE") {
        return Err(cannot("only BPE vocabularies have a GGUF form".into()));
    }
    let byte_level = serde_json::to_value(inner.get_decoder())
        .is_ok_and(|d| d.get("type").and_then(|t| t.as_str()) == Some("ByteLevel"));
    if !byte_level {
        return Err(cannot(
            "llama.cpp's `gpt2` model is byte-level BPE; this one decodes otherwise".into(),
        ));
    }
    let pre = pre_tokenizer_name(inner).ok_or_else(|| {
        cannot(
            "its pre-tokenizer has no llama.cpp name (known: smollm, gpt-2, llama-bpe, qwen2)"
                .into(),
        )
    })?;
    let merges = merges_of(&model_json).map_err(cannot)?;
    let added = inner.get_added_tokens_decoder();
    let mut tokens = Vec::with_capacity(model.config.vocab_size);
    let mut types = Vec::with_capacity(model.config.vocab_size);
    for id in 0..tokenizer.vocab_size() as u32 {
        tokens.push(
            tokenizer
                .id_to_token(id)
                .ok_or_else(|| cannot(format!("id {id} has no token")))?,
        );
        types.push(match added.get(&id) {
            Some(t) if t.special => TOKEN_CONTROL,
            Some(_) => TOKEN_USER_DEFINED,
            None => TOKEN_NORMAL,
        });
    }
    // embedding rows beyond the vocabulary get placeholder tokens, as llama.cpp's converter does
    for id in tokens.len()..model.config.vocab_size {
        tokens.push(format!("[PAD{id}]"));
        types.push(TOKEN_UNUSED);
    }
    let special = tokenizer.special_tokens();
    let mut out = vec![
        (
            "tokenizer.ggml.model".to_string(),
            Value::Str("gpt2".into()),
        ),
        ("tokenizer.ggml.pre".to_string(), Value::Str(pre.into())),
        ("tokenizer.ggml.tokens".to_string(), Value::Strings(tokens)),
        ("tokenizer.ggml.token_type".to_string(), Value::I32s(types)),
        ("tokenizer.ggml.merges".to_string(), Value::Strings(merges)),
    ];
    if let Some(bos) = special.bos {
        out.push(("tokenizer.ggml.bos_token_id".into(), Value::U32(bos)));
    }
    // GGUF names three ends of generation; a model with more keeps the first three
    let ends = ["eos", "eot", "eom"];
    for (key, id) in ends.iter().zip(&model.config.eos_token_ids) {
        out.push((format!("tokenizer.ggml.{key}_token_id"), Value::U32(*id)));
    }
    if let Some(pad) = special.pad {
        out.push(("tokenizer.ggml.padding_token_id".into(), Value::U32(pad)));
    }
    out.push((
        "tokenizer.ggml.add_bos_token".into(),
        Value::Bool(special.add_bos),
    ));
    let jinja = model
        .chat_template_jinja
        .clone()
        .unwrap_or_else(|| model.chat_template.to_jinja());
    out.push(("tokenizer.chat_template".into(), Value::Str(jinja)));
    Ok(out)
}

/// BPE merges as `"a b"` lines, from either serialization `tokenizers` uses (pairs or lines).
fn merges_of(model_json: &serde_json::Value) -> Result<Vec<String>, String> {
    let Some(merges) = model_json.get("merges").and_then(|m| m.as_array()) else {
        return Ok(vec![]);
    };
    merges
        .iter()
        .map(|m| match m {
            serde_json::Value::String(line) => Ok(line.clone()),
            serde_json::Value::Array(pair) => match pair.as_slice() {
                [serde_json::Value::String(a), serde_json::Value::String(b)] => {
                    Ok(format!("{a} {b}"))
                }
                _ => Err(format!("merge {m} is not a pair of tokens")),
            },
            _ => Err(format!("merge {m} is not a pair of tokens")),
        })
        .collect()
}
