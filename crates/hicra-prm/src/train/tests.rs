use super::*;
use crate::model::sigmoid;
use crate::model::tests::{char_codec, prompt, tiny_prm};
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use hicra_model::{Llama, ModelConfig, RuntimeBackend, cpu};
use hicra_tasks::steps::Segmentation;

type AD = RuntimeAutodiff;

fn tensor3(values: &[f32], shape: [usize; 3]) -> Tensor<AD, 3> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &cpu())
}

#[test]
fn bce_and_its_head_gradient_match_a_hand_computation() {
    // d = 4 backbone; the head alone is under test, on fixed hidden states
    let config = ModelConfig {
        hidden_size: 4,
        intermediate_size: 8,
        num_layers: 1,
        num_heads: 2,
        num_kv_heads: 1,
        ..ModelConfig::tiny(8)
    };
    let mut prm = ProcessRewardModel::<AD>::new(Llama::init(&config, 0, &cpu()), config.clone(), 0);
    let w = [0.5f32, -1.0, 0.25, 2.0];
    let b = -0.3f32;
    prm.head_weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(w.to_vec(), [4, 1]),
        &cpu(),
    ));
    prm.head_bias = Param::from_tensor(Tensor::from_data(TensorData::new(vec![b], [1]), &cpu()));
    // two sequences, lengths 3 and 2 (row 1 padded at column 2); 3 labelled positions
    let (batch, seq, d) = (2usize, 3usize, 4usize);
    let hidden: Vec<f32> = (0..batch * seq * d)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0)
        .collect();
    let positions = [1usize, 2, 4]; // (0,1), (0,2), (1,1); (0,0) and the padding excluded
    let labels = [0.25f32, 1.0, 0.0];
    let logits = prm.head_logits(tensor3(&hidden, [batch, seq, d]));
    let loss = bce_with_logits(logits, &positions, &labels).unwrap();
    let value: f64 = loss.clone().into_scalar().elem();

    let (mut want, mut gw, mut gb) = (0.0f64, [0.0f64; 4], 0.0f64);
    for (&p, &y) in positions.iter().zip(&labels) {
        let h = &hidden[p * d..(p + 1) * d];
        let x: f64 = h
            .iter()
            .zip(&w)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum::<f64>()
            + f64::from(b);
        let y = f64::from(y);
        want += -(y * sigmoid(x).ln() + (1.0 - y) * (1.0 - sigmoid(x)).ln());
        let r = sigmoid(x) - y;
        for j in 0..d {
            gw[j] += r * f64::from(h[j]);
        }
        gb += r;
    }
    let n = positions.len() as f64;
    want /= n;
    assert!((value - want).abs() < 1e-5, "{value} vs {want}");

    let grads = loss.backward();
    let got_w: Vec<f32> = prm
        .head_weight
        .grad(&grads)
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap();
    let got_b: Vec<f32> = prm
        .head_bias
        .grad(&grads)
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap();
    for j in 0..d {
        assert!((f64::from(got_w[j]) - gw[j] / n).abs() < 1e-5, "w[{j}]");
    }
    assert!((f64::from(got_b[0]) - gb / n).abs() < 1e-5);
    // a large logit stays finite (the stable form)
    let big = Tensor::<AD, 2>::from_data(TensorData::new(vec![80.0f32, -80.0], [1, 2]), &cpu());
    let v: f64 = bce_with_logits(big, &[0, 1], &[0.0, 1.0])
        .unwrap()
        .into_scalar()
        .elem();
    assert!((v - 80.0).abs() < 1e-4, "{v}");
    assert!(bce_with_logits(Tensor::<AD, 2>::zeros([1, 2], &cpu()), &[], &[]).is_err());
}

/// A solution of three steps, each good (`ok k`) or bad (`no k`) by its own text and
/// labelled so (a separable toy); the outcome is whether all are good.
fn toy(problem: usize, variant: usize) -> LabelledSolution {
    let good = [
        variant.is_multiple_of(2),
        variant % 3 != 1,
        variant % 4 != 3,
    ];
    let texts: Vec<String> = good
        .iter()
        .enumerate()
        .map(|(k, &g)| format!("{} {k}\n", if g { "ok" } else { "no" }))
        .collect();
    LabelledSolution {
        prompt: prompt(&format!("q-{problem}"), &format!("problem {problem}")),
        response: texts.concat(),
        segmentation: Segmentation::default(),
        soft: good.iter().map(|&g| if g { 0.9 } else { 0.05 }).collect(),
        steps: texts,
        hard: good.to_vec(),
        rollouts: vec![4; 3],
        truth: Some(good.to_vec()),
        outcome: good.iter().all(|&g| g),
    }
}

