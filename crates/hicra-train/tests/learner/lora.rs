//! The learner with `lora`: step 0 is the base exactly; a step moves only the targeted
//! weights, each by `s * B A` of the adapters it saved, and the same on both compute paths;
//! it follows the sign of the advantage; the warm-up trains adapters too; bad tables are
//! refused at their field, at `FILE:LINE:COL` in a pipeline. Checkpoints and resuming:
//! [`checkpoints`].

use std::path::{Path, PathBuf};

use hicra_flow::checkpoint::ResumePoint;
use hicra_flow::testing::StageHarness;
use hicra_flow::{Pipeline, Registry};
use hicra_messages::{Metrics, MetricsRecord, Prompt, Rollout, RolloutBatch};
use hicra_model::{Llama, RuntimeBackend, cpu, score};
use hicra_train::lora::adapters::{delta, dense};
use hicra_train::lora::{Target, load_adapters};
use hicra_train::{LearnerConfig, PolicyUpdate, flat};

use crate::epochs::{batch, rollouts};
use crate::{PARAMS, logprob, model_config};

mod checkpoints;
mod updates;

/// rank 4 fits the smallest layers (k and v: [16 in, 8 out]); scale 2.
const LORA: &str =
    "lora = { rank = 4, alpha = 8.0, targets = [\"q\", \"v\", \"down\"], init_seed = 3 }\n";

fn initial() -> Llama<RuntimeBackend> {
    Llama::init(&model_config().model_config(), 5, &cpu())
}

fn values(t: burn::tensor::Tensor<RuntimeBackend, 2>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec().unwrap()
}

/// The learner with `PARAMS`, `LORA` and `extra`, writing into `out`: its figures and the
/// weights it published.
fn run(
    out: &Path,
    extra: &str,
    batches: Vec<RolloutBatch>,
    sft: Vec<Prompt>,
    resume: Option<ResumePoint>,
) -> Result<(Vec<Metrics>, Vec<Llama<RuntimeBackend>>), String> {
    // `extra` may replace a line of `PARAMS` (`init_seed = 6`) or `LORA`
    let replaced: Vec<&str> = extra
        .lines()
        .filter_map(|l| l.split(" = ").next())
        .collect();
    let kept: Vec<&str> = PARAMS
        .lines()
        .filter(|l| !replaced.iter().any(|k| l.starts_with(&format!("{k} = "))))
        .collect();
    let lora = if replaced.contains(&"lora") { "" } else { LORA };
    let params = format!("{}\n{lora}{extra}", kept.join("\n"));
    let out_dir = out.to_path_buf();
    let mut got = StageHarness::new::<LearnerConfig>(&params)
        .settings(|s| {
            s.out_dir = out_dir;
            s.resume = resume;
        })
        .input("rollouts", batches)
        .input("sft", sft)
        .run()
        .map_err(|e| e.to_string())?;
    let metrics = got.take::<MetricsRecord>("metrics");
    let weights = got.take::<PolicyUpdate>("weights");
    Ok((
        metrics.into_iter().map(|m| m.values).collect(),
        weights.iter().map(PolicyUpdate::model).collect(),
    ))
}

