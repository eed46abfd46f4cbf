//! # Generation (and, in [`train`], learning) on the CPU without burn's per-op overheads
//!
//! [`sample_batch`](crate::sample_batch) on the CPU (burn's `flex` backend) computing in f32
//! takes this path; everything else (GPUs, bf16/f16) takes the generic one over burn
//! tensors. Both compute the same function: the same layers and formulas, in f32, from the
//! same weights, so they agree to float rounding (tests below hold the two to 1e-4 on random
//! models) and the learner's scorer recomputes these log-probabilities as it does the generic
//! path's. Why a second path: on a CPU a generation step is a few small products and many
//! small element-wise ops, and through a backend-generic tensor API each op allocates a
//! fresh tensor, strided views are copied element by element, a KV cache cannot be written in
//! place, and the products of a one-row step run on one core. Here:
//!
//! * the weights are copied once per call into host vectors, laid out for generation
//!   (`weights`: q/k/v side by side, gate/up side by side, a tied head packed from the embedding);
//! * every product streams weights packed in column panels through a register-tiled
//!   kernel for the CPU's vector width, split over the cores (`matmul`, `kernels`), with
//!   the residual added by the product itself; attention and the element-wise ops are
//!   compiled for the same width;
//! * each response has a preallocated cache (`cache`), written in place; a prompt's cache is
//!   copied once per sample of its group;
//! * prompts are prefilled side by side without padding, and a decode step is one pass over
//!   one token per live row (`pass`): finished rows simply stop being passed;
//! * the draw follows [`crate::draw::pick`]'s rules on the host rows (`choose`, tested
//!   against it: same tokens for the same uniform numbers, same log-probabilities), each row
//!   taking its uniform numbers from its own stream ([`crate::streams`]), as the tensor path's
//!   rows do, so a seed gives the same responses on both paths.
//!
//! [`NativeLlama::for_model`] says whether a model takes this path.

mod attention;
mod cache;
mod choose;
mod gemm;
mod kernels;
mod matmul;
mod ops;
mod pass;
mod shared;
#[cfg(test)]
mod tests;
pub mod train;
mod weights;

use std::any::Any;

use burn::tensor::backend::Backend;

use crate::device::{Device, RuntimeAutodiff, RuntimeBackend};
use crate::draw::draws_uniforms;
use crate::llama::Llama;
use crate::precision::Precision;
use crate::sample::{Sample, SampleRequest};
use cache::RowCache;
use pass::{At, logits, on_workers, pass};
use weights::Weights;

/// A model's weights on the host, ready to generate on the CPU.
#[derive(Debug, Clone)]
pub struct NativeLlama {
    weights: Weights,
}

impl NativeLlama {
    /// The host copy of `model` when it runs on the CPU and computes in f32 with f32 weights
    /// (the cases this path serves); `None` otherwise.
    pub fn for_model<B: Backend>(model: &Llama<B>) -> Option<Self> {
        Self::takes_host_path(model).then(|| Self::copy_of(model))
    }

    /// Whether `model` is on the CPU and computes in f32 with f32 weights: the models the host
    /// paths (generation here, training in [`train`]) serve by default.
    /// A learner's model (on burn's autodiff backend) is judged as the same model without it.
    pub fn takes_host_path<B: Backend>(model: &Llama<B>) -> bool {
        let any = model as &dyn Any;
        let device = if let Some(m) = any.downcast_ref::<Llama<RuntimeBackend>>() {
            m.device()
        } else if let Some(m) = any.downcast_ref::<Llama<RuntimeAutodiff>>() {
            m.device()
        } else {
            return false;
        };
        let f32 =
            model.compute == Precision::F32 && model.weight_precision() == Precision::F32.dtype();
        matches!(device, Device::Flex(_)) && f32
    }

    /// The host copy of any model (tests compare it with the burn path on any backend).
    pub fn copy_of<B: Backend>(model: &Llama<B>) -> Self {
        Self {
            weights: Weights::of(model),
        }
    }

    /// Logits `[prompts, vocab]` after each prompt's last token: the prefill of
    /// [`sample`](Self::sample) alone (benchmarks time it).
    pub fn prefill_logits(&self, prompts: &[&[u32]]) -> Vec<f32> {
        self.prefill(prompts, 0).0
    }

