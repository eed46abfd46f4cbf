//! A Hugging Face checkpoint directory: what transformers' `AutoModelForCausalLM` (or, with a
//! scoring head, `AutoModelForTokenClassification`) and `AutoTokenizer` read, with
//! transformers' tensor names and rotate-half Q/K rows.

use std::collections::BTreeMap;
use std::path::Path;

use hicra_pretrained::names::{LM_HEAD, SCORE_BIAS, SCORE_WEIGHT};
use hicra_pretrained::{RopeLayout, ScoreHead};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::{Value, json};

use crate::json::{json_f32, write_json};
use crate::layout::{Family, tensors_in};
use crate::{ExportDtype, ExportError, ExportOptions, Pretrained, tokenizer_files};

const SINGLE: &str = "model.safetensors";
const INDEX: &str = "model.safetensors.index.json";

/// Writes the directory's files into `dir`; returns their names. With a `head`, the model is
/// a token classifier (`*ForTokenClassification`): the head is written as `score.*`, and no
/// language-model head.
pub fn write(
    model: &Pretrained,
    head: Option<&ScoreHead>,
    dir: &Path,
    options: &ExportOptions,
) -> Result<Vec<String>, ExportError> {
    let dtype = options.dtype;
    let Some(torch_dtype) = dtype.torch_name() else {
        return Err(ExportError::Unexpressible(
            "safetensors has no Q8_0; export Hugging Face weights as f32, f16 or bf16 (Q8_0 is \
             for --format gguf)"
                .into(),
        ));
    };
    let family = Family::of(model)?;
    let mut files = vec![];
    let mut put = |name: &str, value: &Value| -> Result<(), ExportError> {
        write_json(&dir.join(name), value)?;
        files.push(name.to_string());
        Ok(())
    };
    let mut config = config_json(model, family, torch_dtype);
    if let Some(head) = head {
        classifier_config(&mut config, family, head);
    }
    put("config.json", &config)?;
    put("generation_config.json", &generation_config(model))?;
    files.extend(tokenizer_files::write(model, dir)?);
    files.extend(write_weights(
        model,
        head,
        dir,
        dtype,
        options.max_shard_bytes,
    )?);
    Ok(files)
}

/// `config.json`: every field transformers' `LlamaConfig` / `Qwen2Config` needs.
fn config_json(model: &Pretrained, family: Family, torch_dtype: &str) -> Value {
    let c = &model.config;
    let (architecture, model_type) = match family {
        Family::Llama => ("LlamaForCausalLM", "llama"),
        Family::Qwen2 => ("Qwen2ForCausalLM", "qwen2"),
    };
    let mut config = json!({
        "architectures": [architecture],
        "model_type": model_type,
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads,
        "num_key_value_heads": c.num_kv_heads,
        "head_dim": c.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": c.max_position_embeddings,
        "rms_norm_eps": json_f32(c.rms_norm_eps),
        "rope_theta": json_f32(c.rope_theta),
        "rope_scaling": null,
        "tie_word_embeddings": c.tie_word_embeddings,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": true,
        "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_ids.first(),
        "pad_token_id": model.tokenizer.special_tokens().pad,
        "torch_dtype": torch_dtype,
    });
    let extra = match family {
        Family::Llama => json!({ "attention_bias": false, "mlp_bias": false, "pretraining_tp": 1 }),
        Family::Qwen2 => json!({
            "use_sliding_window": false,
            "sliding_window": c.max_position_embeddings,
            "max_window_layers": c.num_layers,
        }),
    };
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// A token classifier's `config.json`: its class, its labels, and tied embeddings (it has no
/// output head; transformers ties nothing in a classifier, and hicra's loader then expects no
/// `lm_head.weight`).
fn classifier_config(config: &mut Value, family: Family, head: &ScoreHead) {
    let architecture = match family {
        Family::Llama => "LlamaForTokenClassification",
        Family::Qwen2 => "Qwen2ForTokenClassification",
    };
    let id2label: serde_json::Map<String, Value> = head
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), json!(l)))
        .collect();
    let label2id: serde_json::Map<String, Value> = head
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), json!(i)))
        .collect();
    config["architectures"] = json!([architecture]);
    config["tie_word_embeddings"] = json!(true);
    config["num_labels"] = json!(head.labels.len());
    config["id2label"] = Value::Object(id2label);
    config["label2id"] = Value::Object(label2id);
}

/// `generation_config.json`: BOS and every token that ends a generation.
fn generation_config(model: &Pretrained) -> Value {
    let c = &model.config;
    let eos = match c.eos_token_ids.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    let mut g = json!({ "bos_token_id": c.bos_token_id, "eos_token_id": eos });
    if let Some(pad) = model.tokenizer.special_tokens().pad {
        g["pad_token_id"] = json!(pad);
    }
    g
}

/// The weights, in one file or in shards of at most `max_shard_bytes` with their index.
fn write_weights(
    model: &Pretrained,
    head: Option<&ScoreHead>,
    dir: &Path,
    dtype: ExportDtype,
    max_shard_bytes: u64,
) -> Result<Vec<String>, ExportError> {
    let st_dtype = match dtype {
        ExportDtype::F32 => Dtype::F32,
        ExportDtype::F16 => Dtype::F16,
        ExportDtype::Bf16 => Dtype::BF16,
        ExportDtype::Q8_0 => unreachable!("refused above"),
    };
    let mut encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors_in(model, RopeLayout::HalfSplit)?
        .into_iter()
        .filter(|(name, _)| head.is_none() || name != LM_HEAD)
        .map(|(name, t)| (name, t.shape.clone(), dtype.encode(&t.data)))
        .collect();
    if let Some(head) = head {
        for (name, t) in [(SCORE_WEIGHT, &head.weight), (SCORE_BIAS, &head.bias)] {
            encoded.push((name.to_string(), t.shape.clone(), dtype.encode(&t.data)));
        }
    }
    let mut shards: Vec<Vec<usize>> = vec![vec![]];
    let mut size = 0u64;
    for (i, (_, _, bytes)) in encoded.iter().enumerate() {
        let len = bytes.len() as u64;
        if size > 0 && size + len > max_shard_bytes {
            shards.push(vec![]);
            size = 0;
        }
        shards.last_mut().expect("one shard at least").push(i);
        size += len;
    }
    let count = shards.len();
    let names: Vec<String> = if count == 1 {
        vec![SINGLE.to_string()]
    } else {
        (1..=count)
            .map(|i| format!("model-{i:05}-of-{count:05}.safetensors"))
            .collect()
    };
    let mut weight_map = BTreeMap::new();
    for (shard, file) in shards.iter().zip(&names) {
        let views = shard
            .iter()
            .map(|&i| {
                let (name, shape, bytes) = &encoded[i];
                weight_map.insert(name.clone(), file.clone());
                TensorView::new(st_dtype, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| ExportError::Unexpressible(format!("{name}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let path = dir.join(file);
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize_to_file(views, Some(metadata), &path)
            .map_err(|e| ExportError::io(&path, std::io::Error::other(e.to_string())))?;
    }
    let mut files = names.clone();
    if count > 1 {
        let total: usize = encoded.iter().map(|(_, _, b)| b.len()).sum();
        write_json(
            &dir.join(INDEX),
            &json!({ "metadata": { "total_size": total }, "weight_map": weight_map }),
        )?;
        files.push(INDEX.to_string());
    }
    Ok(files)
}
