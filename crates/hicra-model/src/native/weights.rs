//! A [`Llama`]'s weights copied once into host memory, laid out for generation: the query,
//! key and value projections of a layer side by side in one matrix (one product instead of
//! three), the MLP's gate and up projections likewise, every matrix `[in, out]` packed in
//! column panels for [`matmul`](super::matmul). A tied head is packed from the embedding
//! read as its transpose. Blocks are copied in parallel.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use rayon::prelude::*;

use super::matmul::{MatrixView, Packed};
use crate::layers::Dense;
use crate::llama::Llama;

/// One decoder block.
#[derive(Debug, Clone)]
pub(crate) struct BlockWeights {
    pub attention_norm: Vec<f32>,
    /// `[hidden, q + 2 kv]`: queries, keys, values.
    pub qkv: Packed,
    /// `[q + 2 kv]`, when the model has q/k/v biases (Qwen2).
    pub qkv_bias: Option<Vec<f32>>,
    pub o: Packed,
    pub mlp_norm: Vec<f32>,
    /// `[hidden, 2 intermediate]`: gate, then up.
    pub gate_up: Packed,
    pub down: Packed,
}

/// The whole model on the host.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub eps: f32,
    pub max_seq_len: usize,
    /// `[vocab, hidden]`
    pub embedding: Vec<f32>,
    pub blocks: Vec<BlockWeights>,
    pub norm: Vec<f32>,
    /// `[hidden, vocab]`: the head, or the embedding's transpose when tied.
    pub head: Packed,
    /// RoPE tables `[max_seq_len, head_dim]`, as the model holds them.
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

/// A tensor's values on the host, in f32.
pub(crate) fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 weights")
}

/// A dense layer's weight `[in, out]` on the host.
struct HostDense {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl HostDense {
    fn of<B: Backend>(d: &Dense<B>) -> Self {
        let [rows, cols] = d.weight.dims();
        Self {
            data: host(d.weight.val()),
            rows,
            cols,
        }
    }

    fn view(&self) -> MatrixView<'_> {
        MatrixView {
            data: &self.data,
            rows: self.rows,
            cols: self.cols,
            row_stride: self.cols,
            col_stride: 1,
        }
    }

    fn packed(&self) -> Packed {
        Packed::new(self.view())
    }
}

impl Weights {
    pub fn of<B: Backend>(model: &Llama<B>) -> Self {
        let [vocab, hidden] = model.embedding.dims();
        let first = model.blocks.first();
        let heads = first.map_or(1, |b| b.attention.num_heads);
        let kv_heads = first.map_or(1, |b| b.attention.num_kv_heads);
        let intermediate = first.map_or(0, |b| b.mlp.gate.weight.dims()[1]);
        let blocks = model
            .blocks
            .par_iter()
            .map(|b| {
                let a = &b.attention;
                let (q, k, v) = (
                    HostDense::of(&a.q),
                    HostDense::of(&a.k),
                    HostDense::of(&a.v),
                );
                let qkv_bias = a.q.bias.as_ref().map(|_| {
                    [(&a.q, &q), (&a.k, &k), (&a.v, &v)]
                        .iter()
                        .flat_map(|(d, w)| {
                            d.bias
                                .as_ref()
                                .map_or_else(|| vec![0.0; w.cols], |bias| host(bias.val()))
                        })
                        .collect()
                });
                let (gate, up) = (HostDense::of(&b.mlp.gate), HostDense::of(&b.mlp.up));
                BlockWeights {
                    attention_norm: host(b.attention_norm.weight.val()),
                    qkv: Packed::side_by_side(&[q.view(), k.view(), v.view()]),
                    qkv_bias,
                    o: HostDense::of(&a.o).packed(),
                    mlp_norm: host(b.mlp_norm.weight.val()),
                    gate_up: Packed::side_by_side(&[gate.view(), up.view()]),
                    down: HostDense::of(&b.mlp.down).packed(),
                }
            })
            .collect();
        let embedding = host(model.embedding.val());
        let head = match &model.head {
            Some(h) => HostDense {
                data: host(h.val()),
                rows: hidden,
                cols: vocab,
            }
            .packed(),
            None => Packed::new(MatrixView {
                data: &embedding,
                rows: hidden,
                cols: vocab,
                row_stride: 1,
                col_stride: hidden,
            }),
        };
        let [max_seq_len, head_dim] = model.rope.cos.dims();
        Self {
            hidden,
            intermediate,
            heads,
            kv_heads,
            head_dim,
            vocab,
            eps: model.norm.eps as f32,
            max_seq_len,
            embedding,
            blocks,
            norm: host(model.norm.weight.val()),
            head,
            cos: host(model.rope.cos.clone()),
            sin: host(model.rope.sin.clone()),
        }
    }

    /// Width of the keys (and of the values) of one slot.
    pub fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Width of the queries of one position.
    pub fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }
}
