//! The two-part key/value cache and the shrinking decode batch against the simple paths: a
//! full forward pass with no cache, and each prompt decoded alone.

use burn::tensor::{Int, Tensor, TensorData};
use hicra_model::kv_cache::RECENT_SLOTS;
use hicra_model::{
    KvCache, Llama, ModelConfig, RuntimeBackend, SamplingParams, max_abs_diff, sample_batch,
};

type B = RuntimeBackend;

fn model() -> Llama<B> {
    let mut config = ModelConfig::tiny(40);
    config.max_seq_len = 3 * RECENT_SLOTS + 16;
    Llama::init(&config, 11, &hicra_model::cpu())
}

fn ids(rows: &[Vec<i64>]) -> Tensor<B, 2, Int> {
    let width = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), width]),
        &hicra_model::cpu(),
    )
}

fn row_logits(t: Tensor<B, 3>, row: usize) -> Vec<f32> {
    let [_, seq, vocab] = t.dims();
    t.narrow(0, row, 1)
        .reshape([seq * vocab])
        .into_data()
        .to_vec()
        .unwrap()
}

/// Prompts of 5 and 2 tokens (left-padded), then enough single-token steps to merge the
/// recent part into the settled one twice: every step's logits equal those of a full pass.
#[test]
fn decoding_across_merges_matches_full_forward_passes() {
    let m = model();
    let steps = 2 * RECENT_SLOTS + 7;
    let token = |row: usize, i: usize| ((row * 7 + i * 3) % 37 + 1) as i64;
    let prompts: Vec<Vec<i64>> = vec![
        (0..5).map(|i| token(0, i)).collect(),
        (0..2).map(|i| token(1, i)).collect(),
    ];
    let mut cache = KvCache::<B>::padded(m.blocks.len(), vec![0, 3]);
    let padded = vec![
        prompts[0].clone(),
        [vec![0; 3], prompts[1].clone()].concat(),
    ];
    let mut incremental = [Vec::new(), Vec::new()];
    let first = m.forward(ids(&padded), Some(&mut cache));
    for (row, out) in incremental.iter_mut().enumerate() {
        let logits = row_logits(first.clone(), row);
        out.extend_from_slice(&logits[logits.len() - 40..]);
    }
    let mut sequences = prompts.clone();
    for i in 0..steps {
        let next: Vec<Vec<i64>> = (0..2).map(|row| vec![token(row, 100 + i)]).collect();
        let logits = m.forward(ids(&next), Some(&mut cache));
        for row in 0..2 {
            incremental[row].extend(row_logits(logits.clone(), row));
            sequences[row].push(next[row][0]);
        }
    }
    assert!(cache.layers.iter().all(|l| l.parts().count() <= 2));
    for row in 0..2 {
        let full = row_logits(m.forward(ids(&[sequences[row].clone()]), None), 0);
        let skip = (prompts[row].len() - 1) * 40;
        let gap = max_abs_diff(&full[skip..], &incremental[row]);
        assert!(gap < 1e-4, "row {row}: {gap}");
    }
}

/// Greedy rows that stop at different steps leave the batch as they finish; the rows that
/// go on produce what they produce alone.
#[test]
fn rows_that_leave_the_batch_do_not_change_the_others() {
    let m = model();
    let device = hicra_model::cpu();
    let prompts: Vec<Vec<u32>> = (0..8u32)
        .map(|p| (0..(2 + p % 3)).map(|i| (p * 5 + i * 7) % 39 + 1).collect())
        .collect();
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let mut params = SamplingParams {
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: 40,
        stop_tokens: vec![],
    };
    let seeds: Vec<u64> = (0..refs.len() as u64).collect();
    let free = sample_batch(&m, &refs, 1, &params, &seeds, &device);
    // stop on tokens some rows reach early and others late or never
    params.stop_tokens = vec![free[0][0].tokens[2], free[3][0].tokens[9]];
    let batched = sample_batch(&m, &refs, 1, &params, &seeds, &device);
    let lengths: Vec<usize> = batched.iter().map(|g| g[0].tokens.len()).collect();
    assert!(
        lengths.iter().any(|&l| l < 12) && lengths.iter().any(|&l| l > 12),
        "{lengths:?}"
    );
    for ((prompt, group), &seed) in refs.iter().zip(&batched).zip(&seeds) {
        let alone = &sample_batch(&m, &[prompt], 1, &params, &[seed], &device)[0][0];
        let sample = &group[0];
        assert_eq!(sample.tokens, alone.tokens);
        assert_eq!(sample.stopped, alone.stopped);
        assert!(max_abs_diff(&sample.logprobs, &alone.logprobs) < 1e-5);
        assert!(max_abs_diff(&sample.entropies, &alone.entropies) < 1e-5);
    }
}
