//! The weights as the learner's host path reads them, and their gradients: one host vector
//! per burn parameter, in the burn layout (a dense weight `[in, out]` row-major), so a
//! gradient goes back to burn's optimiser without any reshuffling ([`HostGrads::into_params`]).

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use crate::layers::Dense;
use crate::llama::Llama;
use crate::native::weights::host;

/// A dense layer: `[rows (in), cols (out)]` row-major, an optional bias `[cols]`.
#[derive(Debug, Clone)]
pub(crate) struct HostDense {
    pub weight: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub bias: Option<Vec<f32>>,
}

/// One decoder block.
#[derive(Debug, Clone)]
pub(crate) struct HostBlock {
    pub attention_norm: Vec<f32>,
    pub q: HostDense,
    pub k: HostDense,
    pub v: HostDense,
    pub o: HostDense,
    pub mlp_norm: Vec<f32>,
    pub gate: HostDense,
    pub up: HostDense,
    pub down: HostDense,
}

/// The model's parameters (or gradients of the same shapes) and the shape they imply.
#[derive(Debug, Clone)]
pub(crate) struct HostParams {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub eps: f32,
    /// `[vocab, hidden]`
    pub embedding: Vec<f32>,
    pub blocks: Vec<HostBlock>,
    pub norm: Vec<f32>,
    /// `[hidden, vocab]`; `None` when tied to the embedding.
    pub head: Option<Vec<f32>>,
    /// RoPE tables `[max_seq_len, head_dim]` (constants, not trained; empty in gradients).
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

impl HostDense {
    fn of<B: Backend>(d: &Dense<B>) -> Self {
        let [rows, cols] = d.weight.dims();
        Self {
            weight: host(d.weight.val()),
            rows,
            cols,
            bias: d.bias.as_ref().map(|b| host(b.val())),
        }
    }

    fn zeros_like(&self) -> Self {
        Self {
            weight: vec![0.0; self.weight.len()],
            bias: self.bias.as_ref().map(|b| vec![0.0; b.len()]),
            ..*self
        }
    }
}

impl HostParams {
    pub fn of<B: Backend>(model: &Llama<B>) -> Self {
        let first = model.blocks.first();
        let heads = first.map_or(1, |b| b.attention.num_heads);
        let kv_heads = first.map_or(1, |b| b.attention.num_kv_heads);
        let blocks = model
            .blocks
            .par_iter()
            .map(|b| HostBlock {
                attention_norm: host(b.attention_norm.weight.val()),
                q: HostDense::of(&b.attention.q),
                k: HostDense::of(&b.attention.k),
                v: HostDense::of(&b.attention.v),
                o: HostDense::of(&b.attention.o),
                mlp_norm: host(b.mlp_norm.weight.val()),
                gate: HostDense::of(&b.mlp.gate),
                up: HostDense::of(&b.mlp.up),
                down: HostDense::of(&b.mlp.down),
            })
            .collect();
        let [_, head_dim] = model.rope.cos.dims();
        Self {
            heads,
            kv_heads,
            head_dim,
            eps: model.norm.eps as f32,
            embedding: host(model.embedding.val()),
            blocks,
            norm: host(model.norm.weight.val()),
            head: model.head.as_ref().map(|h| host(h.val())),
            cos: host(model.rope.cos.clone()),
            sin: host(model.rope.sin.clone()),
        }
    }

    pub fn hidden(&self) -> usize {
        self.norm.len()
    }

    pub fn vocab(&self) -> usize {
        self.embedding.len() / self.hidden()
    }

    pub fn intermediate(&self) -> usize {
        self.blocks.first().map_or(0, |b| b.gate.cols)
    }

    pub fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// The longest sequence the RoPE tables cover.
    pub fn max_seq_len(&self) -> usize {
        self.cos.len() / self.head_dim.max(1)
    }

