//! Tree rollouts in the learner: a prefix two leaves share is trained once, by the leaf that
//! sampled it, exactly as if the other leaf had been a response to the prompt and the prefix.

use hicra_flow::testing::StageHarness;
use hicra_messages::{Rollout, TREE_REPEAT_MASK};
use hicra_model::{Llama, RuntimeBackend, score};
use hicra_train::{LearnerConfig, PolicyUpdate};

use super::{PARAMS, batch_of, logprob, model_config};

/// A rollout of `tokens` after `prompt` scored by `model`, with one advantage per token.
fn rollout(model: &Llama<RuntimeBackend>, prompt: &[u32], tokens: &[u32], adv: &[f32]) -> Rollout {
    let s = score(model, &[(prompt, tokens)], &hicra_model::cpu());
    let logprobs: Vec<f32> = s.logprobs.into_data().convert::<f32>().to_vec().unwrap();
    Rollout {
        prompt_tokens: prompt.to_vec(),
        tokens: tokens.to_vec(),
        logprobs: logprobs[..tokens.len()].to_vec(),
        entropies: vec![0.0; tokens.len()],
        advantages: adv.to_vec(),
        reward: Some(0.0),
        ..Default::default()
    }
}

fn trained(rollouts: Vec<Rollout>) -> Llama<RuntimeBackend> {
    let mut out = StageHarness::new::<LearnerConfig>(PARAMS)
        .input("rollouts", vec![batch_of(rollouts)])
        .run()
        .unwrap();
    let updates = out.take::<PolicyUpdate>("weights");
    updates.last().unwrap().model()
}

#[test]
fn a_shared_prefix_is_trained_once() {
    let initial: Llama<RuntimeBackend> =
        Llama::init(&model_config().model_config(), 5, &hicra_model::cpu());
    let prompt = [2u32, 3, 5];
    let (x, y, z) = ([3u32, 3], [1u32, 2], [2u32, 1, 1]);
    let (ax, ay, az) = (0.7f32, 1.0f32, -1.2f32);
    let leaf0: Vec<u32> = x.iter().chain(&y).copied().collect();
    let leaf1: Vec<u32> = x.iter().chain(&z).copied().collect();
    let first = rollout(&initial, &prompt, &leaf0, &[ax, ax, ay, ay]);
    let second = rollout(&initial, &prompt, &leaf1, &[ax, ax, az, az, az]);
    let mut repeated = second.clone();
    repeated.masks.insert(
        TREE_REPEAT_MASK.into(),
        vec![true, true, false, false, false],
    );
    // the second leaf's own tokens as a response to the prompt and the shared prefix
    let prefixed: Vec<u32> = prompt.iter().chain(&x).copied().collect();
    let own = rollout(&initial, &prefixed, &z, &[az, az, az]);

    let tree = trained(vec![first.clone(), repeated]);
    let unique = trained(vec![first.clone(), own]);
    let twice = trained(vec![first, second]);
    let probes: [&[u32]; 3] = [&leaf0, &leaf1, &[1, 1, 3]];
    let mut moved = 0.0f32;
    for p in probes {
        let (t, u, w) = (
            logprob(&tree, &prompt, p),
            logprob(&unique, &prompt, p),
            logprob(&twice, &prompt, p),
        );
        assert!((t - u).abs() < 1e-5, "tree {t} vs unique tokens {u}");
        moved = moved.max((t - w).abs());
    }
    assert!(
        moved > 1e-3,
        "training the prefix twice must differ ({moved})"
    );
}
