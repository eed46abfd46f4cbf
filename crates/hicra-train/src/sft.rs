//! Supervised warm-up: cross-entropy on worked solutions (`meta.solution`) before RL, so the
//! policy starts from something that can already carry out plans. With LoRA it trains the
//! adapters (their gradients projected from the merged weights', [`crate::lora`]) with an
//! AdamW of its own, as full fine-tuning does.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, Optimizer};
use hicra_flow::{BoxError, Inbox, StageContext};
use hicra_messages::{Metrics, Prompt};
use hicra_model::{ComputePath, Llama, RuntimeAutodiff};
use serde::Deserialize;

use crate::codec::TextCodec;
use crate::lora::Lora;
use crate::pass::Pass;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftConfig {
    /// Optimiser steps of warm-up (0 = none).
    pub steps: u64,
    /// Examples per step.
    pub batch_size: usize,
    /// AdamW learning rate of the warm-up.
    pub learning_rate: f64,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            steps: 0,
            batch_size: 32,
            learning_rate: 3e-3,
        }
    }
}

/// Trains on `(prompt, meta.solution + end of response)` pairs, its forward and backward
/// passes on `path` ([`crate::pass`]), training `lora`'s adapters when given; returns the model
/// and figures.
pub fn sft_warmup(
    mut model: Llama<RuntimeAutodiff>,
    codec: &TextCodec,
    prompts: &Inbox<Prompt>,
    config: &SftConfig,
    path: ComputePath,
    mut lora: Option<&mut Lora>,
    ctx: &StageContext,
) -> Result<(Llama<RuntimeAutodiff>, Metrics), BoxError> {
    let mut optim = AdamWConfig::new()
        .with_weight_decay(0.0)
        .init::<RuntimeAutodiff, Llama<RuntimeAutodiff>>();
    let mut adapter_optim = crate::lora::adapter_optimizer(0.0);
    let started = Instant::now();
    let mut last_loss = f64::NAN;
    for step in 0..config.steps {
        ctx.check_cancelled()?;
        let mut examples = Vec::with_capacity(config.batch_size);
        for _ in 0..config.batch_size {
            let Some(p) = prompts.recv() else {
                return Err(format!(
                    "the `sft` input closed after {step} warm-up steps; {} were asked for",
                    config.steps
                )
                .into());
            };
            let solution = p
                .meta
                .get("solution")
                .and_then(|s| s.as_str())
                .ok_or_else(|| format!("warm-up prompt `{}` has no meta.solution", p.id))?;
            let target = codec
                .encode_response(solution)
                .map_err(|e| format!("solution of `{}`: {e}", p.id))?;
            let prompt = codec.encode_prompt(&p)?;
            let room = model.max_seq_len();
            if prompt.len() + target.len() > room {
                return Err(format!(
                    "warm-up example `{}` is {} prompt + {} solution tokens, more than the \
                     model's max_seq_len ({room}): raise model.max_seq_len or drop long solutions",
                    p.id,
                    prompt.len(),
                    target.len()
                )
                .into());
            }
            examples.push((prompt, target));
        }
        let pairs: Vec<(&[u32], &[u32])> = examples
            .iter()
            .map(|(p, t)| (p.as_slice(), t.as_slice()))
            .collect();
        let mut pass = Pass::new(&model, path);
        let (scored, tape) = pass.forward(&model, &pairs, &vec![1.0; pairs.len()], false);
        let tokens = scored.mask.clone().sum();
        let loss = (scored.logprobs * scored.mask).sum().neg() / tokens;
        last_loss = f64::from(loss.clone().into_scalar());
        if !last_loss.is_finite() {
            return Err(format!("non-finite warm-up loss at step {step}").into());
        }
        pass.backward(&model, loss, tape);
        let mut grads = pass.grads(&model);
        let lr = config.learning_rate;
        model = match lora.as_deref_mut() {
            Some(lora) => {
                lora.project_and_clip(&model, &mut grads, 0.0);
                lora.step_with(&mut adapter_optim, lr, model, grads)
            }
            None => optim.step(lr, model, grads),
        };
        if step % 50 == 0 || step + 1 == config.steps {
            tracing::info!(step, loss = last_loss, "sft warm-up");
        }
    }
    let _ = model.valid();
    let mut m = Metrics::new();
    m.insert("sft/final_loss".into(), last_loss);
    m.insert("sft/steps".into(), config.steps as f64);
    m.insert("timing/sft_secs".into(), started.elapsed().as_secs_f64());
    if let Some(lora) = lora {
        lora.figures(&mut m);
    }
    Ok((model, m))
}
