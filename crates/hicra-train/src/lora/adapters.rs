//! The adapters as a burn module (so burn's AdamW updates them and its records save them),
//! PEFT's initialisation, the merge `W = W0 + s * (B A)^T` into the model's `[in, out]`
//! weights, and the projection of a full weight's gradient onto `A` and `B`.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{FloatDType, Tensor, TensorData};
use hicra_model::layers::Dense;
use hicra_model::llama::Block;
use hicra_model::{Llama, Precision};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{LoraConfig, Target};

/// One layer's adapter, in PEFT's layout (a torch `Linear` weight is `[out, in]`).
#[derive(Module, Debug)]
pub struct Adapter<B: Backend> {
    /// `lora_A`, `[rank, in]`.
    pub a: Param<Tensor<B, 2>>,
    /// `lora_B`, `[out, rank]`.
    pub b: Param<Tensor<B, 2>>,
}

/// The adapters of one block (`None` where the layer is not a target).
#[derive(Module, Debug)]
pub struct BlockAdapters<B: Backend> {
    pub q: Option<Adapter<B>>,
    pub k: Option<Adapter<B>>,
    pub v: Option<Adapter<B>>,
    pub o: Option<Adapter<B>>,
    pub gate: Option<Adapter<B>>,
    pub up: Option<Adapter<B>>,
    pub down: Option<Adapter<B>>,
}

/// Every block's adapters: what trains, what the optimiser holds state for, what
/// `adapters.mpk` saves.
#[derive(Module, Debug)]
pub struct LoraAdapters<B: Backend> {
    pub blocks: Vec<BlockAdapters<B>>,
}

impl<B: Backend> BlockAdapters<B> {
    pub fn get(&self, t: Target) -> Option<&Adapter<B>> {
        match t {
            Target::Q => self.q.as_ref(),
            Target::K => self.k.as_ref(),
            Target::V => self.v.as_ref(),
            Target::O => self.o.as_ref(),
            Target::Gate => self.gate.as_ref(),
            Target::Up => self.up.as_ref(),
            Target::Down => self.down.as_ref(),
        }
    }

    fn slot(&mut self, t: Target) -> &mut Option<Adapter<B>> {
        match t {
            Target::Q => &mut self.q,
            Target::K => &mut self.k,
            Target::V => &mut self.v,
            Target::O => &mut self.o,
            Target::Gate => &mut self.gate,
            Target::Up => &mut self.up,
            Target::Down => &mut self.down,
        }
    }
}

/// The dense layer `t` of `block`.
pub fn dense<B: Backend>(block: &Block<B>, t: Target) -> &Dense<B> {
    match t {
        Target::Q => &block.attention.q,
        Target::K => &block.attention.k,
        Target::V => &block.attention.v,
        Target::O => &block.attention.o,
        Target::Gate => &block.mlp.gate,
        Target::Up => &block.mlp.up,
        Target::Down => &block.mlp.down,
    }
}

fn dense_mut<B: Backend>(block: &mut Block<B>, t: Target) -> &mut Dense<B> {
    match t {
        Target::Q => &mut block.attention.q,
        Target::K => &mut block.attention.k,
        Target::V => &mut block.attention.v,
        Target::O => &mut block.attention.o,
        Target::Gate => &mut block.mlp.gate,
        Target::Up => &mut block.mlp.up,
        Target::Down => &mut block.mlp.down,
    }
}

/// PEFT's bound for `lora_A`: `kaiming_uniform_(a = sqrt(5))` on a `[rank, in]` weight is
/// uniform(-b, b) with `b = gain * sqrt(3 / fan_in)`, `gain = sqrt(2 / (1 + a^2))`, which is
/// `1 / sqrt(in)`.
pub fn kaiming_bound(fan_in: usize) -> f64 {
    let a2: f64 = 5.0;
    let gain = (2.0 / (1.0 + a2)).sqrt();
    gain * (3.0 / fan_in as f64).sqrt()
}

impl<B: Backend> LoraAdapters<B> {
    /// Fresh adapters for `model`'s targeted layers: `A` uniform within [`kaiming_bound`]
    /// (each layer's own stream of `seed`), `B = 0`; an error when the rank does not fit a
    /// layer.
    pub fn init(config: &LoraConfig, model: &Llama<B>, seed: u64) -> Result<Self, String> {
        let device = model.device();
        let targets = config.target_list();
        let mut shapes = Vec::new();
        for block in &model.blocks {
            for &t in &targets {
                let [i, o] = dense(block, t).weight.dims();
                shapes.push((t, i, o));
            }
        }
        if let Some(problem) = config.rank_problem(&shapes) {
            return Err(problem);
        }
        let r = config.rank;
        let blocks = model
            .blocks
            .iter()
            .enumerate()
            .map(|(l, block)| {
                let mut adapters = BlockAdapters::empty();
                for &t in &targets {
                    let [i, o] = dense(block, t).weight.dims();
                    let stream = hicra_flow::derive_seed(seed, &format!("lora.{l}.{}", t.name()));
                    let mut rng = ChaCha8Rng::seed_from_u64(stream);
                    let bound = kaiming_bound(i);
                    let a: Vec<f32> = (0..r * i)
                        .map(|_| ((2.0 * rng.random::<f64>() - 1.0) * bound) as f32)
                        .collect();
                    let a = Tensor::from_data(TensorData::new(a, [r, i]), &device);
                    *adapters.slot(t) = Some(Adapter {
                        a: Param::from_tensor(a),
                        b: Param::from_tensor(Tensor::zeros([o, r], &device)),
                    });
                }
                adapters
            })
            .collect();
        Ok(Self { blocks })
    }

