//! Checks against the real SmolLM2-135M-Instruct GGUF. Each test passes with a printed
//! "SKIPPED" note when the model file is absent (it is fetched by `scripts/fetch-model.sh`,
//! never committed), so the suite needs no network.

mod common;

use hicra_pretrained::gguf::{GgufFile, special_tokens, tokenizer_from_metadata};
use hicra_pretrained::{ChatTemplate, RopeLayout, Tokenizer};

fn smollm2_tokenizer(test: &str) -> Option<Tokenizer> {
    let path = common::smollm2_path(test)?;
    let file = GgufFile::open(&path).unwrap();
    let metadata = &file.header.metadata;
    Some(tokenizer_from_metadata(metadata, special_tokens(metadata).unwrap()).unwrap())
}

#[test]
fn token_ids_match_the_reference_tokenizer() {
    let Some(tokenizer) = smollm2_tokenizer("token_ids_match_the_reference_tokenizer") else {
        return;
    };
    let cases = common::read_jsonl("smollm2_tokens.jsonl");
    assert!(cases.len() >= 15);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let encoding = tokenizer.encode(text).unwrap();
        assert_eq!(encoding.ids, expected, "text {text:?}");
        // Offsets tile the input, and decoding gives the text back.
        let mut at = 0;
        for range in &encoding.offsets {
            assert_eq!(range.start, at);
            at = range.end;
        }
        assert_eq!(at, text.len());
        assert_eq!(tokenizer.decode(&encoding.ids, false).unwrap(), text);
    }
}

#[test]
fn smollm2_special_tokens_and_chat_template() {
    let Some(tokenizer) = smollm2_tokenizer("smollm2_special_tokens_and_chat_template") else {
        return;
    };
    assert_eq!(tokenizer.vocab_size(), 49152);
    assert_eq!(tokenizer.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(tokenizer.token_to_id("<|im_end|>"), Some(2));
    let special = tokenizer.special_tokens();
    assert_eq!(
        (special.bos, special.eos.as_slice(), special.add_bos),
        (Some(1), &[2u32][..], false)
    );
    assert!(tokenizer.is_special(2) && !tokenizer.is_special(1000));
    let prompt = ChatTemplate::chatml().render(None, "Hi");
    let ids = tokenizer.encode(&prompt).unwrap().ids;
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.iter().filter(|&&i| i == 2).count(), 1);
    assert_eq!(
        tokenizer.decode(&ids, true).unwrap(),
        "user\nHi\nassistant\n"
    );
}

#[test]
fn loads_the_whole_checkpoint() {
    let Some(path) = common::smollm2_path("loads_the_whole_checkpoint") else {
        return;
    };
    let model = hicra_pretrained::load(&path).unwrap();
    let c = &model.config;
    assert_eq!(c.architecture, "llama");
    assert_eq!(c.rope_layout, RopeLayout::Interleaved);
    assert_eq!(c.num_parameters(), 134_515_008);
    assert_eq!(
        (
            c.num_layers,
            c.hidden_size,
            c.num_heads,
            c.num_kv_heads,
            c.head_dim
        ),
        (30, 576, 9, 3, 64)
    );
    assert_eq!(c.rope_theta, 100_000.0);
    assert!(c.tie_word_embeddings && !c.attention_bias);
    let hist = model.dtype_histogram();
    assert_eq!((hist["Q4_1"], hist["F32"], hist["Q8_0"]), (210, 61, 1));
    assert_eq!(
        model.tensors["model.layers.0.self_attn.k_proj.weight"].shape,
        vec![192, 576]
    );
    assert!(matches!(
        model.chat_template,
        ChatTemplate::ChatMl {
            default_system: Some(_)
        }
    ));
    weights_match_transformers(&model);
}

/// transformers' own GGUF dequantization (fixture from `scripts/reference_weights.py`), which
/// un-permutes Q/K to the Hugging Face layout; we keep GGUF order, so un-permute before comparing.
fn weights_match_transformers(model: &hicra_pretrained::Pretrained) {
    let text = std::fs::read_to_string(common::fixture("smollm2_weights.json")).unwrap();
    let want: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = &model.config;
    for (name, case) in want.as_object().unwrap() {
        let mut tensor = model.tensors[name].clone();
        if name.ends_with("q_proj.weight") {
            tensor = hicra_pretrained::unpermute_rope(&tensor, c.num_heads).unwrap();
        } else if name.ends_with("k_proj.weight") {
            tensor = hicra_pretrained::unpermute_rope(&tensor, c.num_kv_heads).unwrap();
        }
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(tensor.shape, shape, "{name}");
        let first: Vec<f32> = case["first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(&tensor.data[..4], &first[..], "{name}");
        let sum: f64 = tensor.data.iter().map(|&v| v as f64).sum();
        let abs_sum: f64 = tensor.data.iter().map(|&v| (v as f64).abs()).sum();
        let (want_sum, want_abs) = (
            case["sum"].as_f64().unwrap(),
            case["abs_sum"].as_f64().unwrap(),
        );
        assert!(
            (sum - want_sum).abs() <= 1e-6 * want_abs,
            "{name}: sum {sum} vs {want_sum}"
        );
        assert!(
            (abs_sum - want_abs).abs() <= 1e-6 * want_abs,
            "{name}: abs sum {abs_sum} vs {want_abs}"
        );
    }
}
