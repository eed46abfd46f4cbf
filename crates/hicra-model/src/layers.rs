//! The building blocks: RMSNorm, rotary position embedding (HF rotate-half layout), grouped-
//! query attention with a KV cache, and the SwiGLU MLP.

use burn::module::{Module, Param};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

/// `y = x / sqrt(mean(x^2) + eps) * weight`.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let rms = (x.clone().powf_scalar(2.0).mean_dim(D - 1) + self.eps).sqrt();
        (x / rms) * self.weight.val().unsqueeze()
    }
}

/// A bias-free linear map stored as `[in, out]`.
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> Dense<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        x.matmul(self.weight.val().unsqueeze())
    }
}

/// Precomputed cos/sin tables, `[max_seq_len, head_dim]` (frequencies repeated per half).
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    pub cos: Tensor<B, 2>,
    pub sin: Tensor<B, 2>,
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

    /// Rotates `x: [batch, heads, seq, head_dim]` whose first position is `start`.
    pub fn apply(&self, x: Tensor<B, 4>, start: usize) -> Tensor<B, 4> {
        let [_, _, seq, dim] = x.dims();
        let cos = self.cos.clone().narrow(0, start, seq).unsqueeze::<4>();
        let sin = self.sin.clone().narrow(0, start, seq).unsqueeze::<4>();
        let half = dim / 2;
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos + rotated * sin
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
    /// `x: [batch, seq, hidden]` at positions `start..start+seq`; with a cache, attends over
    /// the cached positions too and appends the new keys/values.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &Rope<B>,
        start: usize,
        cache: Option<&mut Option<LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.num_heads;
        let split = |t: Tensor<B, 3>, heads: usize| {
            t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2)
        };
        let q = rope.apply(split(self.q.forward(x.clone()), self.num_heads), start);
        let mut k = rope.apply(split(self.k.forward(x.clone()), self.num_kv_heads), start);
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
        let mask = causal_mask::<B>(seq, total, &scores.device());
        let scores = scores.mask_fill(mask, f32::NEG_INFINITY);
        let out = softmax(scores, 3).matmul(v);
        self.o
            .forward(out.swap_dims(1, 2).reshape([batch, seq, hidden]))
    }
}

/// `true` where query `i` (at absolute position `total - seq + i`) must not see key `j`.
fn causal_mask<B: Backend>(seq: usize, total: usize, device: &B::Device) -> Tensor<B, 4, Bool> {
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
