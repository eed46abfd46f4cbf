//! Next-token log-probabilities after many prompts at once: the prompts are left-padded and
//! run through the model in one pass (padding masked by the cache, as in the sampler's
//! prefill), the head runs on each prompt's last position only, and the log-softmax over the
//! whole vocabulary is read at the asked-for token ids. Generative judges and reward models
//! use it ("the probability of `yes` after this judging prompt").

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::kv_cache::KvCache;
use crate::llama::Llama;

/// Runs `prompts` (non-empty, of any lengths) left-padded through the model in one pass:
/// the final hidden state of each prompt's last position `[prompts, 1, hidden]`, and the
/// cache holding every prompt (padding slots masked).
pub(crate) fn prefill_last<B: Backend>(
    model: &Llama<B>,
    prompts: &[&[u32]],
    device: &B::Device,
) -> (Tensor<B, 3>, KvCache<B>) {
    let longest = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let mut ids = Vec::with_capacity(prompts.len() * longest);
    for (prompt, &pad) in prompts.iter().zip(&padding) {
        ids.extend(std::iter::repeat_n(0i64, pad));
        ids.extend(prompt.iter().map(|&t| i64::from(t)));
    }
    let mut cache = KvCache::padded(model.blocks.len(), padding);
    let input =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [prompts.len(), longest]), device);
    let last = model
        .hidden(input, Some(&mut cache))
        .narrow(1, longest - 1, 1);
    (last, cache)
}

/// For each prompt (token ids, non-empty, shorter than `max_seq_len`), the log-probability of
/// each of `tokens` as the next token, at temperature 1. On the CPU in f32 this runs on the
/// host path and copies the weights first: hold a [`Generator`](crate::Generator) and call
/// its `next_token_logprobs` to score the same weights many times (a judge).
///
/// # Panics
/// On an empty prompt, or one that does not fit the model.
pub fn next_token_logprobs<B: Backend>(
    model: &Llama<B>,
    prompts: &[&[u32]],
    tokens: &[u32],
    device: &B::Device,
) -> Vec<Vec<f32>> {
    crate::Generator::new(model.clone()).next_token_logprobs(prompts, tokens, device)
}

/// Panics unless every prompt is non-empty and fits the model.
pub(crate) fn check_prompts<B: Backend>(model: &Llama<B>, prompts: &[&[u32]]) {
    let longest = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    assert!(
        prompts.iter().all(|p| !p.is_empty()) && longest <= model.max_seq_len(),
        "prompts must be non-empty and at most max_seq_len ({}) tokens",
        model.max_seq_len()
    );
}

/// `log softmax` of each row of `logits: [rows, vocab]`, read at `tokens`.
pub(crate) fn picked_logprobs(logits: &[f32], rows: usize, tokens: &[u32]) -> Vec<Vec<f32>> {
    let vocab = logits.len() / rows.max(1);
    logits
        .chunks(vocab.max(1))
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + row.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
            tokens.iter().map(|&t| row[t as usize] - lse).collect()
        })
        .collect()
}

/// [`next_token_logprobs`] on burn tensors (every device).
pub(crate) fn on_tensors<B: Backend>(
    model: &Llama<B>,
    prompts: &[&[u32]],
    tokens: &[u32],
    device: &B::Device,
) -> Vec<Vec<f32>> {
    if prompts.is_empty() {
        return Vec::new();
    }
    check_prompts(model, prompts);
    let (last, _) = prefill_last(model, prompts, device);
    let logits = model.project(last, model.inference_head());
    let vocab = logits.dims()[2];
    let logprobs = log_softmax(logits.reshape([prompts.len(), vocab]), 1);
    let picked = Tensor::<B, 1, Int>::from_data(
        TensorData::new(
            tokens.iter().map(|&t| i64::from(t)).collect(),
            [tokens.len()],
        ),
        device,
    );
    let values = logprobs
        .select(1, picked)
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 log-probs");
    values
        .chunks(tokens.len().max(1))
        .map(<[f32]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Generator, ModelConfig, RuntimeBackend};

    #[test]
    fn the_host_path_gives_the_tensor_paths_next_token_logprobs() {
        let model = Llama::<RuntimeBackend>::init(&ModelConfig::tiny(30), 3, &crate::cpu());
        let prompts: Vec<&[u32]> = vec![&[1, 2, 3, 4], &[5], &[6, 7]];
        let tokens = [3, 9, 29];
        let host =
            Generator::new(model.clone()).next_token_logprobs(&prompts, &tokens, &crate::cpu());
        let tensors = on_tensors(&model, &prompts, &tokens, &crate::cpu());
        for (a, b) in host.iter().flatten().zip(tensors.iter().flatten()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(host.len(), 3);
    }
}
