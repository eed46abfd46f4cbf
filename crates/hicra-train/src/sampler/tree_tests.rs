//! Tree rollouts: every path's tokens and log-probs are what plain sampling from its prefix
//! with its stream draws, the learner's scorer recomputes them, the first responses are the
//! plain sampler's, and the recorded nodes are a tree the credit stage accepts.

use std::sync::Arc;

use hicra_credit::{CreditAssigner, Estimator, StepCredit, ZeroVariance};
use hicra_flow::derive_seed;
use hicra_messages::{Prompt, RolloutBatch, TREE_REPEAT_MASK};
use hicra_model::{
    CharTokenizer, HostModel, Llama, ModelConfig, NativeLlama, Precision, RuntimeBackend,
    SampleRequest, cpu,
};

use super::tree_config::{BranchRule, TreeConfig};
use super::{Sampler, SamplerConfig};
use crate::codec::TextCodec;
use crate::pass::score_logprobs;

const ALPHABET: &str = "ab 01\n";

fn policy() -> (Llama<RuntimeBackend>, Arc<TextCodec>) {
    let tokenizer = CharTokenizer::new(ALPHABET);
    let config = ModelConfig {
        hidden_size: 16,
        intermediate_size: 32,
        num_layers: 1,
        num_heads: 2,
        num_kv_heads: 1,
        max_seq_len: 40,
        ..ModelConfig::tiny(tokenizer.vocab_size())
    };
    (
        Llama::init(&config, 7, &cpu()),
        Arc::new(TextCodec::Chars(tokenizer)),
    )
}

fn prompts() -> Vec<Arc<Prompt>> {
    ["a b", "b 0 1 a"]
        .iter()
        .enumerate()
        .map(|(i, q)| Arc::new(Prompt::new(format!("p{i}"), *q, "1")))
        .collect()
}

fn sampler(tree: Option<TreeConfig>) -> Sampler {
    sampler_in(tree, Precision::F32)
}

/// A sampler whose policy is stored and computes in `dtype` (anything but f32 takes the
/// tensor path on the CPU).
fn sampler_in(tree: Option<TreeConfig>, dtype: Precision) -> Sampler {
    let (model, codec) = policy();
    let config = SamplerConfig {
        group_size: 3,
        max_new_tokens: 12,
        temperature: 1.0,
        tree,
        dtype,
        ..SamplerConfig::default()
    };
    let mut s = Sampler::for_policy(config, 11, 0, model, codec, cpu());
    s.lexicon = Some(hicra_credit::Lexicon::paper());
    s
}

fn tree(branch_at: BranchRule, depth: usize) -> TreeConfig {
    TreeConfig {
        depth,
        points: 2,
        children: 2,
        max_leaves: 15,
        branch_at,
        ..TreeConfig::default()
    }
}

fn grown(config: TreeConfig) -> (Sampler, RolloutBatch) {
    let s = sampler(Some(config));
    let batch = s.sample(&prompts(), 4, false).unwrap();
    (s, batch)
}

#[test]
fn every_path_is_what_plain_sampling_from_its_prefix_draws() {
    let (s, batch) = grown(tree(BranchRule::Entropy, 2));
    assert_paths_are_plain_draws(&s, &batch, 1e-4);
}

/// In bf16 the CPU samples through burn tensors: the tree's children continue their parents'
/// kept tensor caches, and are still what plain sampling (which prefills the prefix) draws.
#[test]
fn on_the_tensor_path_every_path_is_what_plain_sampling_from_its_prefix_draws() {
    let s = sampler_in(Some(tree(BranchRule::Entropy, 2)), Precision::Bf16);
    let (_, model, _) = s.policy.as_ref().unwrap();
    assert!(!NativeLlama::takes_host_path(model.model()));
    let batch = s.sample(&prompts(), 4, false).unwrap();
    assert_paths_are_plain_draws(&s, &batch, 2e-2);
}

