//! The host path (`compute_path = "host"`: host kernels forward and backward, burn only
//! differentiating the loss of the log-probs) and burn's autodiff (`compute_path = "tensor"`)
//! train alike: from the same model and batch, the weights after the batch and the loss
//! figures agree to float rounding, with KL to the reference, an entropy term, importance
//! correction (the policy's log-probs recomputed), several optimiser steps and micro-batches;
//! the supervised warm-up too. On the CPU in f32, `auto` is the host path.

use hicra_flow::testing::StageHarness;
use hicra_messages::{Metrics, MetricsRecord, Prompt, RolloutBatch};
use hicra_model::RuntimeBackend;
use hicra_train::{LearnerConfig, PolicyUpdate, flat};

use crate::PARAMS;
use crate::epochs::{batch, rollouts};

/// The learner with `PARAMS`, `extra` and `compute_path = path` on `batches` and the warm-up
/// prompts `sft`: its metrics and the weights it published (initial, then after each batch).
fn run(
    path: &str,
    extra: &str,
    batches: Vec<RolloutBatch>,
    sft: Vec<Prompt>,
) -> (Vec<Metrics>, Vec<Vec<f32>>) {
    // no checkpoints: the harness shares one output directory between parallel tests
    let params = format!("{PARAMS}checkpoint_every = 0\ncompute_path = \"{path}\"\n{extra}");
    let mut out = StageHarness::new::<LearnerConfig>(&params)
        .input("rollouts", batches)
        .input("sft", sft)
        .run()
        .unwrap();
    let metrics = out.take::<MetricsRecord>("metrics");
    let weights = out
        .take::<PolicyUpdate>("weights")
        .iter()
        .map(|u| flat::parameters::<RuntimeBackend, _>(&u.model()))
        .collect();
    (metrics.into_iter().map(|m| m.values).collect(), weights)
}

/// `host` and `tensor` weights agree: their moves away from `initial` to 3e-4 of the move's
/// norm, and each weight to 1e-3 of itself (or of a tenth of the largest, for weights near 0).
/// Measured: up to 5e-5 and 2e-4 after 8 AdamW steps, 1e-5 and 7e-5 after one (rounding
/// alone, the tensor path against itself with other micro-batches, moves them 1e-5 of the
/// move: AdamW's first steps amplify the rounding of tiny gradients).
fn assert_weights_agree(what: &str, initial: &[f32], host: &[f32], tensor: &[f32]) {
    assert_eq!(host.len(), tensor.len(), "{what}");
    let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| x * x).sum::<f32>().sqrt();
    let moved = norm(&mut tensor.iter().zip(initial).map(|(t, w)| t - w));
    let apart = norm(&mut host.iter().zip(tensor).map(|(h, t)| h - t));
    assert!(moved > 0.0, "{what}: the weights did not move");
    assert!(
        apart <= 3e-4 * moved,
        "{what}: the moves differ by {apart}, {moved} in all"
    );
    let scale = tensor.iter().fold(0f32, |m, w| m.max(w.abs()));
    for (i, (h, t)) in host.iter().zip(tensor).enumerate() {
        assert!(
            (h - t).abs() <= 1e-3 * t.abs().max(scale * 0.1),
            "{what}: weight {i} is {h} on the host path, {t} on tensors"
        );
    }
}

/// The figures both paths report agree to 1e-4 of the figure, give or take 1e-5.
fn assert_figures_agree(what: &str, host: &Metrics, tensor: &Metrics, keys: &[&str]) {
    for key in keys {
        let (h, t) = (host[*key], tensor[*key]);
        assert!(
            (h - t).abs() <= 1e-4 * t.abs() + 1e-5,
            "{what}: {key} is {h} on the host path, {t} on tensors"
        );
    }
}

const LOSS_FIGURES: [&str; 7] = [
    "loss/policy",
    "loss/total",
    "loss/kl",
    "loss/entropy",
    "kl",
    "grad_norm",
    "logprob_gap/sampler_vs_learner_max",
];

