//! The building blocks: RMSNorm, rotary position embedding (HF rotate-half layout), grouped-
//! query attention with a KV cache, and the SwiGLU MLP.
//!
//! Every layer computes in the dtype of its input activations: weights stored in another type
//! are cast on the way in (see `precision`), and the reductions that need range or accuracy
//! (RMSNorm's mean of squares, the attention softmax) run in f32 whatever that type is. The
//! RoPE angles are the exception: the model casts them once per forward pass
//! ([`RopeAngles::cast`]), not every layer.

use burn::module::{Module, Param};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, FloatDType, Tensor};

/// `y = x / sqrt(mean(x^2) + eps) * weight`.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dtype = x.dtype();
        let x = x.cast(FloatDType::F32);
        let rms = (x.clone().powf_scalar(2.0).mean_dim(D - 1) + self.eps).sqrt();
        let weight = self.weight.val().cast(FloatDType::F32);
        ((x / rms) * weight.unsqueeze()).cast(dtype)
    }
}

/// A linear map stored as `[in, out]`, with an optional bias (Qwen2's q/k/v).
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Dense<B> {
    pub fn new(weight: Param<Tensor<B, 2>>) -> Self {
        Self { weight, bias: None }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let dtype = x.dtype();
        let y = x.matmul(self.weight.val().cast(dtype).unsqueeze());
        match &self.bias {
            Some(b) => y + b.val().cast(dtype).unsqueeze(),
            None => y,
        }
    }
}

/// Precomputed cos/sin tables, `[max_seq_len, head_dim]` (frequencies repeated per half).
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    pub cos: Tensor<B, 2>,
    pub sin: Tensor<B, 2>,
}

/// The rotation angles of one forward pass, broadcastable to `[batch, heads, seq, head_dim]`.
#[derive(Debug, Clone)]
pub struct RopeAngles<B: Backend> {
    pub cos: Tensor<B, 4>,
    pub sin: Tensor<B, 4>,
}

impl<B: Backend> Rope<B> {
    pub fn new(head_dim: usize, max_seq_len: usize, theta: f32, device: &B::Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_seq_len * head_dim);
        let mut sin = Vec::with_capacity(max_seq_len * head_dim);
        for p in 0..max_seq_len {
            for i in 0..head_dim {
                let freq = (theta as f64).powf(-2.0 * (i % half) as f64 / head_dim as f64);
                let angle = p as f64 * freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let shape = [max_seq_len, head_dim];
        let cos = Tensor::<B, 1>::from_floats(cos.as_slice(), device).reshape(shape);
        let sin = Tensor::<B, 1>::from_floats(sin.as_slice(), device).reshape(shape);
        Self { cos, sin }
    }

    /// Angles of positions `start..start+seq`, shared by every row: `[1, 1, seq, head_dim]`.
    pub fn contiguous(&self, start: usize, seq: usize) -> RopeAngles<B> {
        RopeAngles {
            cos: self.cos.clone().narrow(0, start, seq).unsqueeze(),
            sin: self.sin.clone().narrow(0, start, seq).unsqueeze(),
        }
    }

    /// Angles of per-row positions `positions: [batch, seq]`: `[batch, 1, seq, head_dim]`.
    pub fn gathered(&self, positions: Tensor<B, 2, burn::tensor::Int>) -> RopeAngles<B> {
        let [batch, seq] = positions.dims();
        let dim = self.cos.dims()[1];
        let flat = positions.reshape([batch * seq]);
        let pick = |table: &Tensor<B, 2>| {
            table
                .clone()
                .select(0, flat.clone())
                .reshape([batch, 1, seq, dim])
        };
        RopeAngles {
            cos: pick(&self.cos),
            sin: pick(&self.sin),
        }
    }
}

impl<B: Backend> RopeAngles<B> {
    /// The angles in the activations' type, once per forward pass rather than per layer.
    pub fn cast(self, dtype: FloatDType) -> Self {
        Self {
            cos: self.cos.cast(dtype),
            sin: self.sin.cast(dtype),
        }
    }

    /// Rotates `x: [batch, heads, seq, head_dim]` (rotate-half pairing).
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let dim = x.dims()[3];
        let half = dim / 2;
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

/// Keys and values of the positions seen so far, per layer: `[batch, kv_heads, seq, head_dim]`.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    pub keys: Tensor<B, 4>,
    pub values: Tensor<B, 4>,
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q: Dense<B>,
    pub k: Dense<B>,
    pub v: Dense<B>,
    pub o: Dense<B>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
}

impl<B: Backend> Attention<B> {
    /// `x: [batch, seq, hidden]`, rotated by `angles`; `mask` (`true` = hidden) is
    /// `[batch or 1, 1, seq, cached + seq]`. With a cache, attends over the cached positions
    /// too and appends the new keys/values.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        angles: &RopeAngles<B>,
        mask: &Tensor<B, 4, Bool>,
        cache: Option<&mut Option<LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let head_dim = self.q.weight.dims()[1] / self.num_heads;
        let split = |t: Tensor<B, 3>, heads: usize| {
            t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2)
        };
        let q = angles.apply(split(self.q.forward(x.clone()), self.num_heads));
        let mut k = angles.apply(split(self.k.forward(x.clone()), self.num_kv_heads));
        let mut v = split(self.v.forward(x), self.num_kv_heads);
        if let Some(slot) = cache {
            if let Some(previous) = slot.take() {
                k = Tensor::cat(vec![previous.keys, k], 2);
                v = Tensor::cat(vec![previous.values, v], 2);
            }
            *slot = Some(LayerCache {
                keys: k.clone(),
                values: v.clone(),
            });
        }
        let total = k.dims()[2];
        let group = self.num_heads / self.num_kv_heads;
        let expand = |t: Tensor<B, 4>| {
            t.reshape([batch, self.num_kv_heads, 1, total, head_dim])
                .repeat_dim(2, group)
                .reshape([batch, self.num_heads, total, head_dim])
        };
        let (k, v) = (expand(k), expand(v));
        let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt();
        let scores = scores.mask_fill(mask.clone(), f32::NEG_INFINITY);
        let dtype = scores.dtype();
        let weights = softmax(scores.cast(FloatDType::F32), 3).cast(dtype);
        let out = weights.matmul(v);
        self.o.forward(
            out.swap_dims(1, 2)
                .reshape([batch, seq, self.num_heads * head_dim]),
        )
    }
}

/// `true` where query `i` (at slot `total - seq + i`) must not see key `j`: `[1, 1, seq, total]`.
pub fn causal_mask<B: Backend>(seq: usize, total: usize, device: &B::Device) -> Tensor<B, 4, Bool> {
    let offset = (total - seq) as i64;
    Tensor::<B, 2, Bool>::tril_mask([seq, total], offset, device).unsqueeze::<4>()
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate: Dense<B>,
    pub up: Dense<B>,
    pub down: Dense<B>,
}

impl<B: Backend> Mlp<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.down
            .forward(silu(self.gate.forward(x.clone())) * self.up.forward(x))
    }
}
