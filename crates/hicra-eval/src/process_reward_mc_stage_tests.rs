//! `reward.process` with `montecarlo`: the configuration's errors, and the stage loading a
//! real model file and scoring on the runtime.

use std::path::PathBuf;

use hicra_flow::{Pipeline, Registry, StageConfig};
use hicra_messages::{Group, Rollout};
use hicra_model::cpu;

use super::super::ProcessRewardConfig;
use super::super::tests::{assert_cover, ctx, only, prompt, rollout_with};
use super::tests::scores;
use super::*;

/// The tiny GGUF model of the pretrained loader's tests.
fn gguf() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hicra-pretrained/tests/fixtures/tiny_llama.gguf")
}

fn config(toml_text: &str) -> ProcessRewardConfig {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn one_source_a_positive_count_and_a_model_that_is_there_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| config(text).check(&ctx(dir.path()));
    let model = format!("model = {:?}", gguf().display().to_string());
    assert!(check(&format!("montecarlo = {{ {model} }}")).is_empty());

    let both = only(check(&format!(
        "prm = \"runs/x\"\nmontecarlo = {{ {model} }}"
    )));
    assert_eq!(both.field, "montecarlo");
    assert!(both.message.contains("give one"), "{}", both.message);
    let help = both.help.unwrap();
    assert!(
        help.contains("prm = ") && help.contains("montecarlo = {"),
        "{help}"
    );
    let neither = only(check(""));
    assert_eq!(neither.field, "prm");
    assert!(
        neither.message.contains("`montecarlo`"),
        "{}",
        neither.message
    );
    assert!(neither.help.unwrap().contains("montecarlo = {"));

    let zero = only(check(&format!(
        "montecarlo = {{ {model}, completions = 0 }}"
    )));
    assert_eq!(zero.field, "montecarlo.completions");
    assert!(zero.help.is_some());
    let missing = only(check("montecarlo = { model = \"runs/no-such-policy\" }"));
    assert_eq!(missing.field, "montecarlo.model");
    assert!(
        missing.message.contains("runs/no-such-policy"),
        "{}",
        missing.message
    );
    assert!(missing.help.unwrap().contains("hicra run"));
    let unnamed = only(check("montecarlo = {}"));
    assert_eq!(unnamed.field, "montecarlo.model");
    assert!(unnamed.help.unwrap().contains("completer"));

    let bad = check(&format!(
        "montecarlo = {{ {model}, temperature = 0.0, top_p = 1.5, verifier = \"nope\" }}"
    ));
    let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "montecarlo.temperature",
            "montecarlo.top_p",
            "montecarlo.verifier"
        ]
    );
    assert!(toml::from_str::<ProcessRewardConfig>("montecarlo = { modle = \"x\" }").is_err());
}

#[test]
fn a_missing_completer_is_reported_at_its_place_in_the_pipeline() {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let text = "[stages.process]\nkind = \"reward.process\"\ninputs = { rollouts = \"verifier.rollouts\" }\nmontecarlo = { model = \"runs/no-such-policy\", completions = 8 }\n";
    let err = match Pipeline::from_str(&registry, "p.toml", text) {
        Ok(_) => panic!("a missing completer is refused"),
        Err(d) => d.plain(),
    };
    assert!(err.contains("p.toml:4:24: error: no such"), "{err}");
    assert!(err.contains("help: "), "{err}");
    assert!(err.contains("hicra run"), "{err}");
}

#[test]
fn the_stage_loads_its_completer_and_scores_on_the_runtime() {
    let loaded = hicra_train::trained::load_policy::<RuntimeBackend>(
        gguf().to_str().unwrap(),
        Some(128),
        &cpu(),
    )
    .unwrap();
    let c = TextCodec::Pretrained(Box::new(loaded.checkpoint.unwrap()));
    let p = prompt("p-1", "what is 12 + 30?");
    let texts = ["12 + 30 = 42\nso 42", "12 + 30\n= 41\n\nso 41", ""];
    let rollouts: Vec<Rollout> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| rollout_with(&c, &p, t, true, i == 0))
        .collect();
    let train = RolloutBatch::new(1, vec![Group::new(p, rollouts)]);
    let params = format!(
        "montecarlo = {{ model = {:?}, completions = 2, max_new_tokens = 32 }}\nmax_seq_len = 128",
        gguf().display().to_string()
    );
    let mut out = hicra_flow::testing::StageHarness::new::<ProcessRewardConfig>(&params)
        .input("rollouts", vec![train.clone(), train])
        .run()
        .unwrap();
    let batches: Vec<RolloutBatch> = out.take("rollouts");
    assert_eq!(batches.len(), 2);
    for r in batches[0].rollouts() {
        assert_cover(&r.step_rewards, r.tokens.len());
        assert_eq!(
            r.step_rewards.last().unwrap().score,
            f64::from(u8::from(r.correct.unwrap()))
        );
    }
    assert!(batches[0].rollouts().any(|r| r.step_rewards.len() > 1));
    assert_eq!(scores(&batches[0]), scores(&batches[1]));
    let records: Vec<hicra_messages::MetricsRecord> = out.take("metrics");
    assert!(
        records[0].values["process/completions"] > 0.0,
        "{records:?}"
    );
}
