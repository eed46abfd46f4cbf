//! One batch of rollouts: the prompts encoded (and checked to leave room for a response),
//! sampled together with the step's seed, decoded with token spans, and the batch's own
//! figures (response length, truncation, sampling time and throughput, staleness).

use std::sync::Arc;
use std::time::Instant;

use hicra_flow::{BoxError, derive_seed};
use hicra_messages::{FinishReason, Group, Prompt, Rollout, RolloutBatch, Sampling};
use hicra_model::SamplingParams;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::Sampler;
use crate::codec::TextCodec;

impl Sampler {
    fn params(&self, codec: &TextCodec) -> SamplingParams {
        SamplingParams {
            temperature: self.config.temperature,
            top_p: self.config.top_p,
            top_k: self.config.top_k,
            max_new_tokens: self.config.max_new_tokens,
            stop_tokens: codec.stop_tokens(),
        }
    }

    /// Samples one batch (pure given the policy and the step's seed).
    pub fn sample(
        &self,
        prompts: &[Arc<Prompt>],
        step: u64,
        eval: bool,
    ) -> Result<RolloutBatch, BoxError> {
        let (version, model, codec) = self
            .policy
            .as_ref()
            .ok_or("no policy weights received yet")?;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
            self.seed,
            &format!("{}-{step}", if eval { "eval" } else { "train" }),
        ));
        let params = self.params(codec);
        let sampling = Sampling {
            temperature: params.temperature,
            top_k: params.top_k,
            top_p: params.top_p,
        };
        let started = Instant::now();
        let mut groups = Vec::with_capacity(prompts.len());
        let mut tokens = 0usize;
        let ids: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| codec.encode_prompt(p))
            .collect::<Result<_, _>>()?;
        let room = model.model().max_seq_len();
        if let Some((prompt, len)) = prompts
            .iter()
            .zip(&ids)
            .map(|(p, ids)| (p, ids.len()))
            .find(|(_, len)| *len >= room)
        {
            return Err(format!(
                "prompt `{}` is {len} tokens after the chat template, and the model's max_seq_len ({room}) leaves no room for a response: raise model.max_seq_len to at least prompt + max_new_tokens ({})",
                prompt.id,
                len + self.config.max_new_tokens
            )
            .into());
        }
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let sampled = model.sample_batch(
            &refs,
            self.config.group_size,
            &params,
            &mut rng,
            &self.device,
        );
        for ((prompt, ids), samples) in prompts.iter().zip(&ids).zip(sampled) {
            let mut rollouts = Vec::with_capacity(samples.len());
            for s in samples {
                tokens += s.tokens.len();
                let (text, token_spans) = codec.decode_with_spans(&s.tokens)?;
                rollouts.push(Rollout {
                    prompt_tokens: ids.clone(),
                    text,
                    token_spans,
                    finish: Some(if s.stopped {
                        FinishReason::Stop
                    } else {
                        FinishReason::Length
                    }),
                    tokens: s.tokens,
                    logprobs: s.logprobs,
                    entropies: s.entropies,
                    sampling: Some(sampling),
                    ..Default::default()
                });
            }
            groups.push(Group {
                prompt: prompt.clone(),
                rollouts,
            });
        }
        let secs = started.elapsed().as_secs_f64();
        if let Some(first) = groups.first().and_then(|g| g.rollouts.first()) {
            tracing::debug!(step, eval, prompt = %groups[0].prompt.question, response = %first.text, "sample");
        }
        let mut batch = RolloutBatch {
            step,
            policy_version: *version,
            groups,
            metrics: Default::default(),
            eval,
        };
        let n = batch.num_rollouts().max(1) as f64;
        let prefix = if eval { "eval/" } else { "" };
        batch
            .metrics
            .insert(format!("{prefix}response_length/mean"), tokens as f64 / n);
        let truncated = batch
            .rollouts()
            .filter(|r| r.finish == Some(FinishReason::Length))
            .count();
        batch.metrics.insert(
            format!("{prefix}response_length/truncated_frac"),
            truncated as f64 / n,
        );
        if eval {
            // the row's step is the version too; named so that no reader has to know that
            batch
                .metrics
                .insert("eval/policy_version".into(), *version as f64);
        } else {
            batch.metrics.insert("timing/sample_secs".into(), secs);
            batch.metrics.insert(
                "tokens_per_sec/sample".into(),
                tokens as f64 / secs.max(1e-9),
            );
            batch.metrics.insert(
                "policy/staleness".into(),
                step.saturating_sub(*version) as f64,
            );
        }
        Ok(batch)
    }
}