#[test]
fn host_and_tensor_paths_train_alike() {
    let cases: [(&str, &str, f32, f32); 3] = [
        (
            "one step, KL and entropy bonus",
            "kl_coef = 0.1\nentropy_coef = 0.01\n",
            1.0,
            0.0,
        ),
        (
            "importance correction, 2 epochs x 2 mini-batches, micro-batches of 3, tempered",
            "kl_coef = 0.05\nkl_estimator = \"k2\"\nentropy_coef = -0.02\n\
             importance_correction = { level = \"token\", mode = \"truncate\", cap = 1.2 }\n\
             epochs = 2\nmini_batch_size = 4\nmicro_batch_size = 3\n",
            0.8,
            -0.3,
        ),
        (
            "cispo, sequence-masked importance, micro-batches of 7 tokens",
            "objective = \"cispo\"\nkl_coef = 0.1\nentropy_coef = 0.01\n\
             importance_correction = { level = \"sequence\", mode = \"mask\", cap = 3.0 }\n\
             micro_batch_tokens = 7\n",
            1.0,
            -0.1,
        ),
    ];
    for (what, extra, temperature, offset) in cases {
        let batches = || {
            vec![
                batch(rollouts(temperature, offset)),
                batch(rollouts(temperature, offset / 2.0)),
            ]
        };
        let (host_m, host_w) = run("host", extra, batches(), Vec::new());
        let (tensor_m, tensor_w) = run("tensor", extra, batches(), Vec::new());
        assert_eq!(host_w.len(), 3, "{what}: initial and two batches");
        assert_eq!(host_w[0], tensor_w[0], "{what}: the same initial model");
        // other kernels round otherwise: equal weights would mean one path ran twice
        assert_ne!(host_w[2], tensor_w[2], "{what}: the host path did not run");
        for step in 1..3 {
            assert_weights_agree(
                &format!("{what}, after batch {step}"),
                &tensor_w[step - 1],
                &host_w[step],
                &tensor_w[step],
            );
            let (h, t) = (&host_m[step - 1], &tensor_m[step - 1]);
            assert_eq!(h["learner/optimizer_steps"], t["learner/optimizer_steps"]);
            assert_figures_agree(what, h, t, &LOSS_FIGURES);
            if extra.contains("importance_correction") {
                assert_figures_agree(
                    what,
                    h,
                    t,
                    &["importance/weight_mean", "importance/clipped_frac"],
                );
            }
        }
    }
}

#[test]
fn host_and_tensor_paths_warm_up_alike() {
    let prompts: Vec<Prompt> = ["abc", "cab", "bba", "ca"]
        .iter()
        .enumerate()
        .map(|(i, solution)| {
            let mut p = Prompt::new(format!("w{i}"), "", "");
            p.meta.insert("solution".into(), (*solution).into());
            p
        })
        .collect();
    let extra = "sft = { steps = 2, batch_size = 2, learning_rate = 0.01 }\n";
    let (host_m, host_w) = run("host", extra, Vec::new(), prompts.clone());
    let (tensor_m, tensor_w) = run("tensor", extra, Vec::new(), prompts);
    let (_, initial) = run("tensor", "", Vec::new(), Vec::new());
    assert_ne!(host_w[0], tensor_w[0], "the host path did not run");
    assert_weights_agree("warm-up", &initial[0], &host_w[0], &tensor_w[0]);
    assert_figures_agree("warm-up", &host_m[0], &tensor_m[0], &["sft/final_loss"]);
}

/// On the CPU in f32 (the learner here), `auto` takes the host path: the same weights as
/// `host`, bit for bit.
#[test]
fn auto_is_the_host_path_on_the_cpu_in_f32() {
    let extra = "kl_coef = 0.1\nentropy_coef = 0.01\n";
    let (auto_m, auto_w) = run("auto", extra, vec![batch(rollouts(1.0, 0.0))], Vec::new());
    let (host_m, host_w) = run("host", extra, vec![batch(rollouts(1.0, 0.0))], Vec::new());
    assert_eq!(auto_w, host_w);
    assert_eq!(auto_m[0]["loss/total"], host_m[0]["loss/total"]);
}
