use super::*;
use crate::model::HEAD_INIT_STD;
use crate::model::tests::{char_codec, prompt, steps, tiny_prm};
use hicra_model::{ModelSource, cpu, load_model};

fn items() -> (Vec<Prompt>, Vec<Vec<String>>) {
    (
        vec![prompt("a", "2+3*4"), prompt("b", "what is 7*8?")],
        vec![
            steps(&["3*4=12\n", "2+12=14\n"]),
            steps(&["7*8=56\n", "so it is 56.\n"]),
        ],
    )
}

fn scores(
    prm: &ProcessRewardModel<RuntimeBackend>,
    codec: &TextCodec,
    prompts: &[Prompt],
    sols: &[Vec<String>],
) -> Vec<Vec<f64>> {
    let items: Vec<(&Prompt, &[String])> = prompts
        .iter()
        .zip(sols)
        .map(|(p, s)| (p, s.as_slice()))
        .collect();
    prm.score_steps(codec, &items).unwrap()
}

fn assert_close(a: &[Vec<f64>], b: &[Vec<f64>]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.len(), y.len());
        for (u, v) in x.iter().zip(y) {
            assert!((u - v).abs() < 1e-5, "{u} vs {v}");
        }
    }
}

#[test]
fn a_character_prm_round_trips_with_its_codec_and_scores() {
    let prm = tiny_prm::<RuntimeBackend>(5);
    let codec = char_codec();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("prm");
    let mut info = PrmInfo::new(Segmentation::default(), PrmTarget::Hard, "random:tiny");
    info.training.insert("heldout/loss".into(), 0.3);
    info.training.insert("nan".into(), f64::NAN);
    let written = save(&out, &prm, &codec, &info, false).unwrap();
    assert_eq!(written.codec.kind, "chars");
    assert!(!written.training.contains_key("nan"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "LlamaForTokenClassification");
    assert_eq!(config["num_labels"], 1);

    let (loaded, loaded_codec, loaded_info) = load(&out, None, &cpu()).unwrap();
    assert_eq!(loaded_info, written);
    let (prompts, sols) = items();
    assert_close(
        &scores(&prm, &codec, &prompts, &sols),
        &scores(&loaded, &loaded_codec, &prompts, &sols),
    );
    for p in &prompts {
        assert_eq!(
            codec.encode_prompt(p).unwrap(),
            loaded_codec.encode_prompt(p).unwrap()
        );
    }
    let again = save(&out, &prm, &codec, &info, false).unwrap_err();
    assert!(again.contains("prm"), "{again}");
    save(&out, &prm, &codec, &info, true).unwrap();

    // a changed tokenizer is refused; a causal LM directory is not a PRM
    let mut tampered = written.clone();
    tampered.codec.fingerprint = "0".into();
    std::fs::write(
        out.join(PRM_FILE),
        serde_json::to_string(&tampered).unwrap(),
    )
    .unwrap();
    let err = load(&out, None, &cpu()).err().unwrap();
    assert!(err.contains("tokenizer was changed"), "{err}");
    std::fs::remove_file(out.join(PRM_FILE)).unwrap();
    assert!(
        load(&out, None, &cpu())
            .err()
            .unwrap()
            .contains("store::save")
    );
    assert!(
        hicra_pretrained::load(&out)
            .unwrap_err()
            .to_string()
            .contains("token classifier")
    );
}

#[test]
fn a_prm_on_a_pretrained_tokenizer_round_trips() {
    let gguf = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hicra-pretrained/tests/fixtures/tiny_llama.gguf");
    let loaded =
        load_model::<RuntimeBackend>(&ModelSource::Checkpoint(gguf), Some(128), &cpu()).unwrap();
    let codec = TextCodec::Pretrained(Box::new(loaded.checkpoint.clone().unwrap()));
    let prm = ProcessRewardModel::from_policy(loaded, 7);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("prm");
    let info = PrmInfo::new(Segmentation::default(), PrmTarget::Soft, "tiny_llama.gguf");
    let written = save(&out, &prm, &codec, &info, false).unwrap();
    assert_eq!(written.codec.kind, "pretrained");
    let (reloaded, reloaded_codec, _) = load(&out, None, &cpu()).unwrap();
    let prompts = vec![prompt("a", "Hello world, 12 + 30?")];
    let sols = vec![steps(&["12 + 30 = 42\n", "So the answer is 42.\n"])];
    assert_close(
        &scores(&prm, &codec, &prompts, &sols),
        &scores(&reloaded, &reloaded_codec, &prompts, &sols),
    );
    assert_eq!(
        codec.encode_prompt(&prompts[0]).unwrap(),
        reloaded_codec.encode_prompt(&prompts[0]).unwrap()
    );
}

/// Writes a PRM directory and hicra's per-token logits for `scripts/check-prm-export.py`:
/// `HICRA_PRM_DUMP=OUT_DIR HICRA_PRM_DUMP_SHAPE=tiny|smollm2-135m cargo test --workspace
/// --lib -- --ignored dump_prm_for_transformers`, then
/// `python scripts/check-prm-export.py OUT_DIR/prm OUT_DIR/hicra_logits.json`.
#[test]
#[ignore = "writes files for scripts/check-prm-export.py; set HICRA_PRM_DUMP"]
fn dump_prm_for_transformers() {
    let Ok(out) = std::env::var("HICRA_PRM_DUMP") else {
        return;
    };
    let out = std::path::PathBuf::from(out);
    let shape = std::env::var("HICRA_PRM_DUMP_SHAPE").unwrap_or_else(|_| "tiny".into());
    let codec = char_codec();
    let spec = format!("random:{shape}");
    // the character codec's ids fit both shapes' vocabularies
    let loaded =
        load_model::<RuntimeBackend>(&ModelSource::parse(&spec), Some(256), &cpu()).unwrap();
    let mut prm = ProcessRewardModel::from_policy(loaded, 11);
    // unit-scale head weights and a visible bias, so that any difference in the hidden
    // states, the head or the bias shows at the scale of the logits
    prm.head_weight = Param::from_tensor(prm.head_weight.val() / HEAD_INIT_STD);
    prm.head_bias = Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![0.25f32], [1]),
        &cpu(),
    ));
    let vocab = prm.config.vocab_size;
    let info = PrmInfo::new(Segmentation::default(), PrmTarget::Soft, &spec);
    save(&out.join("prm"), &prm, &codec, &info, true).unwrap();
    let sequences: Vec<serde_json::Value> = [5usize, 17, 40]
        .iter()
        .enumerate()
        .map(|(s, &n)| {
            let ids: Vec<u32> = (0..n)
                .map(|i| ((i * 7919 + s * 104_729 + 13) % vocab) as u32)
                .collect();
            let logits = prm.token_logits(&ids).unwrap();
            serde_json::json!({ "ids": ids, "logits": logits })
        })
        .collect();
    std::fs::write(
        out.join("hicra_logits.json"),
        serde_json::to_string(&serde_json::json!({ "sequences": sequences })).unwrap(),
    )
    .unwrap();
}
