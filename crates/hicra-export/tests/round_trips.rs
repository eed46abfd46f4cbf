//! Exports read back by the loader: the tiny GGUF fixture (and a character-alphabet policy) to
//! Hugging Face and GGUF, every tensor, hyper-parameter, token id and template compared.

use std::path::{Path, PathBuf};

use hicra_export::{ExportDtype, ExportError, ExportOptions, Format, export};
use hicra_pretrained::{
    ChatTemplate, LlamaConfig, Pretrained, RopeLayout, Tokenizer, unpermute_rope,
};

fn tiny_gguf() -> Pretrained {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hicra-pretrained/tests/fixtures/tiny_llama.gguf");
    hicra_pretrained::load(&path).unwrap()
}

fn options(format: Format, dtype: ExportDtype) -> ExportOptions {
    ExportOptions {
        dtype,
        ..ExportOptions::new(format)
    }
}

/// Tensors in rotate-half order, whatever the layout they were loaded in.
fn half_split(model: &Pretrained) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let c = &model.config;
    model
        .tensors
        .iter()
        .map(|(name, t)| {
            let heads = if name.contains("q_proj") {
                Some(c.num_heads)
            } else if name.contains("k_proj") {
                Some(c.num_kv_heads)
            } else {
                None
            };
            let t = match heads {
                Some(h) if c.rope_layout == RopeLayout::Interleaved => {
                    unpermute_rope(t, h).unwrap()
                }
                _ => t.clone(),
            };
            (name.clone(), t.shape, t.data)
        })
        .collect()
}

fn same_shape_config(a: &LlamaConfig, b: &LlamaConfig) {
    let strip = |c: &LlamaConfig| LlamaConfig {
        rope_layout: RopeLayout::HalfSplit,
        architecture: String::new(),
        ..c.clone()
    };
    assert_eq!(strip(a), strip(b));
}

fn same_tokens(a: &Tokenizer, b: &Tokenizer) {
    assert_eq!(a.vocab_size(), b.vocab_size());
    for text in [
        "Hello world, 123 + 45 = 168!",
        "<|im_start|>user\nhi<|im_end|>\n",
        "  spaced\tout\n\n",
    ] {
        assert_eq!(
            a.encode(text).unwrap().ids,
            b.encode(text).unwrap().ids,
            "{text:?}"
        );
    }
    assert_eq!(a.special_tokens(), b.special_tokens());
    for id in 0..a.vocab_size() as u32 {
        assert_eq!(a.token_bytes(id).unwrap(), b.token_bytes(id).unwrap());
        assert_eq!(a.is_special(id), b.is_special(id));
    }
}

fn round_trip(model: &Pretrained, format: Format, dtype: ExportDtype, dir: &Path) -> Pretrained {
    let out = dir.join(match format {
        Format::Hf => "hf",
        Format::Gguf => "model.gguf",
        Format::Peft => unreachable!("a whole model is not a PEFT adapter"),
    });
    export(model, &out, &options(format, dtype)).unwrap();
    hicra_pretrained::load(&out).unwrap()
}

#[test]
fn f32_exports_read_back_exactly() {
    let source = tiny_gguf();
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Hf, Format::Gguf] {
        let sub = dir.path().join(format!("{format:?}"));
        let back = round_trip(&source, format, ExportDtype::F32, &sub);
        same_shape_config(&source.config, &back.config);
        assert_eq!(half_split(&source), half_split(&back), "{format:?}");
        same_tokens(&source.tokenizer, &back.tokenizer);
        assert_eq!(source.chat_template, back.chat_template);
        assert_eq!(source.chat_template_jinja, back.chat_template_jinja);
    }
}

#[test]
fn gguf_keeps_llama_cpp_row_order() {
    let source = tiny_gguf();
    let dir = tempfile::tempdir().unwrap();
    let back = round_trip(&source, Format::Gguf, ExportDtype::F32, dir.path());
    assert_eq!(back.config.rope_layout, RopeLayout::Interleaved);
    let values = |m: &Pretrained| -> Vec<(String, Vec<usize>, Vec<f32>)> {
        m.tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.shape.clone(), t.data.clone()))
            .collect()
    };
    assert_eq!(
        values(&back),
        values(&source),
        "value for value, in GGUF order"
    );
}

#[test]
fn half_precision_exports_round_each_value_once() {
    let source = tiny_gguf();
    for (dtype, round) in [
        (
            ExportDtype::F16,
            (|v: f32| half::f16::from_f32(v).to_f32()) as fn(f32) -> f32,
        ),
        (ExportDtype::Bf16, |v: f32| half::bf16::from_f32(v).to_f32()),
    ] {
        for format in [Format::Hf, Format::Gguf] {
            let dir = tempfile::tempdir().unwrap();
            let back = round_trip(&source, format, dtype, dir.path());
            for ((name, _, a), (_, _, b)) in half_split(&source).iter().zip(half_split(&back)) {
                let one_d = source.tensors[name].shape.len() == 1;
                let expected: Vec<f32> = if one_d && format == Format::Gguf {
                    a.clone() // GGUF keeps norms in F32
                } else {
                    a.iter().map(|&v| round(v)).collect()
                };
                assert_eq!(expected, b, "{name} {dtype:?} {format:?}");
            }
        }
    }
}

