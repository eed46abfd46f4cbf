//! The host path against the burn path on random models: the same logits, the same greedy
//! tokens, and recorded log-probabilities that a full pass reproduces.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::NativeLlama;
use crate::{
    Llama, ModelConfig, RuntimeBackend as B, SampleRequest, SamplingParams, max_abs_diff,
    sample_on_tensors,
};

/// Multiplies every matrix, so that logits are spread (init's 0.02 gives near-uniform ones,
/// where a comparison proves little); on an autodiff backend each stays a leaf, so its
/// gradient is reported.
pub(super) struct Scale(pub f32);

impl<Bk: Backend> ModuleMapper<Bk> for Scale {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<Bk, D>>) -> Param<Tensor<Bk, D>> {
        let (id, t, mapper) = p.consume();
        let t = if D == 1 {
            t
        } else {
            t.mul_scalar(self.0).detach().require_grad()
        };
        Param::from_mapped_value(id, t, mapper)
    }
}

/// Tied head without biases; separate head with q/k/v biases and groups of 3 query heads;
/// heads of 32 dimensions (whole chunks of the attention's lanes) sharing one key/value head.
fn models() -> Vec<Llama<B>> {
    let tied = ModelConfig::tiny(40);
    let mut other = ModelConfig::tiny(37);
    other.tie_word_embeddings = false;
    other.attention_bias = true;
    other.hidden_size = 36;
    other.num_heads = 6;
    other.num_kv_heads = 2;
    other.intermediate_size = 50;
    other.num_layers = 3;
    let mut wide = ModelConfig::tiny(41);
    wide.hidden_size = 96;
    wide.num_heads = 3;
    wide.num_kv_heads = 1;
    wide.intermediate_size = 80;
    [tied, other, wide]
        .iter()
        .enumerate()
        .map(|(i, c)| Llama::init(c, 11 + i as u64, &crate::cpu()).map(&mut Scale(20.0)))
        .collect()
}

fn burn_logits(model: &Llama<B>, tokens: &[u32]) -> Vec<f32> {
    let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    let input =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, tokens.len()]), &crate::cpu());
    model.forward(input, None).into_data().to_vec().unwrap()
}

#[test]
fn the_host_path_computes_the_burn_models_logits() {
    for model in models() {
        let native = NativeLlama::copy_of(&model);
        // 45 positions: whole and partial chunks of slots in the attention
        let tokens: Vec<u32> = (0..45).map(|i| (i * 7 + 3) % 37).collect();
        let want = burn_logits(&model, &tokens);
        let spread = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(spread > 1.0, "logits spread ({spread})");
        let got = native.sequence_logits(&tokens);
        let gap = max_abs_diff(&got, &want);
        assert!(gap < 1e-4 * f64::from(spread), "{gap}");
    }
}

#[test]
fn prompts_prefilled_together_equal_each_alone() {
    let model = &models()[1];
    let native = NativeLlama::copy_of(model);
    let prompts: [&[u32]; 3] = [&[4, 5, 6, 7, 8], &[9], &[1, 2, 3]];
    let together = native.prefill_logits(&prompts);
    let vocab = together.len() / prompts.len();
    for (i, p) in prompts.iter().enumerate() {
        let alone = native.sequence_logits(p);
        let last = &alone[(p.len() - 1) * vocab..];
        assert_eq!(&together[i * vocab..(i + 1) * vocab], last, "prompt {i}");
    }
}

fn params(temperature: f32) -> SamplingParams {
    SamplingParams {
        temperature,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: 10,
        stop_tokens: vec![2],
    }
}

/// Greedy and sampled (with and without top-k / top-p): each row draws from its own stream,
/// so the two paths give the same tokens (the tiny GGUF's test in `tests/cross_path.rs` also
/// varies the batch).
#[test]
fn decoding_gives_the_tensor_paths_tokens() {
    let mut restricted = params(0.7);
    restricted.top_k = 12;
    restricted.top_p = 0.9;
    for (model, params) in models()
        .into_iter()
        .flat_map(|m| [params(0.0), params(1.0), restricted.clone()].map(|p| (m.clone(), p)))
    {
        let native = NativeLlama::copy_of(&model);
        let prompts: [&[u32]; 3] = [&[4, 5, 6], &[9], &[1, 2, 3, 7, 7]];
        let seeds = [0, 1, 2];
        let request = SampleRequest::new(&prompts, 2, &params, &seeds);
        let host = native.sample(&request);
        let tensors = sample_on_tensors(&model, &request, &crate::cpu());
        for (h, t) in host.iter().flatten().zip(tensors.iter().flatten()) {
            assert_eq!(h.tokens, t.tokens);
            assert_eq!(h.stopped, t.stopped);
            assert!(max_abs_diff(&h.logprobs, &t.logprobs) < 1e-4);
            assert!(max_abs_diff(&h.entropies, &t.entropies) < 1e-4);
        }
    }
}

/// Decoding through the cache (rows of several prompts, some stopping early) records the
/// log-probabilities a full pass over prompt + response gives.
#[test]
fn sampled_logprobs_are_those_of_a_full_pass() {
    let model = &models()[0];
    let native = NativeLlama::copy_of(model);
    let prompts: [&[u32]; 2] = [&[4, 5, 6, 3], &[9, 1]];
    let params = params(1.0);
    let groups = native.sample(&SampleRequest::new(&prompts, 4, &params, &[5, 6]));
    let mut stopped = 0;
    for (prompt, group) in prompts.iter().zip(&groups) {
        assert_eq!(group.len(), 4);
        for s in group {
            stopped += usize::from(s.stopped);
            assert!(!s.tokens.is_empty() && s.tokens.len() <= 10);
            let sequence: Vec<u32> = prompt.iter().chain(&s.tokens).copied().collect();
            let logits = native.sequence_logits(&sequence);
            let vocab = logits.len() / sequence.len();
            for (k, (&token, &lp)) in s.tokens.iter().zip(&s.logprobs).enumerate() {
                let row = &logits[(prompt.len() - 1 + k) * vocab..][..vocab];
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let log_z = max + row.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
                assert!((row[token as usize] - log_z - lp).abs() < 1e-4, "step {k}");
            }
        }
    }
    assert!(
        stopped > 0,
        "some rows stop early (the stop token is drawn)"
    );
}
