//! Epochs and mini-batches move the ratio so the clip engages; one epoch over the whole batch
//! is one step; importance correction recomputes `old` and weights the loss (a masked response
//! trains as if removed); truncated
//! responses leave the loss under `mask_truncated`; rollouts are scored at their temperature.

use hicra_flow::testing::StageHarness;
use hicra_messages::{FinishReason, Metrics, MetricsRecord, Rollout, RolloutBatch, Sampling};
use hicra_model::{Llama, RuntimeBackend, score_tempered};
use hicra_train::{LearnerConfig, PolicyUpdate};

use crate::{PARAMS, model_config};

/// The learner's initial policy (`init_seed = 5` in `PARAMS`).
fn initial() -> Llama<RuntimeBackend> {
    Llama::init(&model_config().model_config(), 5, &hicra_model::cpu())
}

/// A rollout of `tokens` after the prompt `[2, 3, 5]`, with log-probs of the initial policy
/// at `temperature`, shifted by `offset` (a sampler that disagrees with the learner).
fn rollout(tokens: &[u32], advantage: f32, temperature: f32, offset: f32) -> Rollout {
    let prompt = vec![2u32, 3, 5];
    let s = score_tempered(
        &initial(),
        &[(&prompt[..], tokens)],
        &[temperature],
        &hicra_model::cpu(),
    );
    let logprobs: Vec<f32> = s.logprobs.into_data().convert::<f32>().to_vec().unwrap();
    Rollout {
        prompt_tokens: prompt,
        tokens: tokens.to_vec(),
        logprobs: logprobs[..tokens.len()]
            .iter()
            .map(|l| l + offset)
            .collect(),
        entropies: vec![0.0; tokens.len()],
        advantages: vec![advantage; tokens.len()],
        reward: Some(0.0),
        sampling: Some(Sampling {
            temperature,
            top_k: 0,
            top_p: 1.0,
        }),
        finish: Some(FinishReason::Stop),
        ..Default::default()
    }
}

/// Eight rollouts with advantages of both signs, one group.
pub(crate) fn rollouts(temperature: f32, offset: f32) -> Vec<Rollout> {
    let responses: [&[u32]; 8] = [
        &[3, 3, 1],
        &[4, 2, 1],
        &[2, 3, 4, 1],
        &[5, 5],
        &[3, 4, 1],
        &[2, 2, 2, 1],
        &[4, 4, 3],
        &[5, 1],
    ];
    responses
        .iter()
        .enumerate()
        .map(|(i, r)| rollout(r, if i % 2 == 0 { 1.5 } else { -1.5 }, temperature, offset))
        .collect()
}

pub(crate) fn batch(rollouts: Vec<Rollout>) -> RolloutBatch {
    crate::batch_of(rollouts)
}

/// Runs the learner with `PARAMS` plus `extra` on `batches`: its metrics and published weights.
fn train(extra: &str, batches: Vec<RolloutBatch>) -> (Vec<Metrics>, Vec<PolicyUpdate>) {
    // no checkpoints: the harness shares one output directory between parallel tests
    let params = format!("{PARAMS}checkpoint_every = 0\n{extra}");
    let mut out = StageHarness::new::<LearnerConfig>(&params)
        .input("rollouts", batches)
        .run()
        .unwrap();
    let metrics = out.take::<MetricsRecord>("metrics");
    let updates = out.take::<PolicyUpdate>("weights");
    (metrics.into_iter().map(|m| m.values).collect(), updates)
}

#[test]
fn two_epochs_of_mini_batches_engage_the_clip() {
    let (m, _) = train(
        "epochs = 2\nmini_batch_size = 2\n",
        vec![batch(rollouts(1.0, 0.0))],
    );
    let m = &m[0];
    assert_eq!(
        m["learner/optimizer_steps"], 8.0,
        "2 epochs x 4 mini-batches"
    );
    assert!(
        m["pg_clipfrac"] > 0.0,
        "later mini-batches are clipped: {m:?}"
    );
    assert!(m["logprob_gap/sampler_vs_learner_max"] < 1e-5, "{m:?}");

    let (one, _) = train("", vec![batch(rollouts(1.0, 0.0))]);
    assert_eq!(one[0]["learner/optimizer_steps"], 1.0);
    assert_eq!(one[0]["pg_clipfrac"], 0.0, "one step: the ratio is 1");
}