#[test]
fn q8_0_is_close_and_gguf_only() {
    let source = tiny_gguf();
    let dir = tempfile::tempdir().unwrap();
    let back = round_trip(&source, Format::Gguf, ExportDtype::Q8_0, dir.path());
    assert!(back.dtype_histogram().get("Q8_0").copied().unwrap_or(0) > 0);
    for ((name, _, a), (_, _, b)) in half_split(&source).iter().zip(half_split(&back)) {
        let amax = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= amax / 127.0 + 1e-6,
            "{name}: {worst} vs scale {amax}"
        );
    }
    let err = export(
        &source,
        &dir.path().join("hf"),
        &options(Format::Hf, ExportDtype::Q8_0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("Q8_0"), "{err}");
    assert!(!dir.path().join("hf").exists());
}

#[test]
fn large_models_are_sharded_with_an_index() {
    let source = tiny_gguf();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hf");
    let opts = ExportOptions {
        max_shard_bytes: 20_000,
        ..ExportOptions::new(Format::Hf)
    };
    let done = export(&source, &out, &opts).unwrap();
    assert!(
        done.files
            .contains(&"model.safetensors.index.json".to_string()),
        "{:?}",
        done.files
    );
    assert!(
        done.files
            .iter()
            .filter(|f| f.ends_with(".safetensors"))
            .count()
            > 1
    );
    assert!(!out.join("model.safetensors").exists());
    let back = hicra_pretrained::load(&out).unwrap();
    assert_eq!(half_split(&source), half_split(&back));
}

#[test]
fn the_config_names_what_transformers_needs() {
    let source = tiny_gguf();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hf");
    export(&source, &out, &options(Format::Hf, ExportDtype::Bf16)).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["torch_dtype"], "bfloat16");
    assert_eq!(config["rms_norm_eps"], 1e-5);
    assert_eq!(config["num_key_value_heads"], 2);
    for file in [
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let tc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tokenizer_config.json")).unwrap())
            .unwrap();
    assert!(
        tc["chat_template"]
            .as_str()
            .unwrap()
            .contains("<|im_start|>")
    );
}

#[test]
fn biased_models_export_as_qwen2() {
    let mut source = tiny_gguf();
    source.config.attention_bias = true;
    let c = source.config.clone();
    for layer in 0..c.num_layers {
        for (proj, rows) in [
            ("q_proj", c.q_dim()),
            ("k_proj", c.kv_dim()),
            ("v_proj", c.kv_dim()),
        ] {
            let data = (0..rows).map(|i| i as f32 * 0.01 - 0.1).collect();
            source.tensors.insert(
                hicra_pretrained::names::layer_tensor(layer, &format!("self_attn.{proj}.bias")),
                hicra_pretrained::HostTensor::new(vec![rows], data, "F32").unwrap(),
            );
        }
    }
    for format in [Format::Hf, Format::Gguf] {
        let dir = tempfile::tempdir().unwrap();
        let back = round_trip(&source, format, ExportDtype::F32, dir.path());
        assert!(back.config.attention_bias);
        assert_eq!(
            back.config.rope_layout,
            RopeLayout::HalfSplit,
            "qwen2 is stored unpermuted"
        );
        assert_eq!(half_split(&source), half_split(&back), "{format:?}");
    }
}

#[test]
fn a_character_policy_keeps_its_ids_in_both_formats() {
    let mut source = tiny_gguf();
    let alphabet: Vec<char> = (32u8..127).map(char::from).chain(['\n']).collect();
    source.tokenizer = Tokenizer::of_characters(&alphabet).unwrap();
    source.config.bos_token_id = None;
    source.config.eos_token_ids = vec![1];
    source.config.add_bos = false;
    source.chat_template = ChatTemplate::Lines;
    source.chat_template_jinja = None;
    let expected = source.tokenizer.encode("12+30=42\nok").unwrap().ids;
    assert_eq!(expected[..3], [2 + 17, 2 + 18, 2 + 11]);
    for format in [Format::Hf, Format::Gguf] {
        let dir = tempfile::tempdir().unwrap();
        let back = round_trip(&source, format, ExportDtype::F32, dir.path());
        assert_eq!(
            back.tokenizer.encode("12+30=42\nok").unwrap().ids,
            expected,
            "{format:?}"
        );
        assert_eq!(back.config.eos_token_ids, vec![1]);
        assert_eq!(back.chat_template, ChatTemplate::Lines);
        if format == Format::Hf {
            // the `tokenizers` library alone reads the same ids
            let plain =
                tokenizers::Tokenizer::from_file(dir.path().join("hf/tokenizer.json")).unwrap();
            assert_eq!(
                plain.encode("12+30=42\nok", false).unwrap().get_ids(),
                expected
            );
        }
    }
}

#[test]
fn an_existing_output_is_kept_without_force() {
    let source = tiny_gguf();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.gguf");
    std::fs::write(&out, b"keep me").unwrap();
    let err = export(&source, &out, &options(Format::Gguf, ExportDtype::F32)).unwrap_err();
    assert!(matches!(err, ExportError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let forced = ExportOptions {
        force: true,
        ..options(Format::Gguf, ExportDtype::F32)
    };
    export(&source, &out, &forced).unwrap();
    assert!(hicra_pretrained::load(&out).is_ok());
}

#[test]
fn unknown_architectures_are_refused() {
    let mut source = tiny_gguf();
    source.config.architecture = "MistralForCausalLM".into();
    let dir = tempfile::tempdir().unwrap();
    let err = export(
        &source,
        &dir.path().join("x.gguf"),
        &options(Format::Gguf, ExportDtype::F32),
    )
    .unwrap_err();
    assert!(err.to_string().contains("MistralForCausalLM"), "{err}");
}
