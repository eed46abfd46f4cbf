//! Oracles of the LoRA core: the projection against the analytic LoRA gradients (by hand in
//! f64) and against burn's autodiff through an explicit LoRA forward; PEFT's initialisation
//! and a step-0 merge that is the base bit for bit; the base's hash; the table's checks.

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use hicra_model::{Llama, ModelConfig, RuntimeAutodiff, RuntimeBackend, cpu};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::adapters::{LoraAdapters, delta, dense, kaiming_bound, project};
use super::config::{LoraConfig, Target};
use super::identity::weights_sha256;
use crate::flat;

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect()
}

fn tensor<B: Backend<Device = hicra_model::Device>>(v: &[f64], shape: [usize; 2]) -> Tensor<B, 2> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), &cpu())
}

fn values<B: Backend>(t: Tensor<B, 2>) -> Vec<f64> {
    let v = t.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    v.into_iter().map(f64::from).collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(0f64, |m, x| m.max(x.abs()));
    assert!(scale > 0.0, "{what}: all zero");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * scale, "{what}[{i}]: {g} vs {w}");
    }
}

/// A linear layer `y = x W` (`W` `[in, out]`, as the model stores it) with
/// `W = W0 + s A^T B^T` and the loss `L = sum(C * y)`: the projection of `dL/dW = x^T C` gives
/// the adapters' gradients that differentiating the LoRA forward
/// `y = x W0 + s (x A^T) B^T` by hand gives, and that burn's autodiff gives through it.
#[test]
fn the_projection_is_the_lora_gradient() {
    let (n, d_in, d_out, r, s) = (6, 5, 4, 3, 2.5);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = random(&mut rng, n * d_in);
    let w0 = random(&mut rng, d_in * d_out);
    let a = random(&mut rng, r * d_in);
    let b = random(&mut rng, d_out * r);
    let c = random(&mut rng, n * d_out);
    // by hand: xa = x A^T [n, r]; dL/dB[o][k] = s sum_n C[n][o] xa[n][k];
    // dL/dA[k][i] = s sum_n sum_o C[n][o] B[o][k] x[n][i]
    let xa: Vec<f64> = (0..n * r)
        .map(|p| {
            (0..d_in)
                .map(|i| x[p / r * d_in + i] * a[p % r * d_in + i])
                .sum()
        })
        .collect();
    let db_hand: Vec<f64> = (0..d_out * r)
        .map(|p| {
            let (o, k) = (p / r, p % r);
            s * (0..n)
                .map(|m| c[m * d_out + o] * xa[m * r + k])
                .sum::<f64>()
        })
        .collect();
    let da_hand: Vec<f64> = (0..r * d_in)
        .map(|p| {
            let (k, i) = (p / d_in, p % d_in);
            let cb = |m: usize| {
                (0..d_out)
                    .map(|o| c[m * d_out + o] * b[o * r + k])
                    .sum::<f64>()
            };
            s * (0..n).map(|m| cb(m) * x[m * d_in + i]).sum::<f64>()
        })
        .collect();
    // the projection of dL/dW = x^T C
    type T = RuntimeBackend;
    let dw = tensor::<T>(&x, [n, d_in])
        .transpose()
        .matmul(tensor(&c, [n, d_out]));
    let (da, db) = project(dw, tensor(&a, [r, d_in]), tensor(&b, [d_out, r]), s);
    assert_close("dA, projected", &values(da), &da_hand, 1e-5);
    assert_close("dB, projected", &values(db), &db_hand, 1e-5);
    // burn's autodiff through the explicit LoRA forward
    type A = RuntimeAutodiff;
    let pa = Param::from_tensor(tensor::<A>(&a, [r, d_in]));
    let pb = Param::from_tensor(tensor::<A>(&b, [d_out, r]));
    let xs = tensor::<A>(&x, [n, d_in]);
    let y = xs.clone().matmul(tensor(&w0, [d_in, d_out]))
        + xs.matmul(pa.val().transpose())
            .matmul(pb.val().transpose())
            .mul_scalar(s);
    let grads = (y * tensor(&c, [n, d_out])).sum().backward();
    let da_auto = values(pa.val().grad(&grads).unwrap());
    let db_auto = values(pb.val().grad(&grads).unwrap());
    assert_close("dA, autodiff", &da_auto, &da_hand, 1e-5);
    assert_close("dB, autodiff", &db_auto, &db_hand, 1e-5);
    // and the merged weight is W0 + s (B A)^T
    let merged = values(
        tensor::<T>(&w0, [d_in, d_out]) + delta(tensor(&a, [r, d_in]), tensor(&b, [d_out, r]), s),
    );
    let by_hand: Vec<f64> = (0..d_in * d_out)
        .map(|p| {
            let (i, o) = (p / d_out, p % d_out);
            w0[p] + s * (0..r).map(|k| b[o * r + k] * a[k * d_in + i]).sum::<f64>()
        })
        .collect();
    assert_close("merged W", &merged, &by_hand, 1e-6);
}

fn tiny() -> Llama<RuntimeBackend> {
    Llama::init(&ModelConfig::tiny(12), 3, &cpu())
}

