//! The entry points of generation: [`sample_group`], [`sample_batch`] and
//! [`Generator::sample`] (any [`SampleRequest`], stop checks included), and
//! [`Generator::sample_kept`] / [`Generator::branch`] (continuing responses from a prefix,
//! [`crate::branch`]) choose the path (host vectors on the CPU in f32, [`crate::native`];
//! burn tensors elsewhere, [`sample_on_tensors`]). On the CPU path each call copies the
//! weights into host memory (a few hundred milliseconds for SmolLM2); a [`Generator`] makes
//! that copy once, on first use, and reuses it for every later call, so callers that sample
//! the same weights many times (a sampler stage between policy updates, an evaluation, a
//! search) hold one generator per weights version.
//!
//! Randomness comes in as one seed per prompt: sample `j` of prompt `p` draws from its own
//! stream, [`crate::response_rng`]`(seeds[p], j)` ([`crate::streams`]), so a response does
//! not depend on what else is sampled with it, nor on the path that computes it.

use std::sync::OnceLock;

use burn::tensor::backend::Backend;

use crate::llama::Llama;
use crate::native::NativeLlama;
use crate::sample::{Sample, SampleRequest, SamplingParams, check_prompts};
use crate::tensor_decode::sample_on_tensors;

/// Draws `n` responses to `prompt` (token ids, non-empty) from the prompt seed `seed`.
pub fn sample_group<B: Backend>(
    model: &Llama<B>,
    prompt: &[u32],
    n: usize,
    params: &SamplingParams,
    seed: u64,
    device: &B::Device,
) -> Vec<Sample> {
    sample_batch(model, &[prompt], n, params, &[seed], device).remove(0)
}

/// Draws `n` responses to each of `prompts` (of any lengths, each non-empty) in one batch:
/// the prompts are left-padded and prefilled together once, every prompt's cache is repeated
/// for its `n` samples, then all `prompts.len() * n` rows decode together. `seeds` holds one
/// seed per prompt; sample `j` of prompt `p` draws from the stream of (`seeds[p]`, `j`) alone,
/// so it is the response that prompt, seed and index give in any batch. Panics unless
/// `seeds.len() == prompts.len()`. On the CPU path each call copies the weights to the host
/// first: hold a [`Generator`] to sample the same weights repeatedly (or to end responses
/// early, [`SampleRequest::until`]).
pub fn sample_batch<B: Backend>(
    model: &Llama<B>,
    prompts: &[&[u32]],
    n: usize,
    params: &SamplingParams,
    seeds: &[u64],
    device: &B::Device,
) -> Vec<Vec<Sample>> {
    let request = SampleRequest::new(prompts, n, params, seeds);
    Generator::new(model.clone()).sample(&request, device)
}

/// A model and, made on first use, its host copy when it takes the CPU path.
#[derive(Debug, Clone)]
pub struct Generator<B: Backend> {
    model: Llama<B>,
    native: OnceLock<Option<NativeLlama>>,
}

impl<B: Backend> Generator<B> {
    pub fn new(model: Llama<B>) -> Self {
        Self {
            model,
            native: OnceLock::new(),
        }
    }

    /// The model (its weights must not change under the generator: make a new one).
    pub fn model(&self) -> &Llama<B> {
        &self.model
    }

    /// The generator's model, given back.
    pub fn into_model(self) -> Llama<B> {
        self.model
    }

    /// The host copy when the model takes the CPU path (made on first use).
    pub(crate) fn native(&self) -> Option<&NativeLlama> {
        self.native
            .get_or_init(|| NativeLlama::for_model(&self.model))
            .as_ref()
    }

    /// [`crate::next_token_logprobs`] of this model, on the host path when it takes it (the
    /// prompts prefilled side by side, no padding), with the host copy made once.
    pub fn next_token_logprobs(
        &self,
        prompts: &[&[u32]],
        tokens: &[u32],
        device: &B::Device,
    ) -> Vec<Vec<f32>> {
        match self.native() {
            Some(native) if !prompts.is_empty() => {
                crate::next_token::check_prompts(&self.model, prompts);
                let logits = native.prefill_logits(prompts);
                crate::next_token::picked_logprobs(&logits, prompts.len(), tokens)
            }
            _ => crate::next_token::on_tensors(&self.model, prompts, tokens, device),
        }
    }

    /// What `request` asks for, as [`sample_batch`] draws it, with the host copy made once.
    pub fn sample(&self, request: &SampleRequest, device: &B::Device) -> Vec<Vec<Sample>> {
        if !check_prompts(&self.model, request) {
            return vec![Vec::new(); request.prompts.len()];
        }
        // the host copy when the model takes the CPU path, burn tensors otherwise
        match self.native() {
            Some(native) => native.sample(request),
            None => sample_on_tensors(&self.model, request, device),
        }
    }
}
