//! The process reward model: a causal language model's decoder with a scalar head on its
//! final hidden state, read at the last token of every step.
//!
//! ```text
//!  prompt ids ++ response ids ──► Llama::hidden ──► [batch, seq, d] ──► · w [d, 1] + b ──► logits [batch, seq]
//!                                                                           │
//!                      step k's score = sigmoid(logit at the last token of step k)
//! ```
//!
//! This is the usual PRM read-out (Lightman et al. 2023, *Let's Verify Step by Step*; Wang et al.
//! 2024, *Math-Shepherd*): one forward pass scores every step of a solution, and because the
//! decoder is causal, step `k`'s score depends only on the prompt and steps `1..=k`. The
//! backbone is a loaded policy ([`ProcessRewardModel::from_policy`]); its language-model head is
//! dropped (a PRM predicts no tokens), so the model's config says tied embeddings.
//!
//! ## Encoding ([`encode`])
//!
//! The prompt is encoded as the policy saw it ([`TextCodec::encode_prompt`]: chat template,
//! assistant turn opened), and the response (the steps concatenated) is encoded **once, without
//! the stop token**. Without it, scoring a partial solution (a step-level search's prefix) and
//! scoring the complete one give step `k` the same inputs, and the last step cannot learn to
//! read the stop token as a cue for the outcome. Encoding the whole response at once, not step
//! by step, gives the tokens a sampler would have produced (byte-level BPE merges across step
//! boundaries).
//!
//! Each step ends at the token holding its last byte: the token spans come from
//! [`TextCodec::decode_with_spans`], and the rule is that of
//! [`hicra_tasks::steps::tokens_ending`] (the first token whose span reaches the step's end).
//! Unlike `tokens_ending`, [`Encoded::step_ends`] keeps one entry per step: when a token holds
//! the ends of several steps (a BPE token spanning a short step and its neighbour, or an empty
//! step), those steps share a position, all get its score, and in training only the *last* of
//! them is a target (the later label wins; [`Encoded::shared_ends`] counts the steps dropped).
//! An empty first step ends at the prompt's last token.
//!
//! A sequence longer than the model's context is an error naming the problem (never silently
//! truncated): raise `max_seq_len` or drop the record.
//!
//! ## Scoring
//!
//! [`ProcessRewardModel::score_steps`] scores many candidates at once without gradients (run it
//! on `RuntimeBackend`; a trained autodiff model gives one with `.valid()`). Sequences are
//! sorted by length and right-padded in batches: under the causal mask a padding token after a
//! sequence cannot change the hidden states of the positions before it, so batched scores
//! equal one-by-one scores (tested to 1e-5).

mod encoding;

pub use encoding::{Encoded, encode};

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, FloatDType, Int, Tensor, TensorData};
use hicra_messages::Prompt;
use hicra_model::{HostModel, Llama, LoadedModel, ModelConfig};
use hicra_train::TextCodec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Standard deviation of the head's initial weights (transformers' `initializer_range`).
pub const HEAD_INIT_STD: f64 = 0.02;
/// Most sequences in one scoring batch.
pub const SCORE_BATCH_ROWS: usize = 16;
/// Most padded tokens (rows x longest row) in one scoring batch.
pub const SCORE_BATCH_TOKENS: usize = 16_384;

/// A decoder with a scalar head: `logit[t] = hidden[t] · head_weight + head_bias`.
#[derive(Module, Debug)]
pub struct ProcessRewardModel<B: Backend> {
    /// The decoder (its language-model head removed).
    pub backbone: Llama<B>,
    /// `[hidden, 1]`.
    pub head_weight: Param<Tensor<B, 2>>,
    /// `[1]`.
    pub head_bias: Param<Tensor<B, 1>>,
    /// The decoder's architecture (`tie_word_embeddings` true: there is no output head).
    #[module(skip)]
    pub config: ModelConfig,
}

/// Standard normal by Box-Muller (host-side, so initialisation is backend-independent).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Token ids right-padded with 0 into `[rows, longest]`.
pub(crate) fn pad_batch<B: Backend>(rows: &[&[u32]], device: &B::Device) -> Tensor<B, 2, Int> {
    let width = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let mut data = vec![0i64; rows.len() * width];
    for (i, row) in rows.iter().enumerate() {
        for (j, &id) in row.iter().enumerate() {
            data[i * width + j] = i64::from(id);
        }
    }
    Tensor::from_data(TensorData::new(data, [rows.len(), width]), device)
}

