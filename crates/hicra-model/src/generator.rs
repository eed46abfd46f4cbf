//! A model held for repeated generation. [`sample_batch_until`] on the CPU path copies the
//! weights into host memory on every call (a few hundred milliseconds for SmolLM2); a
//! [`Generator`] makes that copy once, on first use, and reuses it for every later call, so
//! callers that sample the same weights many times (a sampler stage between policy updates,
//! an evaluation, a search) hold one generator per weights version.

use std::sync::OnceLock;

use burn::tensor::backend::Backend;
use rand::Rng;

use crate::llama::Llama;
use crate::native::NativeLlama;
use crate::sample::{Sample, SamplingParams, check_prompts, sample_on_tensors};

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

    /// [`crate::sample_batch_until`], with the host copy made once.
    pub fn sample_batch_until(
        &self,
        prompts: &[&[u32]],
        n: usize,
        params: &SamplingParams,
        stop: &dyn Fn(&[u32]) -> bool,
        rng: &mut impl Rng,
        device: &B::Device,
    ) -> Vec<Vec<Sample>> {
        if !check_prompts(&self.model, prompts, n) {
            return vec![Vec::new(); prompts.len()];
        }
        let native = self.native.get_or_init(|| NativeLlama::for_model(&self.model));
        match native {
            Some(native) => native.sample_batch_until(prompts, n, params, stop, rng),
            None => sample_on_tensors(&self.model, prompts, n, params, stop, rng, device),
        }
    }

    /// [`crate::sample_batch`], with the host copy made once.
    pub fn sample_batch(
        &self,
        prompts: &[&[u32]],
        n: usize,
        params: &SamplingParams,
        rng: &mut impl Rng,
        device: &B::Device,
    ) -> Vec<Vec<Sample>> {
        self.sample_batch_until(prompts, n, params, &|_| false, rng, device)
    }
}
