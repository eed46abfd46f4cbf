//! The host path's gradients against burn's autodiff, the oracle: the same loss of the same
//! model's log-probabilities and entropies differentiated both ways, on random models of three
//! shapes (tied head; separate head with q/k/v and output biases; one key/value head shared by
//! three query heads), pairs of unequal lengths (one with no response) at three temperatures.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::HostModel;
use crate::native::tests::Scale;
use crate::{Entropies, Llama, ModelConfig, RuntimeAutodiff as A, score_tempered_with};

fn random(rng: &mut ChaCha8Rng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

fn bias(rng: &mut ChaCha8Rng, len: usize) -> Option<Param<Tensor<A, 1>>> {
    let data = TensorData::new(random(rng, len, 0.5), [len]);
    Some(Param::from_tensor(Tensor::from_data(data, &crate::cpu())))
}

fn models() -> Vec<Llama<A>> {
    let tied = ModelConfig::tiny(40);
    let mut biased = ModelConfig::tiny(37);
    biased.tie_word_embeddings = false;
    biased.hidden_size = 36;
    biased.num_heads = 6;
    biased.num_kv_heads = 2;
    biased.intermediate_size = 50;
    biased.num_layers = 3;
    let mut shared = ModelConfig::tiny(41);
    shared.hidden_size = 48;
    shared.num_heads = 3;
    shared.num_kv_heads = 1;
    shared.intermediate_size = 40;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    [tied, biased, shared]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut model = Llama::<A>::init(c, 21 + i as u64, &crate::cpu()).map(&mut Scale(8.0));
            if i == 1 {
                for b in &mut model.blocks {
                    let a = &mut b.attention;
                    let (qw, kvw) = (a.q.weight.dims()[1], a.k.weight.dims()[1]);
                    a.q.bias = bias(&mut rng, qw);
                    a.k.bias = bias(&mut rng, kvw);
                    a.v.bias = bias(&mut rng, kvw);
                    a.o.bias = bias(&mut rng, qw);
                }
            }
            model
        })
        .collect()
}

fn host<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("f32")
}

/// Every parameter's gradient in [`super::HostGrads::flat`]'s order.
fn flat(model: &Llama<A>, grads: &GradientsParams) -> Vec<Vec<f32>> {
    type I = <A as burn::tensor::backend::AutodiffBackend>::InnerBackend;
    let two = |p: &Param<Tensor<A, 2>>| {
        host(
            grads
                .get::<I, 2>(p.id)
                .unwrap_or_else(|| panic!("no gradient for {:?}", p.dims())),
        )
    };
    let one = |p: &Param<Tensor<A, 1>>| {
        host(
            grads
                .get::<I, 1>(p.id)
                .unwrap_or_else(|| panic!("no gradient for {:?}", p.dims())),
        )
    };
    let mut out = vec![two(&model.embedding)];
    for b in &model.blocks {
        out.push(one(&b.attention_norm.weight));
        let a = &b.attention;
        for d in [&a.q, &a.k, &a.v, &a.o] {
            out.push(two(&d.weight));
            out.extend(d.bias.as_ref().map(one));
        }
        out.push(one(&b.mlp_norm.weight));
        for d in [&b.mlp.gate, &b.mlp.up, &b.mlp.down] {
            out.push(two(&d.weight));
            out.extend(d.bias.as_ref().map(one));
        }
    }
    out.push(one(&model.norm.weight));
    out.extend(model.head.as_ref().map(two));
    out
}

