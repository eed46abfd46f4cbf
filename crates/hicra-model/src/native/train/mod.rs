//! # Training on the CPU without autodiff's per-op overheads
//!
//! The learner's forward and backward pass on host vectors: teacher-forced log-probabilities
//! (and entropies) of response tokens, and the gradient of any loss of them with respect to
//! every weight, each layer's backward written out (RMSNorm, RoPE, grouped-query attention,
//! SwiGLU, the tied or separate head, temperature and log-softmax, entropy). The products run
//! on `gemm` (the crate burn's CPU backend multiplies with), strided so that no transpose is
//! ever copied and split over the cores (`native/gemm.rs`); sequences sit side by side without
//! padding; attention is computed per (sequence, head) and its probabilities recomputed from
//! the saved log-sum-exp in the backward pass instead of being stored.
//!
//! The loss itself stays where it is (burn tensors, [`crate`]'s callers): the learner builds
//! it on the log-probabilities this forward returns, asks burn for its gradient with respect
//! to them (a `[rows, width]` tensor, cheap), and hands that to [`HostModel::backward`], which
//! adds the weights' gradients into a [`HostGrads`]; [`HostGrads::into_params`] gives them to
//! burn's optimiser under the model's parameter ids. The same function as
//! [`crate::score_tempered_with`] differentiated by burn's autodiff: the tests hold the two to
//! 1e-4 on random models of several shapes.
//!
//! [`ComputePath`] says which path a learner takes: the host one on the CPU in f32 (the rule
//! of [`super::NativeLlama::for_model`]), burn's autodiff elsewhere (GPUs, bf16/f16), or either
//! forced for comparison.

mod attention;
mod backward;
mod elementwise;
mod forward;
mod params;
#[cfg(test)]
mod tests;

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::llama::Llama;
use crate::native::NativeLlama;

pub use params::HostGrads;
use params::HostParams;

/// Which implementation computes a learner's forward and backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputePath {
    /// Host kernels when the model is on the CPU in f32 (weights and compute), burn's
    /// autodiff otherwise.
    #[default]
    Auto,
    /// Host kernels whatever the model (a GPU model's weights are copied to the host).
    Host,
    /// burn's autodiff on tensors.
    Tensor,
}

impl std::fmt::Display for ComputePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ComputePath::Auto => "auto",
            ComputePath::Host => "host",
            ComputePath::Tensor => "tensor",
        })
    }
}

impl std::str::FromStr for ComputePath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(ComputePath::Auto),
            "host" => Ok(ComputePath::Host),
            "tensor" => Ok(ComputePath::Tensor),
            other => Err(format!(
                "unknown compute path {other:?}: expected auto, host or tensor"
            )),
        }
    }
}

/// Per-token figures of a batch of (prompt, response) pairs, `[rows, width]` row-major with
/// `width` the longest response (at least 1), zero past each response's end: the layout of
/// [`crate::Scored`]'s tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct HostScores {
    pub rows: usize,
    pub width: usize,
    /// `log softmax(logits / T)` of each response token.
    pub logprobs: Vec<f32>,
    /// The entropy of that distribution, when asked for.
    pub entropies: Option<Vec<f32>>,
    /// 1 on response tokens, 0 on padding.
    pub mask: Vec<f32>,
}

/// What a forward pass keeps for its backward pass (activations of every layer).
pub struct HostTape {
    tape: forward::Tape,
}

/// A model's weights on the host, laid out as the burn model holds them, for the learner.
#[derive(Debug, Clone)]
pub struct HostModel {
    params: HostParams,
}

impl HostModel {
    /// The host copy of `model` when it takes the host path by default: on the CPU, computing
    /// in f32 with f32 weights; `None` otherwise.
    pub fn for_model<B: Backend>(model: &Llama<B>) -> Option<Self> {
        NativeLlama::takes_host_path(model).then(|| Self::copy_of(model))
    }

    /// The host copy of any model.
    pub fn copy_of<B: Backend>(model: &Llama<B>) -> Self {
        Self {
            params: HostParams::of(model),
        }
    }

    /// The host copy `path` asks for: [`Self::for_model`] under `auto`, always under `host`,
    /// never under `tensor`.
    pub fn on_path<B: Backend>(model: &Llama<B>, path: ComputePath) -> Option<Self> {
        match path {
            ComputePath::Auto => Self::for_model(model),
            ComputePath::Host => Some(Self::copy_of(model)),
            ComputePath::Tensor => None,
        }
    }

    /// Scores `pairs` (prompt ids, response ids; each prompt non-empty) under
    /// `softmax(logits / temperatures[i])`, keeping nothing for a backward pass: what
    /// [`crate::score_tempered_with`] computes, on the host.
    pub fn score(
        &self,
        pairs: &[(&[u32], &[u32])],
        temperatures: &[f32],
        entropies: bool,
    ) -> HostScores {
        forward::run(&self.params, pairs, temperatures, entropies, false).0
    }

    /// [`Self::score`], keeping what [`Self::backward`] needs.
    pub fn forward(
        &self,
        pairs: &[(&[u32], &[u32])],
        temperatures: &[f32],
        entropies: bool,
    ) -> (HostScores, HostTape) {
        let (scores, tape) = forward::run(&self.params, pairs, temperatures, entropies, true);
        (
            scores,
            HostTape {
                tape: tape.expect("a tape was asked for"),
            },
        )
    }

    /// Adds into `grads` the gradient of a loss whose gradient with respect to the forward's
    /// log-probabilities is `dlogprobs` (and to its entropies `dentropies`, when the loss
    /// reads them), both `[rows, width]` as [`HostScores`]; padding entries are ignored.
    pub fn backward(
        &self,
        tape: HostTape,
        dlogprobs: &[f32],
        dentropies: Option<&[f32]>,
        grads: &mut HostGrads,
    ) {
        backward::run(&self.params, tape.tape, dlogprobs, dentropies, grads);
    }

    /// The final norm's output `[picked, hidden]` (row-major) at positions `at[i]` of each of
    /// `sequences` (token ids fed from position 0), in order: the input of a scalar head (a
    /// reward model's), without a backward pass.
    pub fn final_hidden(&self, sequences: &[&[u32]], at: &[&[usize]]) -> Vec<f32> {
        forward::final_hidden(&self.params, sequences, at)
    }

    /// Zero gradients, one buffer per weight.
    pub fn zero_grads(&self) -> HostGrads {
        HostGrads::zeros_like(&self.params)
    }
}