/// `1 / (1 + e^-x)`, in f64.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl<B: Backend> ProcessRewardModel<B> {
    /// A PRM on `backbone` (built from `config`), its language-model head dropped, with a new
    /// head: weights normal(0, [`HEAD_INIT_STD`]) drawn from `seed`, bias 0.
    pub fn new(mut backbone: Llama<B>, mut config: ModelConfig, seed: u64) -> Self {
        let device = backbone.device();
        backbone.head = None;
        config.tie_word_embeddings = true;
        let d = backbone.embedding.dims()[1];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let weights: Vec<f32> = (0..d)
            .map(|_| (normal(&mut rng) * HEAD_INIT_STD) as f32)
            .collect();
        Self {
            backbone,
            head_weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(weights, [d, 1]),
                &device,
            )),
            head_bias: Param::from_tensor(Tensor::zeros([1], &device)),
            config,
        }
    }

    /// A PRM on a loaded policy (`hicra_train::trained::load_policy`), head seeded by `seed`.
    pub fn from_policy(policy: LoadedModel<B>, seed: u64) -> Self {
        Self::new(policy.model, policy.config, seed)
    }

    /// Longest sequence (prompt + response tokens) the model takes.
    pub fn max_seq_len(&self) -> usize {
        self.backbone.max_seq_len()
    }

    /// Width of the hidden state.
    pub fn hidden_size(&self) -> usize {
        self.head_weight.dims()[0]
    }

    /// The head applied to hidden states `[batch, seq, d]`: logits `[batch, seq]` in f32.
    pub fn head_logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, seq, d] = hidden.dims();
        hidden
            .cast(FloatDType::F32)
            .reshape([batch * seq, d])
            .matmul(self.head_weight.val())
            .reshape([batch, seq])
            + self.head_bias.val().reshape([1, 1])
    }

    /// Per-token logits `[batch, seq]` of right-padded `tokens: [batch, seq]` (a padded row's
    /// values after its last token are meaningless).
    pub fn logits(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        self.head_logits(self.backbone.hidden(tokens, None))
    }

    /// Errors when `encoded` does not fit the model: longer than its context, or an id outside
    /// its vocabulary (a codec of another model).
    pub fn check_fits(&self, encoded: &Encoded, id: &str) -> Result<(), String> {
        let room = self.max_seq_len();
        if encoded.ids.len() > room {
            return Err(format!(
                "problem `{id}`: {} prompt + {} response tokens, more than the PRM's max_seq_len \
                 ({room}): raise max_seq_len or drop the record",
                encoded.prompt_len,
                encoded.ids.len() - encoded.prompt_len
            ));
        }
        if let Some(bad) = encoded
            .ids
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(format!(
                "problem `{id}`: token id {bad} is outside the PRM's vocabulary ({} ids): the \
                 codec is not the PRM's",
                self.config.vocab_size
            ));
        }
        Ok(())
    }

    /// The logit at every step end of each of `encoded` (already checked with
    /// [`check_fits`](Self::check_fits)), computed in length-sorted, right-padded batches.
    pub fn step_logits(&self, encoded: &[Encoded]) -> Result<Vec<Vec<f64>>, String> {
        let device = self.backbone.device();
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].ids.len()));
        let mut out = vec![Vec::new(); encoded.len()];
        let mut start = 0;
        while start < order.len() {
            let width = encoded[order[start]].ids.len().max(1);
            let rows = (SCORE_BATCH_TOKENS / width).clamp(1, SCORE_BATCH_ROWS);
            let chunk = &order[start..(start + rows).min(order.len())];
            start += chunk.len();
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| encoded[i].ids.as_slice()).collect();
            if batch.iter().all(|r| r.is_empty()) {
                continue;
            }
            let width = batch.iter().map(|r| r.len()).max().unwrap_or(1);
            let logits = self.logits(pad_batch::<B>(&batch, &device));
            let values: Vec<f32> = logits
                .into_data()
                .convert::<f32>()
                .to_vec()
                .map_err(|e| format!("reading PRM logits: {e:?}"))?;
            for (row, &i) in chunk.iter().enumerate() {
                out[i] = encoded[i]
                    .step_ends
                    .iter()
                    .map(|&p| f64::from(values[row * width + p]))
                    .collect();
            }
        }
        Ok(out)
    }

    /// [`step_logits`](Self::step_logits) with the backbone on the host path when `host` (the
    /// backbone's [`HostModel`], made once by the caller: `HostModel::for_model(&prm.backbone)`)
    /// is given: sequences side by side without padding, in batches of [`SCORE_BATCH_TOKENS`].
    pub fn step_logits_on(
        &self,
        host: Option<&HostModel>,
        encoded: &[Encoded],
    ) -> Result<Vec<Vec<f64>>, String> {
        let Some(host) = host else {
            return self.step_logits(encoded);
        };
        let read = |t: Tensor<B, 1>| -> Result<Vec<f32>, String> {
            t.into_data()
                .convert::<f32>()
                .to_vec()
                .map_err(|e| format!("reading the PRM head: {e:?}"))
        };
        let weight = read(self.head_weight.val().reshape([self.hidden_size()]))?;
        let bias = f64::from(read(self.head_bias.val())?[0]);
        let d = weight.len();
        let mut out = Vec::with_capacity(encoded.len());
        let mut start = 0;
        while start < encoded.len() {
            // whole sequences up to the token budget (at least one)
            let mut end = start + 1;
            let mut tokens = encoded[start].ids.len();
            while end < encoded.len() && tokens + encoded[end].ids.len() <= SCORE_BATCH_TOKENS {
                tokens += encoded[end].ids.len();
                end += 1;
            }
            let chunk = &encoded[start..end];
            start = end;
            let sequences: Vec<&[u32]> = chunk.iter().map(|e| e.ids.as_slice()).collect();
            let at: Vec<&[usize]> = chunk.iter().map(|e| e.step_ends.as_slice()).collect();
            let hidden = host.final_hidden(&sequences, &at);
            let mut rows = hidden.chunks_exact(d);
            for e in chunk {
                out.push(
                    e.step_ends
                        .iter()
                        .map(|_| {
                            let h = rows.next().expect("a row per step end");
                            let dot: f32 = h.iter().zip(&weight).map(|(a, b)| a * b).sum();
                            f64::from(dot) + bias
                        })
                        .collect(),
                );
            }
        }
        Ok(out)
    }

    /// Scores (probabilities that each step is good) of the steps of every `(prompt, steps)`
    /// item, batched; no gradients are recorded on a non-autodiff backend.
    pub fn score_steps(
        &self,
        codec: &TextCodec,
        items: &[(&Prompt, &[String])],
    ) -> Result<Vec<Vec<f64>>, String> {
        self.score_steps_on(None, codec, items)
    }

    /// [`score_steps`](Self::score_steps) with the backbone on the host path when `host` is
    /// given (see [`step_logits_on`](Self::step_logits_on)).
    pub fn score_steps_on(
        &self,
        host: Option<&HostModel>,
        codec: &TextCodec,
        items: &[(&Prompt, &[String])],
    ) -> Result<Vec<Vec<f64>>, String> {
        let encoded = items
            .iter()
            .map(|(prompt, steps)| {
                let e = encode(codec, prompt, steps)?;
                self.check_fits(&e, &prompt.id)?;
                Ok(e)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(self
            .step_logits_on(host, &encoded)?
            .into_iter()
            .map(|row| row.into_iter().map(sigmoid).collect())
            .collect())
    }

    /// The logit at every position of one token sequence (for comparing with other
    /// implementations, e.g. transformers' `AutoModelForTokenClassification`).
    pub fn token_logits(&self, ids: &[u32]) -> Result<Vec<f32>, String> {
        if ids.is_empty() {
            return Err("no token ids to score".into());
        }
        let encoded = Encoded {
            ids: ids.to_vec(),
            prompt_len: ids.len(),
            step_ends: vec![],
            shared_ends: 0,
        };
        self.check_fits(&encoded, "token_logits")?;
        let tokens = pad_batch::<B>(&[ids], &self.backbone.device());
        self.logits(tokens)
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| format!("reading PRM logits: {e:?}"))
    }

    /// The head's bias, on the host.
    pub fn bias_value(&self) -> f64 {
        self.head_bias.val().into_scalar().elem::<f64>()
    }
}

#[cfg(test)]
pub(crate) mod tests;