/// `max |a - b| / max |b|`.
fn relative(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn host_gradients_equal_burns_autodiff() {
    let pairs_owned: Vec<(Vec<u32>, Vec<u32>)> = vec![
        (vec![3, 9, 4], vec![7, 1, 12, 5, 30]),
        (vec![2], vec![8, 8]),
        (vec![5, 6, 7, 8, 9, 10], vec![]),
        (vec![11, 4], vec![2, 19, 33, 6, 17, 25, 3]),
    ];
    let pairs: Vec<(&[u32], &[u32])> = pairs_owned
        .iter()
        .map(|(p, r)| (p.as_slice(), r.as_slice()))
        .collect();
    let temperatures = [0.7, 1.0, 1.0, 1.3];
    let device = crate::cpu();
    for (m, model) in models().into_iter().enumerate() {
        let scored = score_tempered_with(
            &model,
            &pairs,
            &temperatures,
            Entropies::Differentiable,
            &device,
        );
        let [rows, width] = scored.logprobs.dims();
        let mut rng = ChaCha8Rng::seed_from_u64(9 + m as u64);
        let mask = host(scored.mask.clone());
        let (a, c): (Vec<f32>, Vec<f32>) = (
            random(&mut rng, rows * width, 1.0),
            random(&mut rng, rows * width, 0.3),
        );
        let coefficients = |v: &[f32]| {
            Tensor::<A, 2>::from_data(TensorData::new(v.to_vec(), [rows, width]), &device)
        };
        let entropies = scored.entropies.clone().expect("entropies");
        let loss = (scored.logprobs.clone() * scored.mask.clone() * coefficients(&a)).sum()
            + (entropies.clone() * scored.mask.clone() * coefficients(&c)).sum();
        let want = flat(
            &model,
            &GradientsParams::from_grads(loss.backward(), &model),
        );

        let host_model = HostModel::copy_of(&model);
        let (scores, tape) = host_model.forward(&pairs, &temperatures, true);
        assert_eq!((scores.rows, scores.width), (rows, width));
        assert_eq!(scores.mask, mask, "model {m}: mask");
        // (burn's padding entries hold the first slot's figures, masked out)
        let masked = |t: Tensor<A, 2>| -> Vec<f32> {
            host(t).iter().zip(&mask).map(|(v, m)| v * m).collect()
        };
        let diff = relative(&scores.logprobs, &masked(scored.logprobs));
        assert!(diff < 1e-5, "model {m}: log-probs differ by {diff}");
        let diff = relative(scores.entropies.as_ref().unwrap(), &masked(entropies));
        assert!(diff < 1e-5, "model {m}: entropies differ by {diff}");
        // the loss's gradient with respect to them (padding: anything, ignored)
        let da: Vec<f32> = a.iter().zip(&mask).map(|(a, m)| a * m).collect();
        let dc: Vec<f32> = c.iter().zip(&mask).map(|(c, m)| c * m).collect();
        let mut grads = host_model.zero_grads();
        host_model.backward(tape, &da, Some(&dc), &mut grads);
        let got: Vec<Vec<f32>> = grads.flat().iter().map(|g| g.to_vec()).collect();
        assert_eq!(got.len(), want.len(), "model {m}: parameter count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let diff = relative(g, w);
            assert!(
                diff < 1e-4,
                "model {m}, parameter {i}: relative difference {diff}"
            );
        }
        // and burn's optimiser gets them under the model's ids
        let params = grads.into_params(&model);
        let again = flat(&model, &params);
        assert_eq!(
            again, got,
            "model {m}: into_params moves each gradient to its id"
        );
    }
}

#[test]
fn scoring_without_a_tape_gives_the_same_figures() {
    let model = &models()[1];
    let host_model = HostModel::copy_of(model);
    let pairs: Vec<(&[u32], &[u32])> = vec![(&[1, 2, 3], &[4, 5]), (&[6], &[7, 8, 9])];
    let (with_tape, _) = host_model.forward(&pairs, &[1.0, 0.5], true);
    let alone = host_model.score(&pairs, &[1.0, 0.5], true);
    assert_eq!(alone, with_tape);
    let no_entropy = host_model.score(&pairs, &[1.0, 0.5], false);
    assert_eq!(no_entropy.entropies, None);
    assert_eq!(no_entropy.logprobs, alone.logprobs);
}

#[test]
fn accumulating_two_halves_gives_the_whole_batchs_gradient() {
    let model = &models()[0];
    let host_model = HostModel::copy_of(model);
    let pairs: Vec<(&[u32], &[u32])> = vec![(&[1, 2, 3], &[4, 5, 6]), (&[7, 8], &[9, 10])];
    let t = [1.0, 1.0];
    let mut whole = host_model.zero_grads();
    let (s, tape) = host_model.forward(&pairs, &t, false);
    host_model.backward(tape, &s.mask, None, &mut whole);
    let mut halves = host_model.zero_grads();
    for i in 0..2 {
        let (s, tape) = host_model.forward(&pairs[i..=i], &t[i..=i], false);
        host_model.backward(tape, &s.mask, None, &mut halves);
    }
    for (a, b) in halves.flat().iter().zip(whole.flat()) {
        assert!(relative(a, b) < 1e-5);
    }
}

#[test]
fn fast_exp_is_within_a_few_ulps_of_exp() {
    use super::elementwise::fast_exp;
    let mut worst = 0.0f64;
    let mut x = -87.0f32;
    while x < 88.0 {
        let want = f64::from(x).exp();
        worst = worst.max((f64::from(fast_exp(x)) - want).abs() / want);
        x += 0.0137;
    }
    assert!(worst < 5e-7, "relative error {worst}");
    assert_eq!(fast_exp(-200.0), 0.0);
    assert_eq!(fast_exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(fast_exp(100.0), f32::INFINITY);
    assert!(fast_exp(f32::NAN).is_nan());
    assert_eq!(fast_exp(0.0), 1.0);
}