    /// Zeros of every parameter's shape (no RoPE tables).
    fn zeros_like(&self) -> Self {
        let zeros = |v: &Vec<f32>| vec![0.0; v.len()];
        Self {
            embedding: zeros(&self.embedding),
            blocks: self
                .blocks
                .iter()
                .map(|b| HostBlock {
                    attention_norm: zeros(&b.attention_norm),
                    q: b.q.zeros_like(),
                    k: b.k.zeros_like(),
                    v: b.v.zeros_like(),
                    o: b.o.zeros_like(),
                    mlp_norm: zeros(&b.mlp_norm),
                    gate: b.gate.zeros_like(),
                    up: b.up.zeros_like(),
                    down: b.down.zeros_like(),
                })
                .collect(),
            norm: zeros(&self.norm),
            head: self.head.as_ref().map(zeros),
            cos: Vec::new(),
            sin: Vec::new(),
            ..*self
        }
    }
}

/// The gradient of a loss with respect to every weight of a [`super::HostModel`], in its
/// layout; [`super::HostModel::backward`] adds into it, so micro-batches accumulate.
#[derive(Debug, Clone)]
pub struct HostGrads {
    pub(crate) g: HostParams,
}

impl HostGrads {
    pub(crate) fn zeros_like(params: &HostParams) -> Self {
        Self {
            g: params.zeros_like(),
        }
    }

    /// Every gradient in one list, in the model's parameter order (embedding, each block's
    /// norms, projections and biases, final norm, head).
    pub fn flat(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = vec![&self.g.embedding];
        for b in &self.g.blocks {
            out.push(&b.attention_norm);
            for d in [&b.q, &b.k, &b.v, &b.o] {
                out.push(&d.weight);
                if let Some(bias) = &d.bias {
                    out.push(bias);
                }
            }
            out.push(&b.mlp_norm);
            for d in [&b.gate, &b.up, &b.down] {
                out.push(&d.weight);
                if let Some(bias) = &d.bias {
                    out.push(bias);
                }
            }
        }
        out.push(&self.g.norm);
        if let Some(h) = &self.g.head {
            out.push(h);
        }
        out
    }

    /// The gradients as burn's optimiser takes them, under `model`'s parameter ids (the
    /// model these gradients were computed for; its shape is checked). Each buffer is moved,
    /// not copied.
    pub fn into_params<B: AutodiffBackend>(self, model: &Llama<B>) -> GradientsParams {
        let device = model.device();
        let mut out = GradientsParams::new();
        let g = self.g;
        assert_eq!(
            g.blocks.len(),
            model.blocks.len(),
            "gradients of another model"
        );
        fn put<B: AutodiffBackend, const D: usize>(
            out: &mut GradientsParams,
            param: &Param<Tensor<B, D>>,
            values: Vec<f32>,
            device: &B::Device,
        ) {
            let shape = param.dims();
            assert_eq!(
                shape.iter().product::<usize>(),
                values.len(),
                "a gradient of another shape"
            );
            let inner =
                Tensor::<B::InnerBackend, D>::from_data(TensorData::new(values, shape), device);
            out.register::<B::InnerBackend, D>(param.id, inner);
        }
        let dense = |out: &mut GradientsParams, d: &Dense<B>, g: HostDense| {
            put(out, &d.weight, g.weight, &device);
            if let (Some(p), Some(b)) = (&d.bias, g.bias) {
                put(out, p, b, &device);
            }
        };
        put(&mut out, &model.embedding, g.embedding, &device);
        for (b, gb) in model.blocks.iter().zip(g.blocks) {
            put(
                &mut out,
                &b.attention_norm.weight,
                gb.attention_norm,
                &device,
            );
            dense(&mut out, &b.attention.q, gb.q);
            dense(&mut out, &b.attention.k, gb.k);
            dense(&mut out, &b.attention.v, gb.v);
            dense(&mut out, &b.attention.o, gb.o);
            put(&mut out, &b.mlp_norm.weight, gb.mlp_norm, &device);
            dense(&mut out, &b.mlp.gate, gb.gate);
            dense(&mut out, &b.mlp.up, gb.up);
            dense(&mut out, &b.mlp.down, gb.down);
        }
        put(&mut out, &model.norm.weight, g.norm, &device);
        if let (Some(p), Some(h)) = (&model.head, g.head) {
            put(&mut out, p, h, &device);
        }
        out
    }
}
