//! `reward.process` as a configured stage: the figures it reports, its configuration's errors
//! (a missing or empty PRM, bad sizes) and the stage loading a PRM and scoring through the
//! runtime. The shared set-up (tiny saved PRMs, prompts, rollouts) is in `process_reward_tests.rs`.

use hicra_flow::{Pipeline, Registry, StageConfig};
use hicra_messages::{Group, Rollout, RolloutBatch, StepReward};

use super::tests::{batch, ctx, only, prompt, saved_prm};
use super::*;

fn scored(steps: &[f64], correct: Option<bool>) -> Rollout {
    let step_rewards = steps
        .iter()
        .enumerate()
        .map(|(k, &score)| StepReward {
            start: k as u32,
            end: k as u32 + 1,
            score,
        })
        .collect();
    Rollout {
        tokens: vec![2; steps.len()],
        correct,
        step_rewards,
        ..Default::default()
    }
}

#[test]
fn figures_compare_correct_and_wrong_responses() {
    let p = prompt("p", "q");
    let b = RolloutBatch::new(
        0,
        vec![
            Group::new(
                p.clone(),
                vec![scored(&[0.9, 0.8], Some(true)), scored(&[0.3], Some(true))],
            ),
            Group::new(
                p,
                vec![
                    scored(&[0.6, 0.5], Some(false)),
                    scored(&[], Some(false)),
                    scored(&[1.0], None),
                ],
            ),
        ],
    );
    let m = figures(&b, 0.5);
    assert_eq!(m["process/score_secs"], 0.5);
    assert_eq!(m["process/steps_per_response"], 6.0 / 5.0);
    assert!((m["process/step_score_mean"] - 4.1 / 6.0).abs() < 1e-12);
    assert!((m["process/step_score_correct_mean"] - 2.0 / 3.0).abs() < 1e-12);
    assert!((m["process/step_score_wrong_mean"] - 0.55).abs() < 1e-12);
    // weakest steps: correct 0.8 and 0.3, wrong 0.5: one pair of two ranked right
    assert_eq!(m["process/response_auc"], 0.5);
    let all_right = RolloutBatch::new(
        0,
        vec![Group::new(
            prompt("p", "q"),
            vec![scored(&[0.4], Some(true))],
        )],
    );
    let m = figures(&all_right, 0.0);
    assert!(!m.contains_key("process/step_score_wrong_mean"));
    assert!(!m.contains_key("process/response_auc"));
}

fn config(toml_text: &str) -> ProcessRewardConfig {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn a_missing_or_empty_prm_is_refused_with_how_prms_are_made() {
    let dir = tempfile::tempdir().unwrap();
    let missing = only(config("prm = \"runs/nope\"").check(&ctx(dir.path())));
    assert_eq!(missing.field, "prm");
    assert!(
        missing.message.starts_with("no such directory: "),
        "{}",
        missing.message
    );
    assert!(missing.message.contains("runs/nope"), "{}", missing.message);
    let help = missing.help.unwrap();
    assert!(
        help.contains("hicra prm train") && help.contains("learner.prm"),
        "{help}"
    );

    let unnamed = only(ProcessRewardConfig::default().check(&ctx(dir.path())));
    assert_eq!(unnamed.field, "prm");
    assert!(unnamed.help.unwrap().contains("hicra prm train"));

    let at = |name: &str| format!("prm = \"{}\"", dir.path().join(name).display());
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let empty = only(config(&at("empty")).check(&ctx(dir.path())));
    assert!(
        empty.message.contains("holds no process reward model"),
        "{}",
        empty.message
    );
    assert!(empty.help.unwrap().contains("hicra prm train"));

    // a run directory holding `prm/` will do; relative paths are the working directory's,
    // not the pipeline file's
    saved_prm(&dir.path().join("run"), "newline");
    assert!(config(&at("run")).check(&ctx(dir.path())).is_empty());
    assert!(config(&at("run/prm")).check(&ctx(dir.path())).is_empty());
    assert!(!config("prm = \"run\"").check(&ctx(dir.path())).is_empty());

    let bad = config(&format!("{}\nbatch = 0\nmax_seq_len = 1", at("run"))).check(&ctx(dir.path()));
    let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["max_seq_len", "batch"]);
    assert!(toml::from_str::<ProcessRewardConfig>("prm = \"run\"\nscale = \"logit\"").is_err());
}

#[test]
fn a_missing_prm_is_reported_at_its_place_in_the_pipeline() {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let text = "[stages.process]\nkind = \"reward.process\"\ninputs = { rollouts = \"verifier.rollouts\" }\nprm = \"runs/no-such-prm\"\n";
    let err = match Pipeline::from_str(&registry, "p.toml", text) {
        Ok(_) => panic!("a missing PRM is refused"),
        Err(d) => d.plain(),
    };
    assert!(
        err.contains("p.toml:4:7: error: no such directory"),
        "{err}"
    );
    assert!(err.contains("hicra prm train"), "{err}");
    assert_eq!(ProcessRewardConfig::KIND, "reward.process");
}

#[test]
fn the_stage_loads_its_prm_and_scores_on_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    saved_prm(dir.path(), "newline");
    let params = format!(
        "prm = {:?}\nbatch = 2\nmax_seq_len = 128",
        dir.path().display().to_string()
    );
    let eval = batch(true);
    let mut out = hicra_flow::testing::StageHarness::new::<ProcessRewardConfig>(&params)
        .input("rollouts", vec![batch(false), eval.clone()])
        .run()
        .unwrap();
    let batches: Vec<RolloutBatch> = out.take("rollouts");
    assert_eq!(batches.len(), 2);
    assert!(
        batches[0]
            .rollouts()
            .all(|r| r.tokens.is_empty() == r.step_rewards.is_empty())
    );
    assert!(batches[0].metrics.contains_key("process/step_score_mean"));
    assert_eq!(batches[1], eval);
    let records: Vec<hicra_messages::MetricsRecord> = out.take("metrics");
    assert!(
        records[0].values.contains_key("process/response_auc"),
        "{records:?}"
    );
}