/// Every non-root leaf's own tokens are one of the plain sampler's draws from its prefix with
/// its branch's stream, log-probabilities within `tolerance`.
fn assert_paths_are_plain_draws(s: &Sampler, batch: &RolloutBatch, tolerance: f32) {
    let (_, model, _) = s.policy.as_ref().unwrap();
    let seeds = super::batch::prompt_seeds(11, 4, false, &prompts());
    let params = s.params_for_tests();
    let mut children = 0;
    for (group, seed) in batch.groups.iter().zip(&seeds) {
        assert!(group.rollouts.len() > 3 && group.rollouts.len() <= 15);
        for r in &group.rollouts {
            let segments = &r.tree.as_ref().unwrap().segments;
            let repeat = &r.masks[TREE_REPEAT_MASK];
            let own = repeat.iter().take_while(|&&x| x).count();
            assert!(repeat[own..].iter().all(|&x| !x));
            if own == 0 {
                continue;
            }
            // the parent: the earlier leaf that holds the node ending at `own`
            let (l, parent) = group
                .rollouts
                .iter()
                .enumerate()
                .find(|(_, q)| {
                    let q_own = q.masks[TREE_REPEAT_MASK].iter().take_while(|&&x| x).count();
                    q.tree.as_ref().unwrap().segments.iter().any(|s| {
                        s.start as usize >= q_own && s.end as usize == own && segments.contains(s)
                    })
                })
                .expect("a parent leaf");
            assert_eq!(parent.tokens[..own], r.tokens[..own]);
            let prefix: Vec<u32> = r
                .prompt_tokens
                .iter()
                .chain(&r.tokens[..own])
                .copied()
                .collect();
            let branch_seed = derive_seed(*seed, &format!("tree/{l}/{own}"));
            let mut p = params.clone();
            p.max_new_tokens -= own;
            let refs = [prefix.as_slice()];
            let plain = model.sample(&SampleRequest::new(&refs, 2, &p, &[branch_seed]), &cpu());
            let hit = plain[0]
                .iter()
                .find(|c| c.tokens == r.tokens[own..])
                .expect("the child is one of the plain draws from its prefix");
            for (a, b) in hit.logprobs.iter().zip(&r.logprobs[own..]) {
                assert!((a - b).abs() < tolerance, "{a} vs {b}");
            }
            children += 1;
        }
    }
    assert!(children > 4, "the trees branched ({children} children)");
}

#[test]
fn first_responses_are_the_plain_samplers_and_the_learner_rescores_every_leaf() {
    let (s, batch) = grown(tree(BranchRule::Entropy, 1));
    let plain = sampler(None).sample(&prompts(), 4, false).unwrap();
    for (t, p) in batch.groups.iter().zip(&plain.groups) {
        for (a, b) in t.rollouts.iter().zip(&p.rollouts) {
            assert_eq!(a.tokens, b.tokens);
            assert_eq!(a.logprobs, b.logprobs);
        }
    }
    let (_, model, _) = s.policy.as_ref().unwrap();
    let host = HostModel::for_model(model.model());
    let rollouts: Vec<_> = batch.rollouts().filter(|r| !r.tokens.is_empty()).collect();
    let pairs: Vec<(&[u32], &[u32])> = rollouts
        .iter()
        .map(|r| (r.prompt_tokens.as_slice(), r.tokens.as_slice()))
        .collect();
    let temperatures = vec![1.0; pairs.len()];
    for host in [host.as_ref(), None] {
        let scored = score_logprobs(model.model(), host, &pairs, &temperatures);
        let width = scored.shape[1];
        let v: Vec<f32> = scored.convert::<f32>().to_vec().unwrap();
        for (i, r) in rollouts.iter().enumerate() {
            for (t, lp) in r.logprobs.iter().enumerate() {
                assert!((v[i * width + t] - lp).abs() < 1e-4, "leaf {i} token {t}");
            }
        }
    }
}

#[test]
fn trees_are_well_formed_for_credit_and_respect_the_rule() {
    for rule in [
        BranchRule::Entropy,
        BranchRule::Delimiter,
        BranchRule::Planning,
    ] {
        let (_, mut batch) = grown(tree(rule, 2));
        for (i, r) in batch.rollouts_mut().enumerate() {
            r.reward = Some((i % 3 == 0) as u8 as f64);
            let own = r.masks[TREE_REPEAT_MASK].iter().take_while(|&&x| x).count();
            if rule == BranchRule::Delimiter && own > 0 {
                assert_eq!(
                    r.text.as_bytes()[..r.token_spans[own - 1].1].last(),
                    Some(&b'\n')
                );
            }
        }
        let credit = CreditAssigner {
            estimator: Estimator::Grpo,
            eps: 1e-6,
            transforms: vec![],
            zero_variance: ZeroVariance::Keep,
            step_credit: Some(StepCredit::Tree {
                advantage: Default::default(),
                scale_by_leaves: false,
            }),
        };
        let report = credit.assign(&mut batch).unwrap();
        assert_eq!(report.tree.trees, 2);
        assert!(batch.metrics["tree/sampled_tokens"] <= batch.metrics["tree/leaf_tokens"]);
        if rule == BranchRule::Entropy {
            assert!(batch.metrics["tree/sampled_over_leaf_tokens"] < 1.0);
        }
    }
}
