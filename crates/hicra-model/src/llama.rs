//! The decoder: embedding, blocks (pre-norm attention and MLP with residuals), final norm and
//! output head. Weights are created on the host (seeded, backend-independent) and uploaded,
//! so the same seed gives the same model on every backend.
//!
//! A model computes in one floating-point type (`compute`, f32 unless asked otherwise): the
//! embedding rows are cast to it, every layer follows its input's type, and the logits come
//! back in f32 whatever it is (see `precision`).

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, FloatDType, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::kv_cache::KvCache;
use crate::layers::{Attention, Dense, Mlp, RmsNorm, Rope, RopeAngles, causal_mask};
use crate::precision::Precision;

#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub attention_norm: RmsNorm<B>,
    pub attention: Attention<B>,
    pub mlp_norm: RmsNorm<B>,
    pub mlp: Mlp<B>,
}

#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    /// `[vocab, hidden]`
    pub embedding: Param<Tensor<B, 2>>,
    pub blocks: Vec<Block<B>>,
    pub norm: RmsNorm<B>,
    /// `[hidden, vocab]`; `None` when tied to the embedding.
    pub head: Option<Param<Tensor<B, 2>>>,
    pub rope: Rope<B>,
    /// The type activations are computed in (weights of another type are cast as they are
    /// used); not saved with the weights.
    #[module(skip)]
    pub compute: Precision,
}

impl<B: Backend> Llama<B> {
    /// A randomly initialised model: normal(0, 0.02) matrices, unit norms (as HF Llama does).
    pub fn init(config: &ModelConfig, seed: u64, device: &B::Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut matrix = |rows: usize, cols: usize| {
            let data: Vec<f32> = (0..rows * cols).map(|_| normal(&mut rng) * 0.02).collect();
            Param::from_tensor(Tensor::from_data(
                TensorData::new(data, [rows, cols]),
                device,
            ))
        };
        let (d, f) = (config.hidden_size, config.intermediate_size);
        let kv = config.num_kv_heads * config.head_dim();
        let embedding = matrix(config.vocab_size, d);
        let blocks = (0..config.num_layers)
            .map(|_| Block {
                attention_norm: ones_norm(d, config.rms_norm_eps, device),
                attention: Attention {
                    q: Dense::new(matrix(d, d)),
                    k: Dense::new(matrix(d, kv)),
                    v: Dense::new(matrix(d, kv)),
                    o: Dense::new(matrix(d, d)),
                    num_heads: config.num_heads,
                    num_kv_heads: config.num_kv_heads,
                },
                mlp_norm: ones_norm(d, config.rms_norm_eps, device),
                mlp: Mlp {
                    gate: Dense::new(matrix(d, f)),
                    up: Dense::new(matrix(d, f)),
                    down: Dense::new(matrix(f, d)),
                },
            })
            .collect();
        let head = (!config.tie_word_embeddings).then(|| matrix(d, config.vocab_size));
        let rope = Rope::new(
            config.head_dim(),
            config.max_seq_len,
            config.rope_theta,
            device,
        );
        Self {
            embedding,
            blocks,
            norm: ones_norm(d, config.rms_norm_eps, device),
            head,
            rope,
            compute: Precision::F32,
        }
    }

    /// Mixed precision: the weights stay as they are (the f32 master copy a learner's optimiser
    /// updates) and are cast to `precision` inside each layer, so gradients flow back through
    /// the casts into them.
    pub fn computing_in(mut self, precision: Precision) -> Self {
        self.compute = precision;
        self
    }

    /// The weights themselves converted to `precision` (half the memory and bandwidth in
    /// bf16/f16), computing in it too: for samplers, which never update them.
    pub fn stored_in(self, precision: Precision) -> Self {
        let mut cast = CastWeights(precision.dtype());
        self.map(&mut cast).computing_in(precision)
    }

    /// The storage type of the weights (that of the embedding; all share it).
    pub fn weight_precision(&self) -> FloatDType {
        self.embedding.val().dtype().into()
    }

    /// The device the weights live on.
    pub fn device(&self) -> B::Device {
        self.embedding.val().device()
    }

    pub fn max_seq_len(&self) -> usize {
        self.rope.cos.dims()[0]
    }

    /// Logits `[batch, seq, vocab]` of `tokens: [batch, seq]` in the slots after those the
    /// cache holds; the cache, if given, is extended with the new slots.
    pub fn forward(
        &self,
        tokens: Tensor<B, 2, Int>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        self.forward_with_head(tokens, cache, self.head())
    }

    /// The output projection `[hidden, vocab]`: the head, or the embedding's transpose (a
    /// view) when tied; differentiable, for training. Generation loops use
    /// [`inference_head`](Self::inference_head).
    pub fn head(&self) -> Tensor<B, 2> {
        match &self.head {
            Some(h) => h.val(),
            None => self.embedding.val().transpose(),
        }
    }