/// The largest |a - b|.
fn max_apart(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn step_dir(out: &Path, step: u64) -> PathBuf {
    hicra_flow::checkpoint::checkpoint_dir(out, step)
}

/// Every weight that is not a target of `LORA` is the same bit for bit.
fn assert_frozen(before: &Llama<RuntimeBackend>, after: &Llama<RuntimeBackend>) {
    assert_eq!(
        values(before.embedding.val()),
        values(after.embedding.val())
    );
    assert!(after.head.is_none(), "the head is the tied embedding");
    let norms = |m: &Llama<RuntimeBackend>| {
        let mut v = flat::parameters::<RuntimeBackend, _>(&m.norm);
        for b in &m.blocks {
            v.extend(flat::parameters::<RuntimeBackend, _>(&b.attention_norm));
            v.extend(flat::parameters::<RuntimeBackend, _>(&b.mlp_norm));
        }
        v
    };
    assert_eq!(norms(before), norms(after));
    for (b0, b1) in before.blocks.iter().zip(&after.blocks) {
        for t in [Target::K, Target::O, Target::Gate, Target::Up] {
            let (w0, w1) = (dense(b0, t).weight.val(), dense(b1, t).weight.val());
            assert_eq!(values(w0), values(w1), "{t:?} is not a target");
        }
    }
}

#[test]
fn step_zero_is_the_base_model_exactly() {
    let out = tempfile::tempdir().unwrap();
    let (_, weights) = run(out.path(), "", Vec::new(), Vec::new(), None).unwrap();
    let base = initial();
    assert_eq!(
        flat::parameters::<RuntimeBackend, _>(&weights[0]),
        flat::parameters::<RuntimeBackend, _>(&base)
    );
    let (prompt, response) = ([2u32, 3, 5], [3u32, 4, 1]);
    assert_eq!(
        logprob(&weights[0], &prompt, &response),
        logprob(&base, &prompt, &response)
    );
}

/// After a step only q, v and down moved, each by `s * (B A)^T` of the saved adapters; the
/// checkpoint holds adapters, their optimiser and `lora.json`, no full optimiser or reference.
#[test]
fn a_step_moves_only_the_targets_by_the_saved_adapters() {
    let out = tempfile::tempdir().unwrap();
    let extra = "checkpoint_every = 1\nkl_coef = 0.1\n";
    let (m, weights) = run(
        out.path(),
        extra,
        vec![batch(rollouts(1.0, 0.0))],
        Vec::new(),
        None,
    )
    .unwrap();
    let (before, after) = (&weights[0], &weights[1]);
    assert_frozen(before, after);
    let dir = step_dir(out.path(), 1);
    let (file, adapters) = load_adapters(&dir, &initial()).unwrap();
    assert_eq!(file.base.path, "scratch");
    assert_eq!(file.base.init_seed, Some(5));
    assert_eq!(
        file.base.sha256,
        hicra_train::lora::weights_sha256(&initial())
    );
    // per block: q 16x4 + 4x16, v 16x4 + 4x8, down 32x4 + 4x16
    assert_eq!(file.trainable_params, 128 + 96 + 192);
    assert_eq!(m[0]["lora/trainable_params"], 416.0);
    assert_eq!(m[0]["lora/adapter_bytes"], 4.0 * 416.0);
    assert!(m[0]["timing/merge_secs"] >= 0.0 && m[0]["loss/kl"].is_finite());
    for (l, t, adapter) in adapters.entries() {
        let (w0, w1) = (dense(&before.blocks[l], t), dense(&after.blocks[l], t));
        let moved: Vec<f32> = values(w1.weight.val() - w0.weight.val());
        let want = values(delta(adapter.a.val(), adapter.b.val(), 2.0));
        assert!(want.iter().any(|&x| x != 0.0), "{t:?} did not move");
        for (g, w) in moved.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6, "{t:?}: moved {g}, s B A is {w}");
        }
    }
    for name in [
        "adapters.mpk",
        "adapter_optimizer.mpk",
        "lora.json",
        "model.mpk",
    ] {
        assert!(dir.join(name).exists(), "{name}");
    }
    for name in ["optimizer.mpk", "reference.mpk"] {
        assert!(!dir.join(name).exists(), "{name}");
    }
}

/// Both compute paths give the same adapted weights to 1e-5, over two batches with KL and
/// entropy terms.
#[test]
fn host_and_tensor_paths_adapt_alike() {
    let extra = |path: &str| {
        format!(
            "checkpoint_every = 0\ncompute_path = \"{path}\"\nkl_coef = 0.1\nentropy_coef = 0.01\n"
        )
    };
    let batches = || vec![batch(rollouts(1.0, 0.0)), batch(rollouts(0.8, -0.2))];
    let out = tempfile::tempdir().unwrap();
    let (_, host) = run(out.path(), &extra("host"), batches(), Vec::new(), None).unwrap();
    let (_, tensor) = run(out.path(), &extra("tensor"), batches(), Vec::new(), None).unwrap();
    for step in 1..3 {
        let h = flat::parameters::<RuntimeBackend, _>(&host[step]);
        let t = flat::parameters::<RuntimeBackend, _>(&tensor[step]);
        let w0 = flat::parameters::<RuntimeBackend, _>(&tensor[0]);
        assert_ne!(t, w0, "the weights did not move");
        // other kernels round otherwise: equal weights would mean one path ran twice
        assert_ne!(h, t, "the host path did not run");
        let apart = max_apart(&h, &t);
        assert!(
            apart <= 1e-5,
            "after batch {step}: host and tensor differ by {apart}"
        );
        assert_frozen(&tensor[0], &host[step]);
    }
}

