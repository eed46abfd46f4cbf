//! PEFT adapters: the two files PEFT reads, under its names and in its layout; what PEFT
//! could not hold is refused before anything is written.

use hicra_export::peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, tensor_name};
use hicra_export::{
    ExportDtype, ExportError, ExportOptions, Format, HostTensor, LayerAdapter, LoraAdapter,
    LoraModule, export, export_peft,
};

fn tensor(shape: [usize; 2], offset: f32) -> HostTensor {
    let data = (0..shape[0] * shape[1])
        .map(|i| offset + i as f32 / 8.0)
        .collect();
    HostTensor::new(shape.to_vec(), data, "F32").unwrap()
}

/// Two layers, `q` (8 -> 8) and `down` (16 -> 8), rank 2.
fn adapter() -> LoraAdapter {
    let layers = (0..2)
        .flat_map(|layer| {
            [(LoraModule::Down, 16, 8), (LoraModule::Q, 8, 8)].map(|(module, i, o)| LayerAdapter {
                layer,
                module,
                a: tensor([2, i], layer as f32),
                b: tensor([o, 2], -(layer as f32)),
            })
        })
        .collect();
    LoraAdapter {
        rank: 2,
        alpha: 4.0,
        base_model: "models/base.gguf".into(),
        base_sha256: Some("ab12".into()),
        layers,
    }
}

fn options() -> ExportOptions {
    ExportOptions::new(Format::Peft)
}

#[test]
fn an_adapter_is_written_as_peft_saves_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    let source = adapter();
    let done = export_peft(&source, &out, &options()).unwrap();
    assert_eq!(done.files, [ADAPTER_CONFIG, ADAPTER_WEIGHTS]);

    let text = std::fs::read_to_string(out.join(ADAPTER_CONFIG)).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["task_type"], "CAUSAL_LM");
    assert_eq!(config["r"], 2);
    assert_eq!(
        config["lora_alpha"], 4,
        "an integral alpha is written as an integer"
    );
    assert_eq!(config["lora_dropout"], 0.0);
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["q_proj", "down_proj"]),
        "in layout order, each once"
    );
    assert_eq!(config["base_model_name_or_path"], "models/base.gguf");
    assert_eq!(config["fan_in_fan_out"], false);
    assert_eq!(config["use_dora"], false);

    let bytes = std::fs::read(out.join(ADAPTER_WEIGHTS)).unwrap();
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().clone().unwrap();
    assert_eq!(metadata["format"], "pt");
    assert_eq!(metadata["base_sha256"], "ab12");
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.len(), 8);
    assert_eq!(
        tensor_name(1, LoraModule::Down, "B"),
        "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"
    );
    for l in &source.layers {
        for (which, t) in [("A", &l.a), ("B", &l.b)] {
            let view = file.tensor(&tensor_name(l.layer, l.module, which)).unwrap();
            assert_eq!(view.dtype(), safetensors::Dtype::F32);
            assert_eq!(view.shape(), t.shape.as_slice());
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            assert_eq!(values, t.data);
        }
    }
    assert!(
        file.tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
            .is_ok()
    );

    // half precision halves the file; an existing output needs --force
    let half = ExportOptions {
        dtype: ExportDtype::Bf16,
        force: true,
        ..options()
    };
    assert!(matches!(
        export_peft(&source, &out, &options()).unwrap_err(),
        ExportError::Exists { .. }
    ));
    export_peft(&source, &out, &half).unwrap();
    let bytes = std::fs::read(out.join(ADAPTER_WEIGHTS)).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = file.tensor(&tensor_name(0, LoraModule::Q, "A")).unwrap();
    assert_eq!(view.dtype(), safetensors::Dtype::BF16);
}

#[test]
fn what_peft_cannot_hold_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    let mut wrong = adapter();
    wrong.layers[1].b = tensor([8, 3], 0.0);
    let err = export_peft(&wrong, &out, &options()).unwrap_err();
    assert!(err.to_string().contains("[out, 2]"), "{err}");
    let mut twice = adapter();
    twice.layers.push(twice.layers[0].clone());
    let err = export_peft(&twice, &out, &options()).unwrap_err();
    assert!(err.to_string().contains("adapted twice"), "{err}");
    let q8 = ExportOptions {
        dtype: ExportDtype::Q8_0,
        ..options()
    };
    let err = export_peft(&adapter(), &out, &q8).unwrap_err();
    assert!(err.to_string().contains("Q8_0"), "{err}");
    assert!(!out.exists(), "nothing half-written");

    // a whole model is no adapter
    let model = hicra_pretrained::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hicra-pretrained/tests/fixtures/tiny_llama.gguf"
    )))
    .unwrap();
    let err = export(&model, &out, &options()).unwrap_err();
    assert!(err.to_string().contains("--format hf"), "{err}");
    assert_eq!("peft".parse::<Format>(), Ok(Format::Peft));
}