    /// Every adapter with its block index and target, in layout order.
    pub fn entries(&self) -> impl Iterator<Item = (usize, Target, &Adapter<B>)> {
        self.blocks.iter().enumerate().flat_map(|(l, block)| {
            Target::ALL
                .into_iter()
                .filter_map(move |t| block.get(t).map(|a| (l, t, a)))
        })
    }

    /// `base` with every targeted weight replaced by `W0 + scale * (B A)^T`.
    pub fn merged(&self, base: &Llama<B>, scale: f64) -> Llama<B> {
        // a base stored low (`base_dtype`) is merged into an f32 copy of itself
        let mut model = if base.weight_precision() == FloatDType::F32 {
            base.clone()
        } else {
            base.clone().stored_in(Precision::F32)
        };
        for (l, t, adapter) in self.entries() {
            let w0 = dense(&base.blocks[l], t).weight.val().cast(FloatDType::F32);
            let w = w0 + delta(adapter.a.val(), adapter.b.val(), scale);
            let dense = dense_mut(&mut model.blocks[l], t);
            dense.weight = dense.weight.clone().map(|_| w);
        }
        model
    }
}

impl<B: Backend> BlockAdapters<B> {
    fn empty() -> Self {
        Self {
            q: None,
            k: None,
            v: None,
            o: None,
            gate: None,
            up: None,
            down: None,
        }
    }
}

/// `scale * (B A)^T = scale * A^T B^T`, `[in, out]` as the model stores a dense weight.
pub fn delta<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>, scale: f64) -> Tensor<B, 2> {
    a.transpose().matmul(b.transpose()).mul_scalar(scale)
}

/// `(dL/dA, dL/dB)` from `dw = dL/dW` (`[in, out]`, the model's layout) at `A`, `B`: with
/// `W = W0 + s A^T B^T`, `dL/dA = s B^T dw^T` and `dL/dB = s dw^T A^T` (in PEFT's words,
/// with `dW = dw^T`: `s B^T dW` and `s dW A^T`).
pub fn project<B: Backend>(
    dw: Tensor<B, 2>,
    a: Tensor<B, 2>,
    b: Tensor<B, 2>,
    scale: f64,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let da = dw.clone().matmul(b).transpose().mul_scalar(scale);
    let db = a.matmul(dw).transpose().mul_scalar(scale);
    (da, db)
}

impl<B: AutodiffBackend> LoraAdapters<B> {
    /// The adapters' gradients (under their parameter ids) from the gradients `grads` of
    /// `model` (the merged model the pass ran on): each targeted weight's projected; a target
    /// the loss did not reach gets none.
    pub fn project_grads(
        &self,
        model: &Llama<B>,
        grads: &GradientsParams,
        scale: f64,
    ) -> GradientsParams {
        let mut out = GradientsParams::new();
        for (l, t, adapter) in self.entries() {
            let id = dense(&model.blocks[l], t).weight.id;
            let Some(dw) = grads.get::<B::InnerBackend, 2>(id) else {
                continue;
            };
            let (a, b) = (adapter.a.val().inner(), adapter.b.val().inner());
            let (da, db) = project(dw, a, b, scale);
            out.register::<B::InnerBackend, 2>(adapter.a.id, da);
            out.register::<B::InnerBackend, 2>(adapter.b.id, db);
        }
        out
    }

    /// `model` with every targeted weight set to `W0 + scale * (B A)^T` from `base` (its
    /// parameter ids kept); the others are left as they are.
    pub fn merge_into(
        &self,
        base: &Llama<B::InnerBackend>,
        mut model: Llama<B>,
        scale: f64,
    ) -> Llama<B> {
        for (l, t, adapter) in self.entries() {
            let w0 = dense(&base.blocks[l], t).weight.val().cast(FloatDType::F32);
            let w = w0 + delta(adapter.a.val().inner(), adapter.b.val().inner(), scale);
            let dense = dense_mut(&mut model.blocks[l], t);
            dense.weight = dense
                .weight
                .clone()
                .map(|_| Tensor::from_inner(w).require_grad());
        }
        model
    }
}
