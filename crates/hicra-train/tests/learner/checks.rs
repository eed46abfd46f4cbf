//! What the learner refuses and what it reports: GSPO brings its own aggregation and refuses
//! another; Dr. GRPO's normaliser needs its constant; an incomplete rollout is an error naming
//! it; a negative entropy coefficient is a penalty; `loss/policy` is the policy term alone,
//! with `loss/kl`, `loss/entropy` and `loss/total` beside it.

use hicra_flow::testing::StageHarness;
use hicra_flow::value::Value;
use hicra_flow::{BuildContext, RunSettings, StageConfig};
use hicra_messages::{MetricsRecord, Rollout};
use hicra_train::LearnerConfig;
use hicra_train::loss::LossAggregation;

use crate::{PARAMS, batch_of};

fn config(params: &str) -> LearnerConfig {
    let value = Value::parse_document(params, 0).unwrap_or_else(|(m, _)| panic!("{m}"));
    hicra_flow::de::from_value::<LearnerConfig>(&value).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The problems `hicra validate` reports for `params`, as `field: message`.
fn problems(params: &str) -> Vec<String> {
    let ctx = BuildContext {
        id: "learner".into(),
        run: RunSettings::default(),
    };
    config(params)
        .check(&ctx)
        .into_iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect()
}

#[test]
fn gspo_brings_its_own_aggregation_and_refuses_another() {
    assert_eq!(config("").aggregation(), LossAggregation::TokenMean);
    assert_eq!(
        config("objective = \"cispo\"").aggregation(),
        LossAggregation::TokenMean
    );
    let gspo = config("objective = \"gspo\"");
    assert_eq!(gspo.aggregation(), LossAggregation::SeqMeanTokenMean);
    assert!(problems("objective = \"gspo\"").is_empty());
    assert!(
        problems("objective = \"gspo\"\nloss_aggregation = \"seq-mean-token-mean\"").is_empty()
    );
    for other in ["token-mean", "seq-mean-token-sum"] {
        let found = problems(&format!(
            "objective = \"gspo\"\nloss_aggregation = \"{other}\""
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("loss_aggregation: objective `gspo`") && found[0].contains(other),
            "{found:?}"
        );
    }
    // the others take any aggregation
    assert!(problems("objective = \"ppo\"\nloss_aggregation = \"seq-mean-token-sum\"").is_empty());
}

#[test]
fn dr_grpo_needs_a_constant_length() {
    let found = problems("loss_aggregation = \"seq-mean-token-sum-norm\"");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("norm_length is 0"), "{found:?}");
    assert!(
        problems("loss_aggregation = \"seq-mean-token-sum-norm\"\nnorm_length = 64").is_empty()
    );
    // unused by the others, so 0 is no problem there
    assert!(problems("norm_length = 0").is_empty());
}

fn rollout(tokens: &[u32], advantage: f32) -> Rollout {
    Rollout {
        prompt_tokens: vec![2, 3, 5],
        tokens: tokens.to_vec(),
        logprobs: vec![-1.0; tokens.len()],
        entropies: vec![0.0; tokens.len()],
        advantages: vec![advantage; tokens.len()],
        reward: Some(0.0),
        ..Default::default()
    }
}

/// A way to spoil a rollout, and the error it must give.
type Spoiler = (fn(&mut Rollout), &'static str);

#[test]
fn an_incomplete_rollout_is_an_error_naming_it() {
    let spoilers: [Spoiler; 3] = [
        (|r| r.advantages.clear(), "no advantages for its 3 tokens"),
        (
            |r| r.logprobs.extend([0.0; 3]),
            "logprobs has 6 entries for 3 tokens",
        ),
        (
            |r| {
                r.masks.insert("planning".into(), vec![true; 2]);
            },
            "mask `planning` has 2 entries for 3 tokens",
        ),
    ];
    for (spoil, want) in spoilers {
        let mut bad = rollout(&[4, 2, 1], -1.0);
        spoil(&mut bad);
        let batch = batch_of(vec![rollout(&[3, 3, 1], 1.0), bad]);
        let Err(err) = StageHarness::new::<LearnerConfig>(PARAMS)
            .input("rollouts", vec![batch])
            .run()
        else {
            panic!("{want}: accepted");
        };
        let err = err.to_string();
        assert!(
            err.contains(&format!("rollout 1 of prompt `p` (step 0): {want}")),
            "{err}"
        );
    }
}

#[test]
fn the_loss_terms_are_reported_apart_and_a_negative_entropy_coef_is_a_penalty() {
    let batch = || batch_of(vec![rollout(&[3, 3, 1], 1.0), rollout(&[4, 2, 1], -1.0)]);
    let metrics = |extra: &str| {
        StageHarness::new::<LearnerConfig>(&format!("{PARAMS}\n{extra}"))
            .input("rollouts", vec![batch()])
            .run()
            .unwrap()
            .take::<MetricsRecord>("metrics")
            .remove(0)
            .values
    };
    let plain = metrics("");
    assert_eq!(plain["loss/policy"], plain["loss/total"], "{plain:?}");
    assert!(!plain.contains_key("loss/kl") && !plain.contains_key("loss/entropy"));
    for coef in [-0.1f64, 0.1] {
        let m = metrics(&format!("kl_coef = 0.5\nentropy_coef = {coef}"));
        let (policy, kl, entropy) = (m["loss/policy"], m["loss/kl"], m["loss/entropy"]);
        // one step from the initial policy: the KL to it is 0, the entropies are positive
        assert!(kl.abs() < 1e-6, "{m:?}");
        assert!(
            entropy != 0.0 && entropy.signum() == -coef.signum(),
            "{coef}: {m:?}"
        );
        assert!((policy - plain["loss/policy"]).abs() < 1e-6, "{m:?}");
        assert!(
            (m["loss/total"] - (policy + kl + entropy)).abs() < 1e-5,
            "{m:?}"
        );
    }
}
