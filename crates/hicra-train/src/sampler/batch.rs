//! One batch of rollouts: the prompts encoded (and checked to leave room for a response),
//! sampled together, decoded with token spans, and the batch's own figures (response length,
//! truncation, sampling time and throughput, staleness).
//!
//! Each response has its own random stream ([`hicra_model::streams`]), derived from the stage
//! seed, the step, the prompt's id and the sample index: the prompt's seed is
//! `derive_seed(stage seed, "{train|eval}-{step}/{prompt id}")` and sample `j` draws from
//! stream `j` of it. A response therefore does not depend on `group_size`,
//! `prompts_per_step`, the order of the prompts, the other rows' lengths, or the device
//! (host or tensor path). A prompt id met again in the same batch takes `"#{k}"` after the
//! id for its `k`-th repeat, so repeats draw new responses.

use std::sync::Arc;
use std::time::Instant;

use hicra_flow::{BoxError, derive_seed};
use hicra_messages::{
    FinishReason, Group, Prompt, Rollout, RolloutBatch, Sampling, TREE_REPEAT_MASK,
};
use hicra_model::{SampleRequest, SamplingParams};

use super::Sampler;
use super::tree::{self, Chooser, Leaf, TreeFigures};
use crate::codec::TextCodec;

impl Sampler {
    #[cfg(test)]
    pub(super) fn params_for_tests(&self) -> SamplingParams {
        let (_, _, codec) = self.policy.as_ref().expect("a policy");
        self.params(codec)
    }

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
        let seeds = prompt_seeds(self.seed, step, eval, prompts);
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
        let mut figures = TreeFigures::default();
        let drawn: Vec<Vec<Leaf>> = match (&self.config.tree, &self.lexicon, eval) {
            (Some(config), Some(lexicon), false) => {
                let chooser = Chooser {
                    config,
                    lexicon,
                    codec,
                };
                let (roots, device) = (self.config.group_size, &self.device);
                tree::grow(
                    model,
                    &refs,
                    &seeds,
                    &params,
                    roots,
                    &chooser,
                    device,
                    &mut figures,
                )?
            }
            _ => {
                let request = SampleRequest::new(&refs, self.config.group_size, &params, &seeds);
                model
                    .sample(&request, &self.device)
                    .into_iter()
                    .map(|group| group.into_iter().map(Leaf::independent).collect())
                    .collect()
            }
        };
        let mut sampled_tokens = 0usize;
        for ((prompt, ids), leaves) in prompts.iter().zip(&ids).zip(drawn) {
            let paths = self.config.tree.as_ref().map(|_| tree::tree_paths(&leaves));
            let mut rollouts = Vec::with_capacity(leaves.len());
            for (l, leaf) in leaves.into_iter().enumerate() {
                let s = leaf.sample;
                tokens += s.tokens.len();
                sampled_tokens += s.tokens.len() - leaf.own_start;
                let (text, token_spans) = codec.decode_with_spans(&s.tokens)?;
                let mut masks = std::collections::BTreeMap::new();
                let tree = paths.as_ref().map(|p| p[l].clone());
                if tree.is_some() {
                    let repeat = (0..s.tokens.len()).map(|t| t < leaf.own_start).collect();
                    masks.insert(TREE_REPEAT_MASK.to_string(), repeat);
                }
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
                    masks,
                    tree,
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
                sampled_tokens as f64 / secs.max(1e-9),
            );
            if self.config.tree.is_some() {
                tree_metrics(&mut batch, figures, tokens, sampled_tokens);
            }
            batch.metrics.insert(
                "policy/staleness".into(),
                step.saturating_sub(*version) as f64,
            );
        }
        Ok(batch)
    }
}

/// The seed of each prompt's responses (see the module's docs).
pub(crate) fn prompt_seeds(seed: u64, step: u64, eval: bool, prompts: &[Arc<Prompt>]) -> Vec<u64> {
    let mode = if eval { "eval" } else { "train" };
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    prompts
        .iter()
        .map(|p| {
            let repeat = seen.entry(p.id.as_str()).or_default();
            let key = if *repeat == 0 {
                format!("{mode}-{step}/{}", p.id)
            } else {
                format!("{mode}-{step}/{}#{repeat}", p.id)
            };
            *repeat += 1;
            derive_seed(seed, &key)
        })
        .collect()
}

/// The figures of a batch of trees: tokens sampled against tokens trained on (what
/// independent responses of the same lengths would have sampled), per leaf, and where the
/// trees branched.
fn tree_metrics(batch: &mut RolloutBatch, f: TreeFigures, leaf_tokens: usize, sampled: usize) {
    let leaves = batch.num_rollouts().max(1) as f64;
    let prompts = batch.groups.len().max(1) as f64;
    let m = &mut batch.metrics;
    m.insert("tree/leaves_per_prompt".into(), leaves / prompts);
    m.insert("tree/sampled_tokens".into(), sampled as f64);
    m.insert("tree/leaf_tokens".into(), leaf_tokens as f64);
    m.insert(
        "tree/sampled_tokens_per_leaf".into(),
        sampled as f64 / leaves,
    );
    m.insert(
        "tree/sampled_over_leaf_tokens".into(),
        sampled as f64 / leaf_tokens.max(1) as f64,
    );
    m.insert("tree/branch_points".into(), f.branch_points as f64);
    if f.branch_points > 0 {
        let points = f.branch_points as f64;
        m.insert(
            "tree/branch_points_planning_frac".into(),
            f.planning_points as f64 / points,
        );
        m.insert("tree/branch_entropy_mean".into(), f.branch_entropy / points);
    }
}