#[test]
fn one_epoch_over_the_whole_batch_is_todays_single_step() {
    let whole = |extra: &str| {
        let (_, updates) = train(extra, vec![batch(rollouts(1.0, 0.0))]);
        let p = updates[1].model();
        crate::logprob(&p, &[2, 3, 5], &[3, 3, 1])
    };
    let default = whole("");
    assert_eq!(default, whole("mini_batch_size = 8\n"));
    assert_eq!(default, whole("mini_batch_size = 100\n"));
    assert_ne!(
        default,
        whole("mini_batch_size = 4\n"),
        "two steps differ from one"
    );
}

/// Micro-batches bounded by rows or by padded tokens accumulate to the mini-batch's gradient:
/// the same update (to float rounding) as one pass over all eight rollouts.
#[test]
fn micro_batch_budgets_give_the_same_update() {
    let after = |extra: &str| {
        let (m, updates) = train(extra, vec![batch(rollouts(1.0, 0.0))]);
        let p = updates[1].model();
        (
            m[0]["loss/policy"],
            crate::logprob(&p, &[2, 3, 5], &[3, 3, 1]),
        )
    };
    let (loss, logprob) = after(
        "micro_batch_size = 8
micro_batch_tokens = 0
",
    );
    // one rollout per pass, 7-token passes (prompt 3 + up to 4), and 2-3 rollouts per pass
    for extra in [
        "micro_batch_size = 1
",
        "micro_batch_tokens = 7
",
        "micro_batch_tokens = 20
",
    ] {
        let (l, p) = after(extra);
        assert!((l - loss).abs() < 1e-5, "{extra}: loss {l} vs {loss}");
        assert!((p - logprob).abs() < 1e-5, "{extra}: {p} vs {logprob}");
    }
    assert_ne!(logprob, crate::logprob(&initial(), &[2, 3, 5], &[3, 3, 1]));
}

/// Shuffles derive from the stage seed and the step: the same run twice is the same.
#[test]
fn mini_batch_shuffles_are_reproducible() {
    let run = || {
        let (m, updates) = train(
            "epochs = 2\nmini_batch_size = 3\n",
            vec![batch(rollouts(1.0, 0.0))],
        );
        let p = updates[1].model();
        (
            m[0]["loss/policy"],
            crate::logprob(&p, &[2, 3, 5], &[4, 2, 1]),
        )
    };
    assert_eq!(run(), run());
}

/// A sampler 0.3 nats below the learner on every token: without correction the ratio starts
/// at e^0.3 = 1.35 > 1.28 and positive-advantage tokens are clipped from the first step; with
/// it, `old` is the learner's own and each token is weighted by e^0.3 (truncated at 2: no
/// clip; at 1.2: all clipped).
#[test]
fn importance_correction_recomputes_old_and_weights_tokens() {
    let (plain, _) = train("", vec![batch(rollouts(1.0, -0.3))]);
    assert!((plain[0]["logprob_gap/sampler_vs_learner_max"] - 0.3).abs() < 1e-4);
    assert!(plain[0]["pg_clipfrac"] > 0.3, "{:?}", plain[0]);

    let (m, _) = train(
        "importance_correction = { level = \"token\", mode = \"truncate\", cap = 2.0 }\n",
        vec![batch(rollouts(1.0, -0.3))],
    );
    let m = &m[0];
    assert_eq!(m["pg_clipfrac"], 0.0, "{m:?}");
    assert!(
        (m["importance/weight_mean"] - 0.3f64.exp()).abs() < 1e-3,
        "{m:?}"
    );
    assert_eq!(m["importance/clipped_frac"], 0.0);
    assert!((m["logprob_gap/sampler_vs_learner_max"] - 0.3).abs() < 1e-4);

    let (tight, _) = train(
        "importance_correction = { level = \"token\", cap = 1.2 }\n",
        vec![batch(rollouts(1.0, -0.3))],
    );
    assert_eq!(tight[0]["importance/clipped_frac"], 1.0);
    assert!((tight[0]["importance/weight_mean"] - 1.2).abs() < 1e-6);

    let (masked, _) = train(
        "importance_correction = { level = \"sequence\", mode = \"mask\", cap = 2.0 }\n",
        vec![batch(rollouts(1.0, -0.3))],
    );
    // responses of 3 or 4 tokens: e^0.9 = 2.46 and e^1.2 = 3.3 are masked, e^0.6 = 1.82 kept
    assert!((masked[0]["importance/clipped_frac"] - 6.0 / 8.0).abs() < 1e-12);
}

