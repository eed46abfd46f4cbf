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
use crate::layers::{Attention, Dense, LayerCache, Mlp, RmsNorm, Rope, RopeAngles, causal_mask};
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

/// Per-layer key/value caches of one batch of sequences. Prompts of different lengths are
/// left-padded: row `b` starts with `padding[b]` slots that no real position attends to, and
/// its real tokens take positions `0, 1, ...` from there.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub layers: Vec<Option<LayerCache<B>>>,
    /// Slots already cached (padding included).
    pub len: usize,
    /// Left-padding slots per row; empty when no row is padded.
    pub padding: Vec<usize>,
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            len: 0,
            padding: Vec::new(),
        }
    }

    /// An empty cache for rows whose first `padding[b]` slots will be padding.
    pub fn padded(num_layers: usize, padding: Vec<usize>) -> Self {
        let padding = if padding.iter().all(|&p| p == 0) {
            Vec::new()
        } else {
            padding
        };
        Self {
            padding,
            ..Self::new(num_layers)
        }
    }

    /// Repeats every row `times` in place (`[a, b]` -> `[a, a, b, b]`): each prompt's cache
    /// shared by the samples of its group.
    pub fn repeat_rows(&self, times: usize, device: &B::Device) -> Self {
        let rows = self
            .layers
            .iter()
            .flatten()
            .next()
            .map_or(self.padding.len().max(1), |c| c.keys.dims()[0]);
        let index: Vec<i64> = (0..rows as i64)
            .flat_map(|r| std::iter::repeat_n(r, times))
            .collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [rows * times]), device);
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref().map(|c| LayerCache {
                    keys: c.keys.clone().select(0, index.clone()),
                    values: c.values.clone().select(0, index.clone()),
                })
            })
            .collect();
        Self {
            layers,
            len: self.len,
            padding: self
                .padding
                .iter()
                .flat_map(|&p| std::iter::repeat_n(p, times))
                .collect(),
        }
    }
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
        let head = match &self.head {
            Some(h) => h.val(),
            None => self.embedding.val().transpose(),
        };
        self.forward_with_head(tokens, cache, head)
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
        let [batch, seq] = tokens.dims();
        let device = tokens.device();
        let (start, padding) = cache
            .as_ref()
            .map_or((0, &[][..]), |c| (c.len, c.padding.as_slice()));
        let (angles, mask) = self.positions(batch, start, seq, padding, &device);
        let angles = angles.cast(self.compute.dtype());
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
                &angles,
                &mask,
                slot,
            );
            x = x + h;
            x = x.clone() + block.mlp.forward(block.mlp_norm.forward(x));
        }
        if let Some(c) = cache {
            c.len += seq;
        }
        let dtype = x.dtype();
        self.norm
            .forward(x)
            .matmul(head.cast(dtype).unsqueeze())
            .cast(FloatDType::F32)
    }

    /// RoPE angles and attention mask of slots `start..start+seq`. Unpadded rows share one
    /// causal mask; padded rows hide their padding slots from every other slot (a padding slot
    /// still sees itself, so no softmax row is empty) and number real tokens from 0.
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
        let mut positions = Vec::with_capacity(batch * seq);
        let mut hidden = Vec::with_capacity(batch * seq * total);
        for &pad in padding {
            for i in start..total {
                positions.push(i.saturating_sub(pad) as i64);
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
