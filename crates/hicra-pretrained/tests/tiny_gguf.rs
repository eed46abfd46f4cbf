//! Always-on tests over the tiny GGUF fixtures written by `scripts/make_tiny_gguf.py`, whose
//! expected values come from the `gguf` Python package (llama.cpp's reference reader).

mod common;

use hicra_pretrained::gguf::{GgufFile, MetadataValue, hf_name};
use hicra_pretrained::{ChatTemplate, LoadError, RopeLayout};

fn expected(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(common::fixture(name)).unwrap()).unwrap()
}

fn close(a: f32, b: f64) -> bool {
    (a as f64 - b).abs() <= 1e-6 * b.abs().max(1e-3)
}

#[test]
fn every_storage_type_dequantizes_like_gguf_py() {
    let file = GgufFile::open(&common::fixture("tiny_dequant.gguf")).unwrap();
    let want = expected("tiny_dequant.expected.json");
    let want = want["tensors"].as_object().unwrap();
    assert_eq!(file.header.tensors.len(), 8);
    for info in &file.header.tensors {
        let case = &want[&info.name];
        let tensor = file.tensor(info).unwrap();
        assert_eq!(
            tensor.dtype,
            case["dtype"].as_str().unwrap(),
            "{}",
            info.name
        );
        assert_eq!(tensor.shape, vec![1, 256]);
        let values: Vec<f64> = case["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(tensor.data.len(), values.len());
        for (i, (&got, &want)) in tensor.data.iter().zip(&values).enumerate() {
            assert!(close(got, want), "{} [{i}]: {got} vs {want}", info.name);
        }
    }
}

#[test]
fn every_metadata_value_type_is_read() {
    let file = GgufFile::open(&common::fixture("tiny_dequant.gguf")).unwrap();
    let m = &file.header.metadata;
    assert_eq!(file.header.version, 3);
    use MetadataValue::*;
    let s = |v: &str| String(v.to_string());
    let cases = [
        ("t.u8", U8(200)),
        ("t.i8", I8(-100)),
        ("t.u16", U16(60000)),
        ("t.i16", I16(-30000)),
        ("t.u32", U32(4_000_000_000)),
        ("t.i32", I32(-2_000_000_000)),
        ("t.f32", F32(0.15625)),
        ("t.bool", Bool(true)),
        ("t.string", s("héllo")),
        ("t.array_str", Array(vec![s("a"), s("bc"), s("")])),
        ("t.array_int", Array(vec![I32(1), I32(-2), I32(3)])),
        ("t.u64", U64((1 << 40) + 1)),
        ("t.i64", I64(-(1 << 40))),
        ("t.f64", F64(-2.5e-300)),
    ];
    for (key, value) in cases {
        assert_eq!(m.get(key), Some(&value), "{key}");
    }
    assert!(m.opt_u64("t.string").is_err(), "a string is not an integer");
    assert!(
        m.opt_u64("t.i8").is_err(),
        "a negative integer is not a size"
    );
    assert_eq!(m.opt_u64("t.u16").unwrap(), Some(60000));
    assert_eq!(m.opt_u64("absent").unwrap(), None);
}

#[test]
fn tiny_llama_loads_with_hf_names_and_gguf_values() {
    let model = hicra_pretrained::load(&common::fixture("tiny_llama.gguf")).unwrap();
    let c = &model.config;
    assert_eq!(
        (
            c.vocab_size,
            c.hidden_size,
            c.intermediate_size,
            c.num_layers
        ),
        (266, 32, 64, 2)
    );
    assert_eq!(
        (
            c.num_heads,
            c.num_kv_heads,
            c.head_dim,
            c.max_position_embeddings
        ),
        (4, 2, 8, 128)
    );
    assert_eq!(
        (c.rope_layout, c.tie_word_embeddings, c.attention_bias),
        (RopeLayout::Interleaved, true, false)
    );
    assert_eq!(
        (c.bos_token_id, c.eos_token_ids.as_slice(), c.add_bos),
        (Some(1), &[2u32][..], false)
    );
    assert_eq!(model.chat_template, ChatTemplate::chatml());
    let want = expected("tiny_llama.expected.json");
    let want = want.as_object().unwrap();
    assert_eq!(model.tensors.len(), want.len());
    for (gguf_name, case) in want {
        let tensor = &model.tensors[&hf_name(gguf_name).unwrap()];
        assert_eq!(tensor.dtype, case["dtype"].as_str().unwrap());
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(tensor.shape, shape, "{gguf_name}");
        let sum: f64 = tensor.data.iter().map(|&v| v as f64).sum();
        assert!(
            (sum - case["sum"].as_f64().unwrap()).abs() < 1e-4,
            "{gguf_name}: sum {sum}"
        );
        for (got, want) in tensor.data.iter().zip(case["first"].as_array().unwrap()) {
            assert!(
                close(*got, want.as_f64().unwrap()),
                "{gguf_name}: {got} vs {want}"
            );
        }
    }
    assert_eq!(model.dtype_histogram().values().sum::<usize>(), want.len());
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = std::fs::read(common::fixture("tiny_llama.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gguf");
    let step = (bytes.len() / 97).max(1);
    for len in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let err = hicra_pretrained::load(&path).expect_err("a truncated file must not load");
        assert!(
            matches!(
                err,
                LoadError::Truncated { .. }
                    | LoadError::BadMagic { .. }
                    | LoadError::Corrupt(_)
                    | LoadError::Io { .. }
            ),
            "length {len}: {err}"
        );
    }
}

#[test]
fn wrong_magic_and_version_are_named() {
    let mut bytes = std::fs::read(common::fixture("tiny_dequant.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.gguf");
    bytes[4] = 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        hicra_pretrained::load(&path),
        Err(LoadError::UnsupportedGgufVersion(1))
    ));
    bytes[0] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        hicra_pretrained::load(&path),
        Err(LoadError::BadMagic { .. })
    ));
    let missing = dir.path().join("absent.gguf");
    assert!(matches!(
        hicra_pretrained::load(&missing),
        Err(LoadError::MissingFile { .. })
    ));
}

#[test]
fn a_file_that_is_not_a_model_is_rejected_clearly() {
    let err = hicra_pretrained::load(&common::fixture("tiny_dequant.gguf")).unwrap_err();
    assert!(
        matches!(err, LoadError::UnsupportedArchitecture(ref a) if a == "dequant-cases"),
        "{err}"
    );
}

mod corrupt {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random byte edits anywhere in the header never panic.
        #[test]
        fn random_header_edits_never_panic(edits in proptest::collection::vec((0usize..4096, any::<u8>()), 1..8)) {
            let mut bytes = std::fs::read(common::fixture("tiny_llama.gguf")).unwrap();
            for (at, value) in edits {
                let at = at % bytes.len().min(4096);
                bytes[at] = value;
            }
            let _ = hicra_pretrained::gguf::GgufHeader::parse(&bytes);
        }
    }
}