/// `A` within PEFT's kaiming bound `1 / sqrt(in)`, spread (not constant), seeded per layer;
/// `B = 0`; merged at step 0, every weight is the base's, bit for bit.
#[test]
fn peft_init_leaves_the_base_exact() {
    assert!((kaiming_bound(64) - 0.125).abs() < 1e-12);
    let base = tiny();
    let config = LoraConfig {
        rank: 4,
        ..LoraConfig::default()
    };
    let adapters = LoraAdapters::init(&config, &base, 7).unwrap();
    assert_eq!(adapters.entries().count(), 2 * 7);
    for (l, t, adapter) in adapters.entries() {
        let [d_in, _] = dense(&base.blocks[l], t).weight.dims();
        let bound = kaiming_bound(d_in);
        let a = values(adapter.a.val());
        assert_eq!(adapter.a.dims(), [4, d_in]);
        assert!(a.iter().all(|x| x.abs() <= bound), "{l} {t:?}");
        let spread = a.iter().fold(0f64, |m, x| m.max(x.abs()));
        assert!(
            spread > 0.5 * bound,
            "{l} {t:?}: A spans {spread} of {bound}"
        );
        assert!(a.iter().any(|&x| x != a[0]));
        assert!(values(adapter.b.val()).iter().all(|&x| x == 0.0));
    }
    let firsts: Vec<f64> = adapters
        .entries()
        .map(|(_, _, a)| values(a.a.val())[0])
        .collect();
    assert!(
        firsts.windows(2).all(|w| w[0] != w[1]),
        "one stream per layer"
    );
    let again = LoraAdapters::init(&config, &base, 7).unwrap();
    let other = LoraAdapters::init(&config, &base, 8).unwrap();
    assert_eq!(flat::parameters(&again), flat::parameters(&adapters));
    assert_ne!(flat::parameters(&other), flat::parameters(&adapters));
    let merged = adapters.merged(&base, config.scale());
    assert_eq!(flat::parameters(&merged), flat::parameters(&base));
}

#[test]
fn only_the_targets_get_adapters_and_the_rank_must_fit() {
    let base = tiny();
    let config = LoraConfig {
        rank: 2,
        targets: vec!["v".into(), "q".into(), "down".into(), "q".into()],
        ..LoraConfig::default()
    };
    let adapters = LoraAdapters::init(&config, &base, 1).unwrap();
    let found: Vec<Target> = adapters
        .entries()
        .filter(|e| e.0 == 0)
        .map(|e| e.1)
        .collect();
    assert_eq!(found, [Target::Q, Target::V, Target::Down]);
    // (32 * 2 + 2 * 32) + (32 * 2 + 2 * 16) + (64 * 2 + 2 * 32) per block
    assert_eq!(adapters.num_params(), 2 * (128 + 96 + 192));
    // tiny's k/v are [32, 16]
    let too_big = LoraConfig {
        rank: 17,
        ..LoraConfig::default()
    };
    let err = LoraAdapters::init(&too_big, &base, 1).err().unwrap();
    assert!(
        err.contains("rank = 17") && err.contains("`k` layer ([32 in, 16 out])"),
        "{err}"
    );
}

#[test]
fn the_base_hash_sees_every_weight() {
    let base = tiny();
    let hash = weights_sha256(&base);
    assert_eq!(hash.len(), 64);
    assert_eq!(hash, weights_sha256(&tiny()));
    let mut changed = tiny();
    let w = changed.norm.weight.val();
    changed.norm.weight = changed.norm.weight.clone().map(|_| w.add_scalar(1e-6));
    assert_ne!(hash, weights_sha256(&changed));
}

/// Each bad value is a problem at its own field.
#[test]
fn bad_tables_name_their_field() {
    let arch = ModelConfig::tiny(12);
    let fields = |c: LoraConfig| -> Vec<String> {
        c.problems(Some(&arch))
            .into_iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect()
    };
    assert!(fields(LoraConfig::default()).is_empty());
    let cases: [(LoraConfig, &str); 6] = [
        (
            LoraConfig {
                rank: 0,
                ..LoraConfig::default()
            },
            "lora.rank: lora.rank must be at least 1",
        ),
        (
            LoraConfig {
                rank: 17,
                ..LoraConfig::default()
            },
            "lora.rank: lora.rank = 17 is above",
        ),
        (
            LoraConfig {
                alpha: 0.0,
                ..LoraConfig::default()
            },
            "lora.alpha: lora.alpha must be positive",
        ),
        (
            LoraConfig {
                dropout: 0.1,
                ..LoraConfig::default()
            },
            "lora.dropout: lora.dropout = 0.1 is not supported",
        ),
        (
            LoraConfig {
                targets: vec![],
                ..LoraConfig::default()
            },
            "lora.targets: lora.targets is empty",
        ),
        (
            LoraConfig {
                targets: vec!["q".into(), "w_q".into()],
                ..LoraConfig::default()
            },
            "lora.targets: unknown LoRA target `w_q`",
        ),
    ];
    for (config, want) in cases {
        let found = fields(config);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with(want), "{found:?}");
    }
    // without an architecture (a checkpoint's), the rank waits for build
    let big = LoraConfig {
        rank: 999,
        ..LoraConfig::default()
    };
    assert!(big.problems(None).is_empty());
}
