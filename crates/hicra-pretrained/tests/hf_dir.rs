//! The Hugging Face directory loader, on checkpoints written from the tiny GGUF: the same
//! weights with Q/K rows un-permuted to rotate-half order, stored as F32/F16/BF16 safetensors
//! (single file or shards), its tokenizer saved as `tokenizer.json`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use hicra_pretrained::{
    HostTensor, LoadError, Pretrained, RopeLayout, permute_rope, unpermute_rope,
};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

fn gguf_model() -> Pretrained {
    hicra_pretrained::load(&common::fixture("tiny_llama.gguf")).unwrap()
}

fn is_qk(name: &str) -> Option<usize> {
    let c = hicra_pretrained::LlamaConfig::tiny();
    if name.ends_with("q_proj.weight") {
        Some(c.num_heads)
    } else if name.ends_with("k_proj.weight") {
        Some(c.num_kv_heads)
    } else {
        None
    }
}

/// The HF version of the GGUF weights, and the dtype each is stored as.
fn hf_tensors(model: &Pretrained) -> BTreeMap<String, (HostTensor, Dtype)> {
    model
        .tensors
        .iter()
        .enumerate()
        .map(|(i, (name, t))| {
            let t = match is_qk(name) {
                Some(heads) => unpermute_rope(t, heads).unwrap(),
                None => t.clone(),
            };
            let dtype = [Dtype::F32, Dtype::F16, Dtype::BF16][i % 3];
            (name.clone(), (t, dtype))
        })
        .collect()
}

fn encode(t: &HostTensor, dtype: Dtype) -> Vec<u8> {
    t.data
        .iter()
        .flat_map(|&v| match dtype {
            Dtype::F32 => v.to_le_bytes().to_vec(),
            Dtype::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
            _ => half::bf16::from_f32(v).to_le_bytes().to_vec(),
        })
        .collect()
}

fn write_shard(path: &Path, tensors: &[(&String, &(HostTensor, Dtype))]) {
    let bytes: Vec<_> = tensors
        .iter()
        .map(|(n, (t, d))| ((*n).clone(), encode(t, *d), t.shape.clone(), *d))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, b, s, d)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn write_hf_dir(dir: &Path, model: &Pretrained, sharded: bool, architecture: &str) {
    let c = &model.config;
    let config = serde_json::json!({
        "architectures": [architecture], "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size, "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads, "num_key_value_heads": c.num_kv_heads,
        "rope_theta": c.rope_theta, "rms_norm_eps": c.rms_norm_eps, "max_position_embeddings": 128,
        "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2, "rope_scaling": null,
        "torch_dtype": "bfloat16"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"chat_template": "{{'<|im_start|>' + m + '<|im_end|>'}}"}"#,
    )
    .unwrap();
    model
        .tokenizer
        .inner()
        .save(dir.join("tokenizer.json"), false)
        .unwrap();
    let tensors = hf_tensors(model);
    let all: Vec<_> = tensors.iter().collect();
    if sharded {
        let (a, b) = all.split_at(all.len() / 2);
        write_shard(&dir.join("model-00001-of-00002.safetensors"), a);
        write_shard(&dir.join("model-00002-of-00002.safetensors"), b);
        let map: BTreeMap<_, _> = all
            .iter()
            .enumerate()
            .map(|(i, (n, _))| {
                (
                    (*n).clone(),
                    format!(
                        "model-0000{}-of-00002.safetensors",
                        1 + usize::from(i >= a.len())
                    ),
                )
            })
            .collect();
        let index = serde_json::json!({"metadata": {}, "weight_map": map});
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    } else {
        write_shard(&dir.join("model.safetensors"), &all);
    }
}

fn check_same_model(dir: &Path, gguf: &Pretrained) {
    let hf = hicra_pretrained::load(dir).unwrap();
    assert_eq!(hf.config.rope_layout, RopeLayout::HalfSplit);
    assert_eq!(hf.config.architecture, "LlamaForCausalLM");
    assert_eq!(hf.config.num_parameters(), gguf.config.num_parameters());
    for (name, (want, dtype)) in hf_tensors(gguf) {
        let got = &hf.tensors[&name];
        assert_eq!(got.shape, want.shape, "{name}");
        assert_eq!(got.dtype, format!("{dtype:?}"));
        let tolerance = match dtype {
            Dtype::F32 => 0.0,
            Dtype::F16 => 1e-3,
            _ => 1e-2,
        };
        for (a, b) in got.data.iter().zip(&want.data) {
            assert!(
                (a - b).abs() <= tolerance * b.abs().max(1e-2),
                "{name}: {a} vs {b}"
            );
        }
        if let (Some(heads), Dtype::F32) = (is_qk(&name), dtype) {
            assert_eq!(
                &permute_rope(got, heads).unwrap(),
                &gguf.tensors[&name].clone_with_dtype("F32")
            );
        }
    }
    let text = "<|im_start|>in the 12 é<|im_end|>";
    assert_eq!(
        hf.tokenizer.encode(text).unwrap(),
        gguf.tokenizer.encode(text).unwrap()
    );
    assert_eq!(hf.tokenizer.special_tokens().eos, vec![2]);
    assert!(matches!(
        hf.chat_template,
        hicra_pretrained::ChatTemplate::ChatMl { .. }
    ));
}

trait WithDtype {
    fn clone_with_dtype(&self, dtype: &str) -> HostTensor;
}
impl WithDtype for HostTensor {
    fn clone_with_dtype(&self, dtype: &str) -> HostTensor {
        HostTensor {
            dtype: dtype.to_string(),
            ..self.clone()
        }
    }
}

#[test]
fn single_file_checkpoint_matches_the_gguf() {
    let gguf = gguf_model();
    let dir = tempfile::tempdir().unwrap();
    write_hf_dir(dir.path(), &gguf, false, "LlamaForCausalLM");
    check_same_model(dir.path(), &gguf);
}

#[test]
fn sharded_checkpoint_matches_the_gguf() {
    let gguf = gguf_model();
    let dir = tempfile::tempdir().unwrap();
    write_hf_dir(dir.path(), &gguf, true, "LlamaForCausalLM");
    check_same_model(dir.path(), &gguf);
}

#[test]
fn problems_are_named() {
    let gguf = gguf_model();
    let dir = tempfile::tempdir().unwrap();
    write_hf_dir(dir.path(), &gguf, false, "GPT2LMHeadModel");
    let err = hicra_pretrained::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, LoadError::UnsupportedArchitecture(ref a) if a == "GPT2LMHeadModel"),
        "{err}"
    );

    write_hf_dir(dir.path(), &gguf, false, "LlamaForCausalLM");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    assert!(matches!(
        hicra_pretrained::load(dir.path()),
        Err(LoadError::MissingFile { .. })
    ));

    write_hf_dir(dir.path(), &gguf, false, "LlamaForCausalLM");
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 10]).unwrap();
    assert!(matches!(
        hicra_pretrained::load(dir.path()),
        Err(LoadError::Corrupt(_))
    ));

    std::fs::remove_file(&weights).unwrap();
    assert!(matches!(
        hicra_pretrained::load(dir.path()),
        Err(LoadError::MissingFile { .. })
    ));
}