    /// The output projection `[hidden, vocab]` as a fresh contiguous tensor, for generation
    /// loops that project many times with the same weights: a tied head is otherwise the
    /// embedding's transpose, which the CPU backend re-lays out on every matmul (~190 ms per
    /// decode step for SmolLM2, 16x the matmul itself).
    pub fn inference_head(&self) -> Tensor<B, 2> {
        match &self.head {
            Some(h) => h.val(),
            None => {
                let embedding = self.embedding.val();
                let (device, dtype) = (embedding.device(), embedding.dtype());
                Tensor::from_data(embedding.transpose().into_data(), (&device, dtype))
            }
        }
    }

    /// [`forward`](Self::forward) with a given output projection `[hidden, vocab]`.
    pub fn forward_with_head(
        &self,
        tokens: Tensor<B, 2, Int>,
        cache: Option<&mut KvCache<B>>,
        head: Tensor<B, 2>,
    ) -> Tensor<B, 3> {
        self.project(self.hidden(tokens, cache), head)
    }

    /// The final hidden states `[batch, seq, hidden]` (normalised, in the compute type) of
    /// `tokens` in the slots after those the cache holds; the cache, if given, is extended.
    pub fn hidden(
        &self,
        tokens: Tensor<B, 2, Int>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, seq] = tokens.dims();
        let device = tokens.device();
        let (start, padding) = cache
            .as_ref()
            .map_or((0, &[][..]), |c| (c.len, c.padding.as_slice()));
        let (angles, mask) = self.positions(batch, start, seq, padding, &device);
        let angles = angles.cast(self.compute.dtype());
        let (heads, kv_heads) = self.blocks.first().map_or((1, 1), |b| {
            (b.attention.num_heads, b.attention.num_kv_heads)
        });
        let q_angles = angles.for_heads(batch, heads);
        let k_angles = angles.for_heads(batch, kv_heads);
        let hidden = self.embedding.dims()[1];
        let flat = tokens.reshape([batch * seq]);
        let mut x = self
            .embedding
            .val()
            .select(0, flat)
            .reshape([batch, seq, hidden])
            .cast(self.compute.dtype());
        let mut cache = cache;
        for (i, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_mut().map(|c| &mut c.layers[i]);
            let h = block.attention.forward(
                block.attention_norm.forward(x.clone()),
                &q_angles,
                &k_angles,
                &mask,
                slot,
            );
            x = x + h;
            x = x.clone() + block.mlp.forward(block.mlp_norm.forward(x));
        }
        if let Some(c) = cache {
            c.len += seq;
        }
        self.norm.forward(x)
    }

    /// Logits `[batch, seq, vocab]` in f32 of hidden states `[batch, seq, hidden]` through
    /// `head: [hidden, vocab]`, as one 2-D product (see [`Dense::forward`] for why).
    pub fn project(&self, hidden: Tensor<B, 3>, head: Tensor<B, 2>) -> Tensor<B, 3> {
        let [batch, seq, width] = hidden.dims();
        let dtype = hidden.dtype();
        let head = head.cast(dtype);
        let vocab = head.dims()[1];
        hidden
            .reshape([batch * seq, width])
            .matmul(head)
            .cast(FloatDType::F32)
            .reshape([batch, seq, vocab])
    }

    /// RoPE angles and attention mask of slots `start..start+seq`. Unpadded rows share one
    /// causal mask; padded rows hide their padding slots from every other slot (a padding slot
    /// still sees itself, so no softmax row is empty) and number real tokens from 0. A padded
    /// row's position past the model's last is clamped to it: only a row that is done and
    /// waits to leave a decoding batch gets there (rows of unequal lengths decode together when
    /// branching; their limits keep every live row within `max_seq_len`), and its outputs are
    /// discarded.
    fn positions(
        &self,
        batch: usize,
        start: usize,
        seq: usize,
        padding: &[usize],
        device: &B::Device,
    ) -> (RopeAngles<B>, Tensor<B, 4, Bool>) {
        let total = start + seq;
        if padding.is_empty() {
            return (
                self.rope.contiguous(start, seq),
                causal_mask(seq, total, device),
            );
        }
        assert_eq!(padding.len(), batch, "one padding count per row");
        let last = self.max_seq_len() as i64 - 1;
        let mut positions = Vec::with_capacity(batch * seq);
        let mut hidden = Vec::with_capacity(batch * seq * total);
        for &pad in padding {
            for i in start..total {
                positions.push((i.saturating_sub(pad) as i64).min(last));
                hidden.extend((0..total).map(|j| j > i || (j < pad && j != i)));
            }
        }
        let positions = Tensor::from_data(TensorData::new(positions, [batch, seq]), device);
        let mask = Tensor::from_data(TensorData::new(hidden, [batch, 1, seq, total]), device);
        (self.rope.gathered(positions), mask)
    }
}

/// Casts every float parameter to one type (the RoPE tables, not parameters, stay f32 and are
/// cast per use).
struct CastWeights(FloatDType);

impl<B: Backend> ModuleMapper<B> for CastWeights {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.cast(self.0), mapper)
    }
}

fn ones_norm<B: Backend>(d: usize, eps: f32, device: &B::Device) -> RmsNorm<B> {
    RmsNorm {
        weight: Param::from_tensor(Tensor::ones([d], device)),
        eps: f64::from(eps),
    }
}

/// Standard normal by Box-Muller (host-side, so initialisation is backend-independent).
fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}
