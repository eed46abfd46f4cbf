//! The building blocks: RMSNorm, rotary position embedding (HF rotate-half layout), grouped-
//! query attention over a KV cache ([`crate::kv_cache`]), and the SwiGLU MLP.
//!
//! Every layer computes in the dtype of its input activations: weights stored in another type
//! are cast on the way in (see `precision`), and the reductions that need range or accuracy
//! (RMSNorm's mean of squares, the attention softmax) run in f32 whatever that type is. The
//! RoPE angles are the exception: the model casts them once per forward pass
//! ([`RopeAngles::cast`]), and lays them out per head count ([`RopeAngles::for_heads`]), not
//! every layer.

use burn::module::{Module, Param};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, FloatDType, Tensor};

use crate::kv_cache::{KeyValues, LayerCache};

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
        let rms = ((x.clone() * x.clone()).mean_dim(D - 1) + self.eps).sqrt();
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

    /// `x: [batch, seq, in]` -> `[batch, seq, out]`, as one `[batch * seq, in] x [in, out]`
    /// product: a batched product against the broadcast weight would run one matrix-vector
    /// product per row while decoding (the weight streamed from memory `batch` times), and
    /// its backward would materialise a `[batch, in, out]` gradient before summing it.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq, width] = x.dims();
        let dtype = x.dtype();
        let weight = self.weight.val().cast(dtype);
        let out = weight.dims()[1];
        let y = x.reshape([batch * seq, width]).matmul(weight);
        let y = match &self.bias {
            Some(b) => y + b.val().cast(dtype).unsqueeze(),
            None => y,
        };
        y.reshape([batch, seq, out])
    }
}

/// Precomputed cos/sin tables, `[max_seq_len, head_dim]` (frequencies repeated per half).
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    pub cos: Tensor<B, 2>,
    pub sin: Tensor<B, 2>,
}