    /// Logits `[tokens, vocab]` at every position of one sequence (tests).
    pub fn sequence_logits(&self, tokens: &[u32]) -> Vec<f32> {
        let w = &self.weights;
        let mut caches = vec![RowCache::new(w.blocks.len(), tokens.len(), w.kv_width())];
        let at: Vec<At> = (0..tokens.len()).map(|slot| At { row: 0, slot }).collect();
        on_workers(|| logits(w, &pass(w, tokens, &at, &mut caches)))
    }

    /// Runs every prompt through the model into a cache with room for `extra` more slots;
    /// returns the logits after each prompt `[prompts, vocab]` and the caches.
    fn prefill(&self, prompts: &[&[u32]], extra: usize) -> (Vec<f32>, Vec<RowCache>) {
        let w = &self.weights;
        let mut caches: Vec<RowCache> = prompts
            .iter()
            .map(|p| RowCache::new(w.blocks.len(), p.len() + extra, w.kv_width()))
            .collect();
        let tokens: Vec<u32> = prompts.iter().flat_map(|p| p.iter().copied()).collect();
        let at: Vec<At> = prompts
            .iter()
            .enumerate()
            .flat_map(|(row, p)| (0..p.len()).map(move |slot| At { row, slot }))
            .collect();
        let x = on_workers(|| pass(w, &tokens, &at, &mut caches));
        let mut last = Vec::with_capacity(prompts.len() * w.hidden);
        let mut end = 0;
        for p in prompts {
            end += p.len();
            last.extend_from_slice(&x[(end - 1) * w.hidden..end * w.hidden]);
        }
        (on_workers(|| logits(w, &last)), caches)
    }

    /// [`crate::Generator::sample`] on this path (the caller has checked the prompts: each
    /// non-empty and shorter than `max_seq_len`).
    pub fn sample(&self, request: &SampleRequest) -> Vec<Vec<Sample>> {
        let w = &self.weights;
        let mut streams = request.streams();
        let Some(max_new) = request.room(w.max_seq_len) else {
            return vec![Vec::new(); request.prompts.len()];
        };
        let (prompts, n, params) = (request.prompts, request.n, request.params);
        let (prompt_logits, prompt_caches) = self.prefill(prompts, max_new);
        let vocab = w.vocab;
        let mut caches = Vec::with_capacity(prompts.len() * n);
        let mut logits_now = Vec::with_capacity(prompts.len() * n * vocab);
        for (p, cache) in prompt_caches.into_iter().enumerate() {
            for _ in 1..n {
                caches.push(cache.clone());
            }
            caches.push(cache);
            for _ in 0..n {
                logits_now.extend_from_slice(&prompt_logits[p * vocab..(p + 1) * vocab]);
            }
        }
        let mut samples = vec![Sample::default(); caches.len()];
        // the rows still generating, in order
        let mut live: Vec<usize> = (0..caches.len()).collect();
        for step in 0..max_new {
            let uniforms: Vec<f64> = if draws_uniforms(params) {
                live.iter().map(|&row| streams.uniform(row)).collect()
            } else {
                Vec::new()
            };
            let picks = choose::pick(&logits_now, vocab, params, &uniforms);
            for (i, &row) in live.iter().enumerate() {
                let sample = &mut samples[row];
                let token = picks.tokens[i];
                sample.tokens.push(token);
                sample.logprobs.push(picks.logprobs[i]);
                sample.entropies.push(picks.entropies[i]);
                sample.stopped =
                    params.stop_tokens.contains(&token) || (request.stop)(&sample.tokens);
            }
            live.retain(|&row| !samples[row].stopped);
            if step + 1 == max_new || live.is_empty() {
                break;
            }
            let tokens: Vec<u32> = live
                .iter()
                .map(|&row| *samples[row].tokens.last().expect("a token per step"))
                .collect();
            let at: Vec<At> = live
                .iter()
                .map(|&row| At {
                    row,
                    slot: caches[row].len,
                })
                .collect();
            logits_now = on_workers(|| logits(w, &pass(w, &tokens, &at, &mut caches)));
        }
        let mut samples = samples.into_iter();
        (0..prompts.len())
            .map(|_| samples.by_ref().take(n).collect())
            .collect()
    }
}
