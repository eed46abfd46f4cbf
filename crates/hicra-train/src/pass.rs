//! How a training forward and backward pass runs, as [`ComputePath`] chooses: burn's autodiff
//! through the whole model (the tensor path: GPUs, bf16/f16), or the host kernels of
//! [`HostModel`] (the CPU in f32), where burn differentiates only the loss, with respect to
//! the `[rows, width]` log-probs (and entropies) the host forward returned, and the host
//! backward pass carries that gradient to every weight. Either way the caller builds its loss
//! on the same [`Scored`] tensors, gradients add up over micro-batches, and [`Pass::grads`]
//! hands them to burn's optimiser. [`score_logprobs`] is the gradient-free counterpart (a
//! reference model, recomputed `old` log-probs).

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use hicra_model::{
    ComputePath, Entropies, HostGrads, HostModel, HostTape, Llama, NativeLlama, RuntimeAutodiff,
    RuntimeBackend, Scored, score_tempered, score_tempered_with,
};

/// One optimiser step's forward and backward passes and the gradients they add up. Make a new
/// one per optimiser step: the host path holds a copy of the weights taken when it was made.
pub enum Pass {
    /// burn's autodiff; gradients add up in burn's accumulator.
    Tensor(GradientsAccumulator<Llama<RuntimeAutodiff>>),
    /// The host kernels over a copy of the weights, and the gradients so far.
    Host {
        model: HostModel,
        grads: Box<HostGrads>,
    },
}

/// What [`Pass::backward`] needs of a forward pass besides the loss: on the host path, the
/// activations and the tensors the loss was built on.
pub struct Tape(Option<HostLeaves>);

struct HostLeaves {
    tape: HostTape,
    logprobs: Tensor<RuntimeAutodiff, 2>,
    entropies: Option<Tensor<RuntimeAutodiff, 2>>,
}

impl Pass {
    /// The pass `path` asks for on `model` (under `auto`: the host one when the model is on the
    /// CPU in f32).
    pub fn new(model: &Llama<RuntimeAutodiff>, path: ComputePath) -> Self {
        match host_copy(model, path) {
            Some(model) => Pass::Host {
                grads: Box::new(model.zero_grads()),
                model,
            },
            None => Pass::Tensor(GradientsAccumulator::new()),
        }
    }

    /// `host` or `tensor`.
    pub fn name(&self) -> &'static str {
        match self {
            Pass::Tensor(_) => "tensor",
            Pass::Host { .. } => "host",
        }
    }

    /// Scores `pairs` (prompt ids, response ids) under `softmax(logits / temperatures[i])`,
    /// with entropies when `entropies`: [`score_tempered_with`]'s tensors on `model`'s device,
    /// differentiable (on the host path, as leaves the loss's gradient is taken against).
    pub fn forward(
        &self,
        model: &Llama<RuntimeAutodiff>,
        pairs: &[(&[u32], &[u32])],
        temperatures: &[f32],
        entropies: bool,
    ) -> (Scored<RuntimeAutodiff>, Tape) {
        let device = model.device();
        let Pass::Host { model: host, .. } = self else {
            let which = if entropies {
                Entropies::Differentiable
            } else {
                Entropies::Skipped
            };
            let scored = score_tempered_with(model, pairs, temperatures, which, &device);
            return (scored, Tape(None));
        };
        let (scores, tape) = host.forward(pairs, temperatures, entropies);
        let shape = [scores.rows, scores.width];
        let tensor = |values: Vec<f32>| {
            Tensor::<RuntimeAutodiff, 2>::from_data(TensorData::new(values, shape), &device)
        };
        let logprobs = tensor(scores.logprobs).require_grad();
        let entropies = scores.entropies.map(|e| tensor(e).require_grad());
        let scored = Scored {
            logprobs: logprobs.clone(),
            entropies: entropies.clone(),
            mask: tensor(scores.mask),
        };
        let leaves = HostLeaves {
            tape,
            logprobs,
            entropies,
        };
        (scored, Tape(Some(leaves)))
    }

    /// Adds the gradient of `loss` (built on the [`Scored`] of the forward pass that gave
    /// `tape`) with respect to every weight of `model`.
    pub fn backward(
        &mut self,
        model: &Llama<RuntimeAutodiff>,
        loss: Tensor<RuntimeAutodiff, 1>,
        tape: Tape,
    ) {
        let gradients = loss.backward();
        match (self, tape.0) {
            (Pass::Tensor(accumulator), _) => {
                accumulator.accumulate(model, GradientsParams::from_grads(gradients, model));
            }
            (Pass::Host { model: host, grads }, Some(leaves)) => {
                let [rows, width] = leaves.logprobs.dims();
                // a loss that does not read them has a zero gradient
                let dlogprobs = leaves
                    .logprobs
                    .grad(&gradients)
                    .map_or_else(|| vec![0.0; rows * width], host_values);
                let dentropies = leaves
                    .entropies
                    .and_then(|e| e.grad(&gradients))
                    .map(host_values);
                host.backward(leaves.tape, &dlogprobs, dentropies.as_deref(), grads);
            }
            (Pass::Host { .. }, None) => {
                panic!("a tensor-path forward pass given to the host path")
            }
        }
    }

    /// The gradients added up, under `model`'s parameter ids (the model the pass was made for).
    pub fn grads(self, model: &Llama<RuntimeAutodiff>) -> GradientsParams {
        match self {
            Pass::Tensor(mut accumulator) => accumulator.grads(),
            Pass::Host { grads, .. } => grads.into_params(model),
        }
    }
}

/// The host copy of a training model that `path` asks for (`None`: the tensor path).
pub fn host_copy(model: &Llama<RuntimeAutodiff>, path: ComputePath) -> Option<HostModel> {
    HostModel::on_path(model, path)
}

/// Whether `path` takes the host path for `model` (what [`host_copy`] decides, without the
/// copy).
pub fn takes_host_path(model: &Llama<RuntimeAutodiff>, path: ComputePath) -> bool {
    match path {
        ComputePath::Auto => NativeLlama::takes_host_path(model),
        ComputePath::Host => true,
        ComputePath::Tensor => false,
    }
}

/// Log-probs of `pairs` under `model` at `temperatures`, no gradient, `[rows, width]` as
/// [`Scored`] lays them out: on the host kernels when `host` (a copy of `model`) is given,
/// else burn's forward pass.
pub fn score_logprobs(
    model: &Llama<RuntimeBackend>,
    host: Option<&HostModel>,
    pairs: &[(&[u32], &[u32])],
    temperatures: &[f32],
) -> TensorData {
    match host {
        Some(host) => {
            let scores = host.score(pairs, temperatures, false);
            TensorData::new(scores.logprobs, [scores.rows, scores.width])
        }
        None => score_tempered(model, pairs, temperatures, &model.device())
            .logprobs
            .into_data(),
    }
}

fn host_values<B: Backend>(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 values")
}
