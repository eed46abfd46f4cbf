//! The credit and tagger stages on the real runtime.

use hicra_credit::taggers::{EntropyTaggerConfig, PlaceboConfig, StrategicGramsConfig};
use hicra_credit::{GrpoConfig, HicraConfig};
use hicra_flow::testing::StageHarness;
use hicra_messages::{Group, MetricsRecord, Prompt, Rollout, RolloutBatch};

/// Splits text into word-ish tokens and records their byte spans, like a sampler would.
fn rollout(text: &str, reward: f64) -> Rollout {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    let n = spans.len();
    Rollout {
        tokens: (0..n as u32).collect(),
        text: text.into(),
        token_spans: spans,
        logprobs: vec![-0.5; n],
        entropies: (0..n).map(|i| i as f32 / 10.0).collect(),
        reward: Some(reward),
        correct: Some(reward > 0.5),
        ..Default::default()
    }
}

fn batch(step: u64) -> RolloutBatch {
    let prompt = Prompt::new("q1", "?", "4");
    let rollouts = vec![
        rollout("But wait, let's try a different approach: 2 + 2 = 4", 1.0),
        rollout("I also think 2 + 2 = 5", 0.0),
    ];
    RolloutBatch::new(step, vec![Group::new(prompt, rollouts)])
}

#[test]
fn the_strategic_gram_tagger_marks_planning_tokens_and_reports_semantic_entropy() {
    let mut out = StageHarness::new::<StrategicGramsConfig>("")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap();
    let tagged = out.take::<RolloutBatch>("rollouts");
    let first = &tagged[0].groups[0].rollouts[0];
    // tokens: "But" "wait," "let's" "try" ... -> the first three are inside matches
    assert_eq!(&first.masks["planning"][..4], &[true, true, true, false]);
    assert!(
        tagged[0].groups[0].rollouts[1].masks["planning"]
            .iter()
            .all(|m| !m),
        "`so` inside `also` is no match"
    );
    // two grams, one occurrence each: ln 2
    assert!((tagged[0].metrics["semantic_entropy"] - 2f64.ln()).abs() < 1e-12);
}

#[test]
fn hicra_amplifies_planning_tokens_and_grpo_does_not() {
    let tagged = StageHarness::new::<StrategicGramsConfig>("")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap()
        .take::<RolloutBatch>("rollouts");
    let mut hicra = StageHarness::new::<HicraConfig>("alpha = 0.5")
        .input("rollouts", tagged.clone())
        .run()
        .unwrap();
    let mut grpo = StageHarness::new::<GrpoConfig>("")
        .input("rollouts", tagged)
        .run()
        .unwrap();
    let h = hicra.take::<RolloutBatch>("rollouts");
    let g = grpo.take::<RolloutBatch>("rollouts");
    let (ha, ga) = (
        &h[0].groups[0].rollouts[0].advantages,
        &g[0].groups[0].rollouts[0].advantages,
    );
    assert!(ga[0] > 0.0);
    assert!(
        (ha[0] - 1.5 * ga[0]).abs() < 1e-6,
        "planning token: {} vs {}",
        ha[0],
        ga[0]
    );
    assert_eq!(ha[3], ga[3], "execution tokens are untouched");
    let metrics = hicra.take::<MetricsRecord>("metrics");
    assert!(metrics[0].values["advantage_mass/planning"] > 0.0);
    assert_eq!(metrics[0].values["groups/zero_variance_frac"], 0.0);
}

#[test]
fn a_shadow_assigner_reports_prefixed_metrics_and_forwards_nothing() {
    let mut out = StageHarness::new::<GrpoConfig>("shadow = true")
        .input("rollouts", vec![batch(0), batch(1)])
        .run()
        .unwrap();
    assert!(out.take::<RolloutBatch>("rollouts").is_empty());
    let metrics = out.take::<MetricsRecord>("metrics");
    assert_eq!(metrics.len(), 2);
    assert!(
        metrics[1].values.keys().all(|k| k.starts_with("stage/")),
        "{:?}",
        metrics[1].values.keys()
    );
}

#[test]
fn placebo_imitates_the_reference_share_and_is_seeded() {
    let tagged = StageHarness::new::<StrategicGramsConfig>("")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap()
        .take::<RolloutBatch>("rollouts");
    let run = || {
        StageHarness::new::<PlaceboConfig>("")
            .input("rollouts", tagged.clone())
            .run()
            .unwrap()
            .take::<RolloutBatch>("rollouts")
    };
    let (a, b) = (run(), run());
    let r = &a[0].groups[0].rollouts[0];
    let count = |m: &Vec<bool>| m.iter().filter(|x| **x).count();
    assert_eq!(count(&r.masks["placebo"]), count(&r.masks["planning"]));
    assert_eq!(
        a[0].groups[0].rollouts[0].masks["placebo"],
        b[0].groups[0].rollouts[0].masks["placebo"]
    );
}

