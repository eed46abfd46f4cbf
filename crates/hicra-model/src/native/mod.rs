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
//!   one token per live row (`pass`): finished rows simply stop being passed; one decode
//!   loop (`decode`) serves plain sampling and branching ([`crate::branch`]: children copy
//!   their parent's cache up to the branch point and continue from there, no prefill);
//! * the draw follows [`crate::draw::pick`]'s rules on the host rows (`choose`, tested
//!   against it: same tokens for the same uniform numbers, same log-probabilities), each row
//!   taking its uniform numbers from its own stream ([`crate::streams`]), as the tensor path's
//!   rows do, so a seed gives the same responses on both paths.
//!
//! [`NativeLlama::for_model`] says whether a model takes this path.

mod attention;
mod cache;
mod choose;
mod decode;
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
use crate::draw::SamplingParams;
use crate::llama::Llama;
use crate::precision::Precision;
pub(crate) use crate::sample::RowStop;
use crate::sample::{Sample, SampleRequest};
use crate::streams::Streams;
pub(crate) use cache::RowCache;
use decode::{Decode, decode};
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
        self.sample_keeping(request).0
    }

    /// [`sample`](Self::sample), also giving back every row's cache (prompt-major,
    /// sample-minor; room for prompt + `max_new_tokens` slots): it holds the row's prompt and
    /// response but for the response's last token, which was drawn but not passed.
    pub(crate) fn sample_keeping(
        &self,
        request: &SampleRequest,
    ) -> (Vec<Vec<Sample>>, Vec<RowCache>) {
        let w = &self.weights;
        let streams = request.streams();
        let Some(max_new) = request.room(w.max_seq_len) else {
            return (vec![Vec::new(); request.prompts.len()], Vec::new());
        };
        let (prompts, n) = (request.prompts, request.n);
        let (prompt_logits, prompt_caches) = self.prefill(prompts, max_new);
        let vocab = w.vocab;
        let mut caches = Vec::with_capacity(prompts.len() * n);
        let mut first = Vec::with_capacity(prompts.len() * n * vocab);
        for (p, cache) in prompt_caches.into_iter().enumerate() {
            for _ in 1..n {
                caches.push(cache.clone());
            }
            caches.push(cache);
            for _ in 0..n {
                first.extend_from_slice(&prompt_logits[p * vocab..(p + 1) * vocab]);
            }
        }
        if max_new == 0 {
            first.clear();
        }
        let stop = |_: usize, tokens: &[u32]| (request.stop)(tokens);
        let how = Decode {
            params: request.params,
            streams,
            limits: vec![max_new; caches.len()],
            stop: &stop,
        };
        let mut samples = decode(w, first, &mut caches, how).into_iter();
        let groups = (0..prompts.len())
            .map(|_| samples.by_ref().take(n).collect())
            .collect();
        (groups, caches)
    }

    /// `n` children of every fork (rows fork-major, child-minor), each continuing its fork's
    /// cache: the cache's first `prefix.len() - 1` slots are copied for each child, one pass
    /// over every child's pending token (the prefix's last) gives their first logits, then
    /// they decode as [`sample`](Self::sample)'s rows do. `streams` holds one stream per
    /// child row; `stop` sees a row's new tokens. Returns the children's samples and caches.
    pub(crate) fn branch(
        &self,
        forks: &[Fork<'_>],
        n: usize,
        params: &SamplingParams,
        streams: Streams,
        stop: RowStop<'_>,
    ) -> (Vec<Sample>, Vec<RowCache>) {
        let w = &self.weights;
        let mut caches = Vec::with_capacity(forks.len() * n);
        let mut limits = Vec::with_capacity(forks.len() * n);
        let (mut pending, mut at) = (Vec::new(), Vec::new());
        for fork in forks {
            let slot = fork.prefix.len() - 1;
            for _ in 0..n {
                if fork.limit > 0 {
                    pending.push(fork.prefix[slot]);
                    at.push(At {
                        row: caches.len(),
                        slot,
                    });
                }
                caches.push(fork.cache.prefix(slot, fork.prefix.len() + fork.limit));
                limits.push(fork.limit);
            }
        }
        let first = if pending.is_empty() {
            Vec::new()
        } else {
            on_workers(|| logits(w, &pass(w, &pending, &at, &mut caches)))
        };
        let how = Decode {
            params,
            streams,
            limits,
            stop,
        };
        let samples = decode(w, first, &mut caches, how);
        (samples, caches)
    }
}

/// Where [`NativeLlama::branch`]'s children start: a kept row's cache, the prefix they share
/// (prompt + the response tokens kept, non-empty) and the most tokens each may draw.
pub(crate) struct Fork<'a> {
    pub cache: &'a RowCache,
    pub prefix: &'a [u32],
    pub limit: usize,
}