#[test]
fn training_on_a_separable_toy_set_lowers_held_out_loss() {
    let records: Vec<LabelledSolution> = (0..12)
        .flat_map(|p| (0..4).map(move |v| toy(p, v + p)))
        .collect();
    let codec = char_codec();
    let config = PrmTrainConfig {
        steps: Some(60),
        batch_size: 8,
        learning_rate: 3e-3,
        holdout_problems: Some(3),
        eval_every: 30,
        target: PrmTarget::Soft,
        ..PrmTrainConfig::default()
    };
    let before = evaluate(
        &tiny_prm::<RuntimeBackend>(1),
        &codec,
        &records,
        config.target,
    )
    .unwrap();
    let model = tiny_prm::<AD>(1);
    let mut seen = Vec::new();
    let (trained, last) = train(&config, model, &codec, &records, &mut |step, m| {
        seen.push((step, m.clone()))
    })
    .unwrap();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![30, 60]);
    // soft labels 0.9 and 0.05 have entropies 0.325 and 0.199 nats: the loss's floor
    let loss = last["heldout/loss"];
    assert!(before["loss"] > 0.6, "{before:?}");
    assert!(
        loss < 0.36,
        "held-out loss {loss} (before: {})",
        before["loss"]
    );
    assert!(last["heldout/step_auc"] > 0.95, "{last:?}");
    assert!(last["heldout/response_auc"] > 0.9, "{last:?}");
    assert_eq!(last["heldout/responses"], 12.0, "3 problems x 4 solutions");
    // the trained model scores good steps above bad ones on a new problem
    let fresh = toy(99, 1); // steps: no, no, ok
    let scores = trained
        .valid()
        .score_steps(&codec, &[(&fresh.prompt, &fresh.steps)])
        .unwrap();
    let good = trained
        .valid()
        .score_steps(&codec, &[(&toy(98, 0).prompt, &toy(98, 0).steps)])
        .unwrap();
    assert!(good[0][0] > scores[0][0], "{good:?} vs {scores:?}");
}

#[test]
fn split_keeps_problems_whole_and_targets_read_their_labels() {
    let records: Vec<LabelledSolution> = (0..10)
        .flat_map(|p| (0..3).map(move |v| toy(p, v)))
        .collect();
    let config = PrmTrainConfig {
        holdout_fraction: 0.3,
        ..PrmTrainConfig::default()
    };
    let (train_idx, held_idx) = split(&records, &config);
    assert_eq!(held_idx.len(), 9, "3 of 10 problems, 3 solutions each");
    let ids = |idx: &[usize]| -> BTreeSet<String> {
        idx.iter().map(|&i| records[i].prompt.id.clone()).collect()
    };
    assert!(ids(&train_idx).is_disjoint(&ids(&held_idx)));
    assert_eq!(split(&records, &config), (train_idx, held_idx), "seeded");

    let r = toy(0, 1); // good: false, false, true
    assert_eq!(
        PrmTarget::Hard.labels(&r).unwrap(),
        vec![(0, 0.0), (1, 0.0), (2, 1.0)]
    );
    assert_eq!(PrmTarget::Outcome.labels(&r).unwrap(), vec![(2, 0.0)]);
    let mut no_truth = r.clone();
    no_truth.truth = None;
    assert!(
        PrmTarget::Truth
            .labels(&no_truth)
            .unwrap_err()
            .contains("truth")
    );
    let bad: Result<PrmTrainConfig, _> = serde_json::from_str(r#"{"stepz": 3}"#);
    assert!(bad.is_err());
    let both = PrmTrainConfig {
        steps: Some(1),
        epochs: Some(1),
        ..PrmTrainConfig::default()
    };
    assert!(both.validate().is_err());
}
