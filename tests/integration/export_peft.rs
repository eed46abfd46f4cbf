//! `hicra export --format peft`: a LoRA run's adapters under PEFT's names and shapes, which on
//! the run's base (`--base`) give back the merged policy `--format hf` writes, weight for
//! weight; the merged export is the run's policy, logit for logit.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::{hicra_run, text};
use crate::export_cli::{export, logits};

/// The tensors of a safetensors file (f32 only): name -> (shape, values).
fn read_safetensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let data = &bytes[8 + len..];
    let mut out = BTreeMap::new();
    for (name, entry) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        assert_eq!(entry["dtype"], "F32", "{name}");
        let shape: Vec<usize> = serde_json::from_value(entry["shape"].clone()).unwrap();
        let [start, end]: [usize; 2] =
            serde_json::from_value(entry["data_offsets"].clone()).unwrap();
        let values = data[start..end]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        out.insert(name.clone(), (shape, values));
    }
    out
}

#[test]
fn a_lora_run_exports_adapters_that_rebuild_its_merged_policy() {
    let run = tempfile::tempdir().unwrap();
    let out = hicra_run(
        None,
        run.path(),
        &[
            "stages.sampler.steps=2",
            "stages.metrics.total_steps=2",
            "stages.learner.sft.steps=5",
            "stages.evaluator.eval_every=0",
            "stages.learner.lora={rank=2,alpha=4,targets=[\"q\",\"v\"]}",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_dir = run.path().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (peft, merged, base) = (
        dir.path().join("peft"),
        dir.path().join("merged"),
        dir.path().join("base"),
    );
    for (out, extra) in [(&peft, "peft"), (&merged, "hf"), (&base, "hf")] {
        let flags: &[&str] = if out == &base { &["--base"] } else { &[] };
        let done = export(run_dir, extra, out, flags);
        assert!(done.status.success(), "{}", text(&done.stderr));
    }

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(peft.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 2);
    assert_eq!(config["lora_alpha"], 4);
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["q_proj", "v_proj"])
    );
    assert_eq!(
        config["base_model_name_or_path"], "",
        "a base from scratch is no file"
    );
    let hf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("config.json")).unwrap())
            .unwrap();
    let layers = hf["num_hidden_layers"].as_u64().unwrap() as usize;
    let d = hf["hidden_size"].as_u64().unwrap() as usize;
    let kv = hf["num_key_value_heads"].as_u64().unwrap() as usize
        * hf["head_dim"].as_u64().unwrap() as usize;

    let adapters = read_safetensors(&peft.join("adapter_model.safetensors"));
    let merged_w = read_safetensors(&merged.join("model.safetensors"));
    let base_w = read_safetensors(&base.join("model.safetensors"));
    assert_eq!(adapters.len(), layers * 2 * 2, "{:?}", adapters.keys());
    let scale = 4.0 / 2.0;
    let mut moved = 0.0f32;
    for layer in 0..layers {
        for (module, out) in [("q_proj", d), ("v_proj", kv)] {
            let prefix = format!("base_model.model.model.layers.{layer}.self_attn.{module}");
            let (a_shape, a) = &adapters[&format!("{prefix}.lora_A.weight")];
            let (b_shape, b) = &adapters[&format!("{prefix}.lora_B.weight")];
            assert_eq!(
                (a_shape.as_slice(), b_shape.as_slice()),
                (&[2, d][..], &[out, 2][..])
            );
            let name = format!("model.layers.{layer}.self_attn.{module}.weight");
            let (shape, w0) = &base_w[&name];
            assert_eq!(shape, &[out, d]);
            let w = &merged_w[&name].1;
            for o in 0..out {
                for i in 0..d {
                    let ba: f32 = (0..2).map(|k| b[o * 2 + k] * a[k * d + i]).sum();
                    let rebuilt = w0[o * d + i] + scale * ba;
                    let got = w[o * d + i];
                    assert!(
                        (rebuilt - got).abs() <= 1e-6,
                        "{name}[{o}, {i}]: {rebuilt} vs {got}"
                    );
                    moved = moved.max((got - w0[o * d + i]).abs());
                }
            }
        }
    }
    assert!(
        moved > 1e-5,
        "the adapters trained: the merged weights moved by {moved}"
    );
    for (name, (_, values)) in &base_w {
        if !(name.contains("q_proj") || name.contains("v_proj")) {
            assert_eq!(values, &merged_w[name].1, "{name} is frozen");
        }
    }

    // the merged export is the run's policy
    let prompt = "12 30 ab";
    assert_eq!(
        logits(merged.to_str().unwrap(), prompt),
        logits(run_dir, prompt)
    );
    assert_ne!(
        logits(base.to_str().unwrap(), prompt),
        logits(run_dir, prompt)
    );
}
