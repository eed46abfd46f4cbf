//! What a LoRA learner sends: the shared base and the adapters, which `model()` merges into
//! the learner's own weights bit for bit; `weights/update_bytes` is the adapters' f32 bytes
//! (the whole model's without LoRA).

use std::sync::Arc;

use hicra_flow::testing::StageHarness;
use hicra_messages::{Metrics, MetricsRecord};
use hicra_model::RuntimeBackend;
use hicra_train::checkpoint::load_weights;
use hicra_train::lora::Target;
use hicra_train::policy::PolicyWeights;
use hicra_train::{LearnerConfig, PolicyUpdate, flat};

use super::{LORA, initial, step_dir};
use crate::epochs::{batch, rollouts};
use crate::{PARAMS, model_config};

/// The learner with `PARAMS` and `extra` on two batches, checkpointing every step into
/// `out`: its figures and updates.
fn updates(out: &std::path::Path, extra: &str) -> (Vec<Metrics>, Vec<PolicyUpdate>) {
    let params = format!("{PARAMS}\ncheckpoint_every = 1\nkl_coef = 0.1\n{extra}");
    let out_dir = out.to_path_buf();
    let mut got = StageHarness::new::<LearnerConfig>(&params)
        .settings(|s| s.out_dir = out_dir)
        .input(
            "rollouts",
            vec![batch(rollouts(1.0, 0.0)), batch(rollouts(0.8, -0.2))],
        )
        .run()
        .unwrap();
    let metrics = got.take::<MetricsRecord>("metrics");
    let updates = got.take::<PolicyUpdate>("weights");
    assert_eq!(updates.len(), 3, "the initial weights and one per batch");
    (metrics.into_iter().map(|m| m.values).collect(), updates)
}

fn params(m: &hicra_model::Llama<RuntimeBackend>) -> Vec<f32> {
    flat::parameters::<RuntimeBackend, _>(m)
}

#[test]
fn lora_updates_share_the_base_and_merge_into_the_learners_weights() {
    let out = tempfile::tempdir().unwrap();
    let (m, updates) = updates(out.path(), LORA);
    let base = match &updates[0].weights {
        PolicyWeights::Lora(lora) => lora.base.clone(),
        PolicyWeights::Whole(_) => panic!("a LoRA learner sent the whole model"),
    };
    assert_eq!(base.sha256, hicra_train::lora::weights_sha256(&initial()));
    assert_eq!(params(&updates[0].model()), params(&initial()), "step 0");
    for (step, update) in updates.iter().enumerate().skip(1) {
        let PolicyWeights::Lora(lora) = &update.weights else {
            panic!("update {step} is the whole model");
        };
        assert!(
            Arc::ptr_eq(&lora.base, &base),
            "update {step} copied the base"
        );
        let merged = load_weights(&step_dir(out.path(), step as u64), initial()).unwrap();
        assert_eq!(
            params(&update.model()),
            params(&merged),
            "after step {step}"
        );
        assert_ne!(
            params(&merged),
            params(&initial()),
            "step {step} moved nothing"
        );
    }
    // rank 4 x (in + out) x 4 bytes on q [16 -> 16], v [16 -> 8], down [32 -> 16]
    let c = model_config().model_config();
    let adapters: usize = [Target::Q, Target::V, Target::Down]
        .iter()
        .map(|t| {
            let (i, o) = t.shape(&c);
            4 * (i + o) * 4
        })
        .sum();
    assert_eq!(adapters, 4 * 416);
    for figures in &m {
        assert_eq!(figures["weights/update_bytes"], adapters as f64);
    }
    assert_eq!(updates[1].update_bytes(false), adapters);
    assert_eq!(
        updates[1].update_bytes(true),
        adapters + 4 * params(&initial()).len()
    );
}

#[test]
fn without_lora_an_update_carries_the_whole_model() {
    let out = tempfile::tempdir().unwrap();
    let (m, updates) = updates(out.path(), "");
    assert!(matches!(updates[1].weights, PolicyWeights::Whole(_)));
    let whole = 4 * params(&initial()).len();
    for figures in &m {
        assert_eq!(figures["weights/update_bytes"], whole as f64);
    }
}

/// `x` rounded to bf16 (to nearest, ties to even) and back.
fn bf16(x: f32) -> f32 {
    let bits = x.to_bits();
    let round = 0x7fff + ((bits >> 16) & 1);
    f32::from_bits(bits.wrapping_add(round) & 0xffff_0000)
}

#[test]
fn a_base_stored_in_bf16_is_the_rounded_base_everywhere() {
    let out = tempfile::tempdir().unwrap();
    let lora = LORA.replace("}", ", base_dtype = \"bf16\" }");
    assert!(lora.contains("base_dtype"), "{lora}");
    let (_, updates) = updates(out.path(), &lora);
    let rounded: Vec<f32> = params(&initial()).into_iter().map(bf16).collect();
    assert_ne!(rounded, params(&initial()), "bf16 rounds these weights");
    let PolicyWeights::Lora(shared) = &updates[0].weights else {
        panic!("a LoRA learner sent the whole model");
    };
    // the base is named by the weights as built, and it is stored rounded
    assert_eq!(
        shared.base.sha256,
        hicra_train::lora::weights_sha256(&initial())
    );
    assert_eq!(
        params(&updates[0].model()),
        rounded,
        "step 0 is the rounded base"
    );
    for (step, update) in updates.iter().enumerate().skip(1) {
        let merged = load_weights(&step_dir(out.path(), step as u64), initial()).unwrap();
        assert_eq!(
            params(&update.model()),
            params(&merged),
            "the update is the learner's policy after step {step}"
        );
        assert_ne!(params(&merged), rounded, "step {step} moved nothing");
    }
}
