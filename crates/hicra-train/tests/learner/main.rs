//! The learner on the real runtime: one policy-gradient step moves probability towards
//! positive-advantage responses and away from negative ones, and reports its figures
//! (this file); epochs, mini-batches, importance correction, truncation masking and tempered
//! scoring ([`epochs`]); every objective and option as TOML, with its checks ([`options`]);
//! the combinations refused, incomplete rollouts, the loss terms reported apart ([`checks`]);
//! the host path and burn's autodiff training alike ([`paths`]); a prefix tree leaves share
//! trained once ([`tree`]); LoRA adapters on a frozen base ([`lora`]).

mod checks;
mod epochs;
mod lora;
mod options;
mod paths;
mod tree;

use hicra_flow::testing::StageHarness;
use hicra_messages::{Group, MetricsRecord, Prompt, Rollout, RolloutBatch};
use hicra_model::{Llama, score};
use hicra_train::{LearnerConfig, PolicyModelConfig, PolicyUpdate};

const PARAMS: &str = r#"
init_seed = 5
learning_rate = 0.05
grad_clip = 0.0
model = { alphabet = "abc\n", hidden_size = 16, intermediate_size = 32, num_layers = 1, num_heads = 2, num_kv_heads = 1, max_seq_len = 16 }
"#;

/// The same network as `PARAMS` describes.
fn model_config() -> PolicyModelConfig {
    PolicyModelConfig {
        alphabet: "abc\n".into(),
        hidden_size: 16,
        intermediate_size: 32,
        num_layers: 1,
        num_heads: 2,
        num_kv_heads: 1,
        max_seq_len: 16,
        ..PolicyModelConfig::default()
    }
}

fn logprob<B: burn::tensor::backend::Backend<Device = hicra_model::Device>>(
    model: &Llama<B>,
    prompt: &[u32],
    response: &[u32],
) -> f32 {
    let s = score(model, &[(prompt, response)], &hicra_model::cpu());
    let v: Vec<f32> = s.logprobs.into_data().convert::<f32>().to_vec().unwrap();
    v[..response.len()].iter().sum()
}

/// One batch of one group of `rollouts`, step 0, sampled by version 0.
fn batch_of(rollouts: Vec<Rollout>) -> RolloutBatch {
    RolloutBatch::new(0, vec![Group::new(Prompt::new("p", "", ""), rollouts)])
}

#[test]
fn a_step_follows_the_sign_of_the_advantage() {
    let config = model_config();
    let initial: Llama<hicra_model::RuntimeBackend> =
        Llama::init(&config.model_config(), 5, &hicra_model::cpu());
    let prompt = vec![2u32, 3, 5];
    let (good, bad) = (vec![3u32, 3, 1], vec![4u32, 2, 1]);
    let rollout = |tokens: &Vec<u32>, advantage: f32| {
        let s = score(&initial, &[(&prompt[..], &tokens[..])], &hicra_model::cpu());
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
    let batch = batch_of(vec![rollout(&good, 1.0), rollout(&bad, -1.0)]);
    let mut out = StageHarness::new::<LearnerConfig>(PARAMS)
        .input("rollouts", vec![batch])
        .run()
        .unwrap();
    let updates = out.take::<PolicyUpdate>("weights");
    assert_eq!(
        updates.iter().map(|u| u.version).collect::<Vec<_>>(),
        vec![0, 1]
    );
    let (before, after) = (updates[0].model(), updates[1].model());
    assert!(
        (logprob(&before, &prompt, &good) - logprob(&initial, &prompt, &good)).abs() < 1e-6,
        "version 0 is the initial policy"
    );
    assert!(logprob(&after, &prompt, &good) > logprob(&before, &prompt, &good));
    assert!(logprob(&after, &prompt, &bad) < logprob(&before, &prompt, &bad));
    let metrics = out.take::<MetricsRecord>("metrics");
    let m = &metrics[0].values;
    assert!(
        m["grad_norm"] > 0.0 && m["logprob_gap/sampler_vs_learner_max"] < 1e-5,
        "{m:?}"
    );
    assert_eq!(m["pg_clipfrac"], 0.0, "ratio is 1 on the first pass");
}
