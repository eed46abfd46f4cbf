//! `hicra device check`: does a device compute what the CPU computes?
//!
//! Three checks, each against burn's `flex` CPU backend in the same process with the same
//! host-seeded weights (burn's own init streams differ per backend, ours do not):
//!
//! 1. **matmul**: a `[64, 96] x [96, 48]` product of fixed pseudo-random matrices;
//! 2. **train step**: teacher-forced log-probs of a small model, the loss's gradient and one
//!    AdamW step; the updated weights are compared;
//! 3. **sampler vs scorer**: responses sampled with the KV cache for prompts of different
//!    lengths (left padding), then re-scored teacher-forced on the same device: the two
//!    log-probabilities of every sampled token must agree, the invariant RL relies on.
//!
//! Each check reports the largest absolute difference and passes under its tolerance (loose
//! enough for GPU reductions in another order, tight enough to catch a wrong kernel).
//!
//! In bf16 or f16 the reference is the CPU in the same precision (the same roundings of the
//! inputs), the training step is mixed precision (f32 weights, low-precision layers) and the
//! sampler stores its weights in the low precision, as the pipeline stages do. Tolerances grow
//! with the type's unit roundoff (2^-8 for bf16, 2^-11 for f16); Adam's first step moves every
//! weight by about ±lr (1e-2 here), so a tiny gradient whose sign rounding flips differs by
//! 2·lr: the low-precision step tolerance sits above that.

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use crate::device::{Device, RuntimeAutodiff, RuntimeBackend, cpu};
use crate::{Llama, ModelConfig, Precision, SamplingParams, sample_batch, score};

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub name: &'static str,
    /// Largest absolute difference found.
    pub max_abs_diff: f64,
    pub tolerance: f64,
    pub passed: bool,
    pub secs: f64,
}

/// Runs the three checks on `device`, computing in `precision` (which the caller has checked
/// the device supports: see [`Precision::check`]).
pub fn check_device(device: &Device, precision: Precision) -> Vec<CheckOutcome> {
    let [matmul, step, sampler] = match precision {
        Precision::F32 => [1e-3, 2e-3, 2e-3],
        Precision::Bf16 => [6e-2, 6e-2, 1.5e-1],
        Precision::F16 => [1e-2, 3e-2, 3e-2],
    };
    vec![
        timed("matmul", matmul, || matmul_diff(device, precision)),
        timed("train_step", step, || train_step_diff(device, precision)),
        timed("sampler_vs_scorer", sampler, || {
            sampler_scorer_diff(device, precision)
        }),
    ]
}

fn timed(name: &'static str, tolerance: f64, run: impl FnOnce() -> f64) -> CheckOutcome {
    let started = std::time::Instant::now();
    let max_abs_diff = run();
    CheckOutcome {
        name,
        max_abs_diff,
        tolerance,
        // NaN fails: a comparison with NaN is false.
        passed: max_abs_diff <= tolerance,
        secs: started.elapsed().as_secs_f64(),
    }
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    // A fixed, well-spread sequence in [-1, 1): the same on every machine.
    (0..n as u32)
        .map(|i| {
            let x = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn matrix(rows: usize, cols: usize, seed: u32, device: &Device) -> Tensor<RuntimeBackend, 2> {
    Tensor::from_data(
        TensorData::new(values(rows * cols, seed), [rows, cols]),
        device,
    )
}

fn host(t: Tensor<RuntimeBackend, 2>) -> Vec<f32> {
    t.cast(burn::tensor::FloatDType::F32)
        .into_data()
        .to_vec::<f32>()
        .expect("f32 tensor")
}

/// The largest absolute difference between `a` and `b`, element by element: NaN when either
/// holds a NaN (a broken kernel must not pass), infinite when their lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, |m, d| {
            if d.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(d)
            }
        })
}

fn matmul_diff(device: &Device, precision: Precision) -> f64 {
    let product = |d: &Device| {
        let low = |t: Tensor<RuntimeBackend, 2>| t.cast(precision.dtype());
        host(low(matrix(64, 96, 1, d)).matmul(low(matrix(96, 48, 2, d))))
    };
    max_abs_diff(&product(device), &product(&cpu()))
}

fn small_model() -> ModelConfig {
    ModelConfig::tiny(40)
}

fn pairs() -> Vec<(Vec<u32>, Vec<u32>)> {
    (0..4u32)
        .map(|i| {
            let prompt = (0..3 + i).map(|t| (t * 7 + i) % 40).collect();
            let response = (0..6 + i).map(|t| (t * 11 + 3 * i + 1) % 40).collect();
            (prompt, response)
        })
        .collect()
}

/// Log-probs and updated weights after one step, flattened, on `device`.
fn one_step(device: &Device, precision: Precision) -> (Vec<f32>, Vec<f32>) {
    let config = small_model();
    let model = Llama::<RuntimeAutodiff>::init(&config, 11, device).computing_in(precision);
    let data = pairs();
    let refs: Vec<(&[u32], &[u32])> = data.iter().map(|(p, r)| (&p[..], &r[..])).collect();
    let scored = score(&model, &refs, device);
    let logprobs = scored
        .logprobs
        .clone()
        .inner()
        .into_data()
        .to_vec::<f32>()
        .expect("f32");
    let loss = (scored.logprobs * scored.mask).sum().neg();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = AdamWConfig::new().init::<RuntimeAutodiff, Llama<RuntimeAutodiff>>();
    let model = optim.step(1e-2, model, grads).valid();
    let weights = model
        .blocks
        .iter()
        .flat_map(|b| {
            host(b.attention.q.weight.val())
                .into_iter()
                .chain(host(b.mlp.down.weight.val()))
        })
        .chain(host(model.embedding.val()))
        .collect();
    (logprobs, weights)
}

fn train_step_diff(device: &Device, precision: Precision) -> f64 {
    let (lp, w) = one_step(device, precision);
    let (lp_cpu, w_cpu) = one_step(&cpu(), precision);
    max_abs_diff(&lp, &lp_cpu).max(max_abs_diff(&w, &w_cpu))
}

fn sampler_scorer_diff(device: &Device, precision: Precision) -> f64 {
    let model = Llama::<RuntimeBackend>::init(&small_model(), 5, device).stored_in(precision);
    let prompts: Vec<Vec<u32>> = vec![vec![1, 2, 3], vec![4], vec![5, 6, 7, 8, 9]];
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let params = SamplingParams {
        temperature: 1.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: 12,
        stop_tokens: vec![],
    };
    let groups = sample_batch(&model, &refs, 2, &params, &[3, 4, 5], device);
    let mut worst: f64 = 0.0;
    for (prompt, group) in prompts.iter().zip(groups) {
        for sample in group {
            let scored = score(&model, &[(&prompt[..], &sample.tokens[..])], device);
            let again = host(scored.logprobs);
            worst = worst.max(max_abs_diff(
                &sample.logprobs,
                &again[..sample.tokens.len()],
            ));
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_passes_its_own_check_in_every_precision() {
        for precision in Precision::ALL {
            for outcome in check_device(&cpu(), precision) {
                assert!(outcome.passed, "{precision}: {outcome:?}");
                println!("{precision} {}: {:.2e}", outcome.name, outcome.max_abs_diff);
            }
        }
    }

    #[test]
    fn differences_propagate_nan() {
        assert!(max_abs_diff(&[1.0, f32::NAN], &[1.0, 2.0]).is_nan());
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(max_abs_diff(&[1.0, 2.5], &[1.0, 2.0]), 0.5);
    }
}