/// The rotation angles of one forward pass, `[batch or 1, seq, 1, head_dim]`, for activations
/// laid out `[batch, seq, heads, head_dim]` (see [`RopeAngles::for_heads`]).
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

    /// Angles of positions `start..start+seq`, shared by every row: `[1, seq, 1, head_dim]`.
    pub fn contiguous(&self, start: usize, seq: usize) -> RopeAngles<B> {
        let pick = |table: &Tensor<B, 2>| {
            table
                .clone()
                .narrow(0, start, seq)
                .unsqueeze_dim::<3>(1)
                .unsqueeze()
        };
        RopeAngles {
            cos: pick(&self.cos),
            sin: pick(&self.sin),
        }
    }

    /// Angles of per-row positions `positions: [batch, seq]`: `[batch, seq, 1, head_dim]`.
    pub fn gathered(&self, positions: Tensor<B, 2, burn::tensor::Int>) -> RopeAngles<B> {
        let [batch, seq] = positions.dims();
        let dim = self.cos.dims()[1];
        let flat = positions.reshape([batch * seq]);
        let pick = |table: &Tensor<B, 2>| {
            table
                .clone()
                .select(0, flat.clone())
                .reshape([batch, seq, 1, dim])
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

    /// The angles materialised as `[batch, seq, heads, head_dim]`, once per forward pass, so
    /// that every layer's rotation multiplies contiguous tensors of one shape (broadcast and
    /// strided element-wise ops are many times slower on the CPU backend).
    pub fn for_heads(&self, batch: usize, heads: usize) -> HeadAngles<B> {
        let spread = |t: &Tensor<B, 4>| {
            let t = t.clone().repeat_dim(2, heads);
            if t.dims()[0] == batch {
                t
            } else {
                t.repeat_dim(0, batch)
            }
        };
        let [_, _, _, head_dim] = self.cos.dims();
        HeadAngles {
            cos: spread(&self.cos),
            sin: spread(&self.sin),
            rotate_half: rotate_half_matrix(head_dim, &self.cos.device()).cast(self.cos.dtype()),
        }
    }
}

/// [`RopeAngles`] laid out for one head count, with the rotate-half permutation as a matrix.
#[derive(Debug, Clone)]
pub struct HeadAngles<B: Backend> {
    cos: Tensor<B, 4>,
    sin: Tensor<B, 4>,
    /// `[head_dim, head_dim]`: `x @ R = [-x2, x1]` for `x = [x1, x2]` (exact: one +-1 per column).
    rotate_half: Tensor<B, 2>,
}

impl<B: Backend> HeadAngles<B> {
    /// Rotates `x: [batch, seq, heads, head_dim]` (rotate-half pairing, as HF Llama). The
    /// half swap is a product with a signed permutation matrix rather than two slices and a
    /// concatenation: contiguous in and out, and exact.
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, seq, heads, dim] = x.dims();
        let rotated = x
            .clone()
            .reshape([batch * seq * heads, dim])
            .matmul(self.rotate_half.clone())
            .reshape([batch, seq, heads, dim]);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

/// The signed permutation `R` with `x @ R = [-x[half..], x[..half]]`.
fn rotate_half_matrix<B: Backend>(dim: usize, device: &B::Device) -> Tensor<B, 2> {
    let half = dim / 2;
    let mut r = vec![0f32; dim * dim];
    for i in 0..half {
        r[(i + half) * dim + i] = -1.0;
        r[i * dim + i + half] = 1.0;
    }
    Tensor::from_data(burn::tensor::TensorData::new(r, [dim, dim]), device)
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
    /// `x: [batch, seq, hidden]`, queries rotated by `q_angles` and keys by `k_angles`;
    /// `mask` (`true` = hidden) is `[batch or 1, 1, seq, cached + seq]`. With a cache,
    /// attends over the cached positions too and appends the new keys/values.
    ///
    /// Activations stay `[batch, seq, heads, head_dim]` as the projections produce them (the
    /// cache too, slot-major); the per-head matrices are strided views that the matrix
    /// products read in place, so nothing is transposed into a copy but the output.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        q_angles: &HeadAngles<B>,
        k_angles: &HeadAngles<B>,
        mask: &Tensor<B, 4, Bool>,
        cache: Option<&mut LayerCache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let head_dim = self.q.weight.dims()[1] / self.num_heads;
        let heads = |t: Tensor<B, 3>, n: usize| t.reshape([batch, seq, n, head_dim]);
        let q = q_angles.apply(heads(self.q.forward(x.clone()), self.num_heads));
        let new = KeyValues {
            keys: k_angles.apply(heads(self.k.forward(x.clone()), self.num_kv_heads)),
            values: heads(self.v.forward(x), self.num_kv_heads),
        };
        let parts = match cache {
            Some(cache) => cache.append(new),
            None => vec![new],
        };
        let out = self.attend(q, &parts, mask);
        self.o
            .forward(out.reshape([batch, seq, self.num_heads * head_dim]))
    }

    /// Grouped-query attention of `q: [batch, seq, heads, head_dim]` over the slots of
    /// `parts` (oldest first), returning `[batch, seq, heads, head_dim]`. Queries are viewed
    /// as `[batch, kv_heads, group, seq, head_dim]` (`[.., 1, group, head_dim]` when decoding,
    /// so each product has `group` rows, not one) against keys and values viewed as
    /// `[batch, kv_heads, 1, slots, head_dim]`: the `group` query heads that share a key/value
    /// head broadcast over it, so keys and values are never repeated per query head. The
    /// parts are never joined either: only their scores are (`2 * head_dim / group` times
    /// smaller than keys and values when decoding), for one softmax over all slots.
    fn attend(
        &self,
        q: Tensor<B, 4>,
        parts: &[KeyValues<B>],
        mask: &Tensor<B, 4, Bool>,
    ) -> Tensor<B, 4> {
        let [batch, seq, heads, head_dim] = q.dims();
        let kv_heads = self.num_kv_heads;
        let group = heads / kv_heads;
        // decoding (one query per row) stacks the group's queries as the rows of one matrix
        // (a free reshape); longer inputs take the group as a batch axis (a free permute)
        let decoding = seq == 1;
        let stacked = if decoding {
            [batch, kv_heads, 1, group, head_dim]
        } else {
            [batch, kv_heads, group, seq, head_dim]
        };
        let q = if decoding {
            q.reshape(stacked)
        } else {
            q.reshape([batch, seq, kv_heads, group, head_dim])
                .permute([0, 2, 3, 1, 4])
        };
        // [batch, slots, kv, head_dim] -> [batch, kv, 1, slots, head_dim]: a reshape of the
        // contiguous tensor, then a permuted view (a reshape of a view would copy it)
        let per_head = |t: &Tensor<B, 4>| {
            let [b, slots, kv, dim] = t.dims();
            t.clone()
                .reshape([b, slots, kv, 1, dim])
                .permute([0, 2, 3, 1, 4])
        };
        let scores: Vec<Tensor<B, 5>> = parts
            .iter()
            .map(|kv| q.clone().matmul(per_head(&kv.keys).swap_dims(3, 4)))
            .collect();
        let scores = match scores.len() {
            1 => scores.into_iter().next().expect("one part"),
            _ => Tensor::cat(scores, 4),
        };
        let total = scores.dims()[4];
        let scores = (scores / (head_dim as f64).sqrt())
            .reshape([batch, heads, seq, total])
            .mask_fill(mask.clone(), f32::NEG_INFINITY);
        let dtype = scores.dtype();
        let weights = softmax(scores.cast(FloatDType::F32), 3)
            .cast(dtype)
            .reshape([stacked[0], stacked[1], stacked[2], stacked[3], total]);
        let mut offset = 0;
        let mut out: Option<Tensor<B, 5>> = None;
        for kv in parts {
            let len = kv.len();
            let part = weights
                .clone()
                .narrow(4, offset, len)
                .matmul(per_head(&kv.values));
            offset += len;
            out = Some(match out {
                Some(sum) => sum + part,
                None => part,
            });
        }
        let out = out.expect("at least one part");
        // [batch, kv, group, seq, head_dim] -> [batch, seq, heads, head_dim]
        let out = if decoding {
            out
        } else {
            out.permute([0, 3, 1, 2, 4])
        };
        out.reshape([batch, seq, heads, head_dim])
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
