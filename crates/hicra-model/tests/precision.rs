//! bf16 and f16: weights stored low for sampling, mixed precision for training. The low
//! precisions must round, not break: logits stay f32 and close to the f32 model's, the cached
//! path still equals the full pass to the type's rounding, and gradients reach the f32 master
//! weights.

use burn::module::{AutodiffModule, Module};
use burn::optim::GradientsParams;
use burn::tensor::{FloatDType, Int, Tensor, TensorData};
use hicra_model::{
    KvCache, Llama, ModelConfig, Precision, RuntimeAutodiff, RuntimeBackend, cpu, score,
};

type B = RuntimeBackend;

fn model() -> Llama<B> {
    Llama::init(&ModelConfig::tiny(24), 3, &cpu())
}

fn ids(tokens: &[i64]) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(tokens.to_vec(), [1, tokens.len()]), &cpu())
}

fn max_abs(t: Tensor<B, 3>) -> f32 {
    t.abs().max().into_scalar()
}

const TOKENS: [i64; 7] = [1, 4, 9, 16, 2, 7, 23];

#[test]
fn low_precision_weights_give_f32_logits_close_to_the_f32_model() {
    let reference = model().forward(ids(&TOKENS), None);
    let scale = max_abs(reference.clone());
    for (precision, tolerance) in [(Precision::Bf16, 0.05), (Precision::F16, 0.01)] {
        let low = model().stored_in(precision);
        assert_eq!(low.weight_precision(), precision.dtype());
        assert_eq!(
            low.blocks[0].mlp.down.weight.val().dtype(),
            precision.dtype().into()
        );
        let logits = low.forward(ids(&TOKENS), None);
        assert_eq!(logits.dtype(), FloatDType::F32.into(), "{precision}");
        let diff = max_abs(logits - reference.clone());
        assert!(
            diff > 0.0 && diff <= tolerance * scale.max(1.0),
            "{precision}: |logits - f32 logits| = {diff} (scale {scale})"
        );
    }
}

#[test]
fn cached_decoding_matches_the_full_pass_in_bf16() {
    let m = model().stored_in(Precision::Bf16);
    let full = m.forward(ids(&TOKENS), None);
    let mut cache = KvCache::new(m.blocks.len());
    let mut parts = vec![m.forward(ids(&TOKENS[..3]), Some(&mut cache))];
    for t in &TOKENS[3..] {
        parts.push(m.forward(ids(&[*t]), Some(&mut cache)));
    }
    let diff = max_abs(Tensor::cat(parts, 1) - full);
    assert!(diff < 0.05, "cached vs full in bf16: {diff}");
}

#[test]
fn mixed_precision_gradients_reach_the_f32_weights() {
    let f32_model = Llama::<RuntimeAutodiff>::init(&ModelConfig::tiny(24), 3, &cpu());
    let mixed = f32_model.clone().computing_in(Precision::Bf16);
    assert_eq!(
        mixed.weight_precision(),
        FloatDType::F32,
        "master weights stay f32"
    );
    let pairs: [(&[u32], &[u32]); 2] = [(&[1, 2, 3], &[4, 5, 6, 7]), (&[8], &[9, 10])];
    let grad_of = |m: &Llama<RuntimeAutodiff>| {
        let scored = score(m, &pairs, &cpu());
        let loss = (scored.logprobs * scored.mask).sum().neg();
        let grads = GradientsParams::from_grads(loss.backward(), m);
        let weight = &m.blocks[1].attention.q.weight;
        let grad = grads.get::<B, 2>(weight.id).expect("a gradient for q");
        assert_eq!(grad.dtype(), FloatDType::F32.into(), "gradients are f32");
        grad
    };
    let exact = grad_of(&f32_model);
    let low = grad_of(&mixed);
    let scale: f32 = exact.clone().abs().max().into_scalar();
    let diff: f32 = (low - exact).abs().max().into_scalar();
    assert!(scale > 0.0 && diff.is_finite());
    assert!(
        diff > 0.0 && diff < 0.1 * scale,
        "bf16 gradient differs by {diff} (largest {scale})"
    );
    // the compute type survives the trip to the sampler's inner backend
    assert_eq!(mixed.valid().compute, Precision::Bf16);
    assert_eq!(mixed.valid().to_device(&cpu()).compute, Precision::Bf16);
}