/// As `a_step_follows_the_sign_of_the_advantage`, with LoRA.
#[test]
fn a_lora_step_follows_the_sign_of_the_advantage() {
    let base = initial();
    let prompt = vec![2u32, 3, 5];
    let (good, bad) = (vec![3u32, 3, 1], vec![4u32, 2, 1]);
    let rollout = |tokens: &Vec<u32>, advantage: f32| {
        let s = score(&base, &[(&prompt[..], &tokens[..])], &cpu());
        let logprobs: Vec<f32> = s.logprobs.into_data().convert::<f32>().to_vec().unwrap();
        Rollout {
            prompt_tokens: prompt.clone(),
            tokens: tokens.clone(),
            logprobs: logprobs[..tokens.len()].to_vec(),
            entropies: vec![0.0; tokens.len()],
            advantages: vec![advantage; tokens.len()],
            reward: Some(0.0),
            ..Default::default()
        }
    };
    let batches = vec![batch(vec![rollout(&good, 1.0), rollout(&bad, -1.0)])];
    let out = tempfile::tempdir().unwrap();
    let (m, weights) = run(
        out.path(),
        "checkpoint_every = 0\n",
        batches,
        Vec::new(),
        None,
    )
    .unwrap();
    let (before, after) = (&weights[0], &weights[1]);
    assert!(logprob(after, &prompt, &good) > logprob(before, &prompt, &good));
    assert!(logprob(after, &prompt, &bad) < logprob(before, &prompt, &bad));
    assert!(m[0]["grad_norm"] > 0.0 && m[0]["logprob_gap/sampler_vs_learner_max"] < 1e-5);
}

#[test]
fn the_warm_up_trains_the_adapters() {
    let prompts: Vec<Prompt> = ["abc", "cab", "bba", "ca"]
        .iter()
        .enumerate()
        .map(|(i, solution)| {
            let mut p = Prompt::new(format!("w{i}"), "", "");
            p.meta.insert("solution".into(), (*solution).into());
            p
        })
        .collect();
    let extra = |path: &str| {
        format!(
            "checkpoint_every = 0\ncompute_path = \"{path}\"\n\
             sft = {{ steps = 2, batch_size = 2, learning_rate = 0.01 }}\n"
        )
    };
    let out = tempfile::tempdir().unwrap();
    let (m, host) = run(
        out.path(),
        &extra("host"),
        Vec::new(),
        prompts.clone(),
        None,
    )
    .unwrap();
    let (_, tensor) = run(out.path(), &extra("tensor"), Vec::new(), prompts, None).unwrap();
    assert!(m[0]["sft/final_loss"].is_finite());
    let base = initial();
    assert_frozen(&base, &host[0]);
    let (h, t) = (
        flat::parameters::<RuntimeBackend, _>(&host[0]),
        flat::parameters::<RuntimeBackend, _>(&tensor[0]),
    );
    assert_ne!(
        h,
        flat::parameters::<RuntimeBackend, _>(&base),
        "nothing trained"
    );
    assert_ne!(h, t, "the host path did not run");
    let apart = max_apart(&h, &t);
    assert!(apart <= 1e-5, "host and tensor warm-ups differ by {apart}");
}

/// In a pipeline, each bad value of the table is reported at its own `FILE:LINE:COL`.
#[test]
fn bad_lora_values_are_reported_where_they_are_written() {
    let mut registry = Registry::new();
    hicra_train::register(&mut registry);
    let text = "[stages.learner]\nkind = \"learner.policy_gradient\"\n\
                inputs = { rollouts = \"nowhere.rollouts\" }\n\
                model = { hidden_size = 16, intermediate_size = 32, num_layers = 1, num_heads = 2, num_kv_heads = 1 }\n\
                lora = { rank = 9, alpha = 0.0, targets = [\"v\", \"qkv\"], dropout = 0.1 }\n";
    let Err(d) = Pipeline::from_str(&registry, "p.toml", text) else {
        panic!("accepted");
    };
    let plain = d.plain();
    for want in [
        "p.toml:5:17: error: lora.rank = 9 is above the smaller side of the `v` layer ([16 in, 8 out])",
        "p.toml:5:28: error: lora.alpha must be positive, got 0",
        "p.toml:5:43: error: unknown LoRA target `qkv`",
        "p.toml:5:67: error: lora.dropout = 0.1 is not supported: only 0 is",
        "help: the targets are q, k, v, o, gate, up, down",
    ] {
        assert!(plain.contains(want), "`{want}` missing from:\n{plain}");
    }
}