#[test]
fn the_entropy_tagger_marks_the_top_share() {
    let out = StageHarness::new::<EntropyTaggerConfig>("share = 0.5")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap()
        .take::<RolloutBatch>("rollouts");
    let r = &out[0].groups[0].rollouts[1];
    let marked: Vec<usize> = (0..r.len())
        .filter(|&i| r.masks["high_entropy"][i])
        .collect();
    let n = r.len();
    assert_eq!(marked, ((n - n.div_ceil(2))..n).collect::<Vec<_>>());
}

#[test]
fn a_bad_alpha_is_refused_when_the_stage_is_built() {
    let err = StageHarness::new::<HicraConfig>("alpha = 1.5")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("alpha must be in [0, 1)"), "{err}");
}

#[test]
fn the_authors_variant_amplifies_only_correct_responses_longer_than_the_group_mean() {
    let tagged = StageHarness::new::<StrategicGramsConfig>("")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap()
        .take::<RolloutBatch>("rollouts");
    let run = |params: &str| {
        StageHarness::new::<HicraConfig>(params)
            .input("rollouts", tagged.clone())
            .run()
            .unwrap()
            .take::<RolloutBatch>("rollouts")
            .remove(0)
    };
    let paper = run("alpha = 0.5");
    let authors = run("alpha = 0.5\nvariant = \"authors_code\"\nauthors_entropy_share = 0.0");
    // the correct response (12 tokens) is longer than the mean (10): same as the paper's HICRA
    // when no entropy share is added
    assert_eq!(
        authors.groups[0].rollouts[0].advantages,
        paper.groups[0].rollouts[0].advantages
    );
    // the wrong response is left as GRPO made it, even on its tokens
    let grpo = StageHarness::new::<GrpoConfig>("")
        .input("rollouts", tagged.clone())
        .run()
        .unwrap()
        .take::<RolloutBatch>("rollouts")
        .remove(0);
    assert_eq!(
        authors.groups[0].rollouts[1].advantages,
        grpo.groups[0].rollouts[1].advantages
    );
    // with the whole response as "high entropy", every token of the correct one is amplified
    let all = run("alpha = 0.5\nvariant = \"authors_code\"\nauthors_entropy_share = 1.0");
    let g = &grpo.groups[0].rollouts[0].advantages;
    for (a, b) in all.groups[0].rollouts[0].advantages.iter().zip(g) {
        assert!((a - 1.5 * b).abs() < 1e-6);
    }
}

#[test]
fn a_placebo_assigner_reports_on_the_real_planning_tokens() {
    let tagged = StageHarness::new::<StrategicGramsConfig>("")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap()
        .take::<RolloutBatch>("rollouts");
    let placebo = StageHarness::new::<PlaceboConfig>("")
        .input("rollouts", tagged.clone())
        .run()
        .unwrap()
        .take::<RolloutBatch>("rollouts");
    let metrics = |kind_params: &str, input: Vec<RolloutBatch>| {
        StageHarness::new::<HicraConfig>(kind_params)
            .input("rollouts", input)
            .run()
            .unwrap()
            .take::<MetricsRecord>("metrics")
            .remove(0)
            .values
    };
    let real = metrics("", tagged);
    let shadow = metrics("mask = \"placebo\"", placebo);
    assert_eq!(real["planning_ratio"], shadow["planning_ratio"]);
}

#[test]
fn a_placebo_tagger_without_its_reference_mask_says_which_stage_is_missing() {
    let err = StageHarness::new::<PlaceboConfig>("")
        .input("rollouts", vec![batch(0)])
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no mask `planning`"), "{err}");
}

/// A way to spoil a rollout, and the error it must give.
type Spoiler = (fn(&mut Rollout), &'static str);

/// The credit stage checks its input before computing anything from it: a rollout whose
/// log-probs, entropies or a mask do not cover its tokens stops it, named (never a silently
/// partial figure or a panic).
#[test]
fn a_credit_stage_refuses_per_token_arrays_of_the_wrong_length() {
    let spoilers: [Spoiler; 4] = [
        (
            |r| r.logprobs.clear(),
            "rollout 1 of group `q1`: logprobs has 0 entries for",
        ),
        (
            |r| r.entropies.push(0.0),
            "rollout 1 of group `q1`: entropies has",
        ),
        (
            |r| {
                r.masks.insert("planning".into(), vec![true; 2]);
            },
            "rollout 1 of group `q1`: mask `planning` has 2 entries for",
        ),
        (
            |r| {
                r.masks.insert("placebo".into(), vec![false; 40]);
            },
            "rollout 1 of group `q1`: mask `placebo` has 40 entries for",
        ),
    ];
    for (spoil, want) in spoilers {
        let mut bad = batch(0);
        spoil(&mut bad.groups[0].rollouts[1]);
        for params in ["", "alpha = 0.2"] {
            let run = |input| {
                if params.is_empty() {
                    StageHarness::new::<GrpoConfig>(params)
                        .input("rollouts", input)
                        .run()
                } else {
                    StageHarness::new::<HicraConfig>(params)
                        .input("rollouts", input)
                        .run()
                }
            };
            let Err(err) = run(vec![bad.clone()]) else {
                panic!("{want}: accepted");
            };
            let err = err.to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