/// Masked importance sampling removes a response as if it were not in the batch: its tokens
/// leave the aggregation's denominators (they used to stay, shrinking the loss by kept/total),
/// so the update equals that of the batch without it.
#[test]
fn a_masked_response_trains_as_if_removed() {
    let correction =
        "importance_correction = { level = \"sequence\", mode = \"mask\", cap = 2.0 }\n";
    let mut all = rollouts(1.0, 0.0);
    // the sampler 1 nat below the learner on every token: weight e^3 or e^4, masked
    for i in [1, 4] {
        all[i].logprobs.iter_mut().for_each(|l| *l -= 1.0);
    }
    let kept: Vec<Rollout> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| ![1, 4].contains(i))
        .map(|(_, r)| r.clone())
        .collect();
    for aggregation in ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"] {
        let extra = format!("{correction}loss_aggregation = \"{aggregation}\"\n");
        let after = |rollouts: Vec<Rollout>| {
            let (m, updates) = train(&extra, vec![batch(rollouts)]);
            let p = updates[1].model();
            (
                m[0]["loss/policy"],
                crate::logprob(&p, &[2, 3, 5], &[3, 3, 1]),
                crate::logprob(&p, &[2, 3, 5], &[2, 2, 2, 1]),
            )
        };
        let (masked, removed) = (after(all.clone()), after(kept.clone()));
        assert!(
            (masked.0 - removed.0).abs() < 1e-6,
            "{aggregation}: {masked:?} vs {removed:?}"
        );
        assert!(
            (masked.1 - removed.1).abs() < 1e-5,
            "{aggregation}: {masked:?} vs {removed:?}"
        );
        assert!(
            (masked.2 - removed.2).abs() < 1e-5,
            "{aggregation}: {masked:?} vs {removed:?}"
        );
    }
}

#[test]
fn truncated_responses_leave_the_loss_under_mask_truncated() {
    let mut rs = rollouts(1.0, 0.0);
    for r in rs.iter_mut().take(2) {
        r.finish = Some(FinishReason::Length);
    }
    let (m, _) = train("mask_truncated = true\n", vec![batch(rs.clone())]);
    assert_eq!(m[0]["learner/truncated_masked_frac"], 0.25);

    // only truncated responses: nothing to train on, but the version still advances
    let all: Vec<Rollout> = rs[..2].to_vec();
    let (m, updates) = train("mask_truncated = true\n", vec![batch(all.clone())]);
    assert_eq!(m[0]["learner/empty_batch"], 1.0);
    assert_eq!(
        updates.iter().map(|u| u.version).collect::<Vec<_>>(),
        vec![0, 1]
    );
    let (m, _) = train("", vec![batch(all)]);
    assert!(m[0]["grad_norm"] > 0.0, "without the mask they train");
}

/// Rollouts sampled at T = 0.7 are scored at 0.7: the gap is rounding only. Claiming T = 1
/// for the same log-probs shows the gap the untempered scorer would have.
#[test]
fn the_learner_scores_at_the_rollouts_temperature() {
    let (m, _) = train("", vec![batch(rollouts(0.7, 0.0))]);
    let gap = m[0]["logprob_gap/sampler_vs_learner_max"];
    assert!(gap <= 1e-4, "tempered gap {gap}");
    let mut wrong = rollouts(0.7, 0.0);
    for r in &mut wrong {
        r.sampling = None;
    }
    let (m, _) = train("", vec![batch(wrong)]);
    assert!(m[0]["logprob_gap/sampler_vs_learner_max"] > 1e-2);
}
