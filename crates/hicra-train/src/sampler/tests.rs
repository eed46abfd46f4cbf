//! `sampler.policy` in evaluation mode scores exactly the versions it is due to (0, N, 2N, ...
//! and the last), whatever the timing, and each batch is the one `Sampler::for_policy` draws
//! with the stage seed: the pipeline's evaluator and `hicra eval` see the same responses.

use std::sync::{Arc, Mutex};

use super::{Sampler, SamplerConfig};
use crate::codec::TextCodec;
use crate::policy::PolicyUpdate;
use hicra_flow::derive_seed;
use hicra_flow::testing::StageHarness;
use hicra_messages::{ChatMessage, Prompt, RolloutBatch};
use hicra_model::{CharTokenizer, Llama, ModelConfig, RuntimeBackend, cpu};

const ALPHABET: &str = "abc 0123\n";

fn model_config() -> ModelConfig {
    let tokenizer = CharTokenizer::new(ALPHABET);
    // half the width of `tiny` and one layer: the sampler's tests need no more
    ModelConfig {
        hidden_size: 16,
        intermediate_size: 32,
        num_layers: 1,
        num_heads: 2,
        num_kv_heads: 1,
        max_seq_len: 24,
        ..ModelConfig::tiny(tokenizer.vocab_size())
    }
}

fn policy(version: u64) -> (Llama<RuntimeBackend>, Arc<TextCodec>) {
    let tokenizer = CharTokenizer::new(ALPHABET);
    let config = model_config();
    // every version has different weights, so batches tell which version drew them
    (
        Llama::init(&config, 100 + version, &cpu()),
        Arc::new(TextCodec::Chars(tokenizer)),
    )
}

fn update(version: u64) -> PolicyUpdate {
    let (model, codec) = policy(version);
    PolicyUpdate {
        version,
        weights: crate::policy::PolicyWeights::Whole(Mutex::new(model)),
        codec,
        config: model_config(),
    }
}

fn prompts() -> Vec<Prompt> {
    (0..3)
        .map(|i| Prompt {
            messages: vec![ChatMessage::new("user", format!("a{i} b"))],
            cursor: i,
            ..Prompt::new(format!("p{i}"), format!("a{i}"), "1")
        })
        .collect()
}

const PARAMS: &str = "group_size = 2\nmax_new_tokens = 6\neval_every = 3\ntemperature = 1.0\n";

fn evaluate(versions: u64) -> Vec<RolloutBatch> {
    let mut out = StageHarness::new::<SamplerConfig>(PARAMS)
        .settings(|s| s.seed = 9)
        .input("prompts", prompts())
        .input("weights", (0..versions).map(update).collect())
        .run()
        .unwrap();
    out.take("rollouts")
}

fn tokens(batch: &RolloutBatch) -> Vec<Vec<u32>> {
    batch.rollouts().map(|r| r.tokens.clone()).collect()
}

#[test]
fn the_evaluator_scores_exactly_the_due_versions_and_the_last() {
    let batches = evaluate(8);
    let steps: Vec<u64> = batches.iter().map(|b| b.step).collect();
    assert_eq!(steps, [0, 3, 6, 7]);
    assert!(batches.iter().all(|b| b.eval && b.step == b.policy_version));
    assert!(batches.iter().all(|b| b.num_rollouts() == 6));
    // the last version is a due one: not evaluated twice
    let steps: Vec<u64> = evaluate(7).iter().map(|b| b.step).collect();
    assert_eq!(steps, [0, 3, 6]);
    // same seed, same batches
    let again = evaluate(8);
    for (a, b) in batches.iter().zip(&again) {
        assert_eq!(tokens(a), tokens(b));
    }
}

#[test]
fn an_evaluator_batch_is_what_for_policy_samples_with_the_stage_seed() {
    let batches = evaluate(4);
    let config = SamplerConfig {
        group_size: 2,
        max_new_tokens: 6,
        eval_every: 3,
        temperature: 1.0,
        ..SamplerConfig::default()
    };
    let seed = derive_seed(9, "stage"); // the harness runs its stage under the id `stage`
    let prompts: Vec<Arc<Prompt>> = prompts().into_iter().map(Arc::new).collect();
    for batch in &batches {
        let (model, codec) = policy(batch.policy_version);
        let sampler = Sampler::for_policy(
            config.clone(),
            seed,
            batch.policy_version,
            model,
            codec,
            cpu(),
        );
        let alone = sampler
            .sample(&prompts, batch.policy_version, true)
            .unwrap();
        assert_eq!(
            tokens(&alone),
            tokens(batch),
            "version {}",
            batch.policy_version
        );
    }
}

fn sampler(group_size: usize) -> Sampler {
    let config = SamplerConfig {
        group_size,
        max_new_tokens: 6,
        temperature: 1.0,
        ..SamplerConfig::default()
    };
    let (model, codec) = policy(1);
    Sampler::for_policy(config, 5, 1, model, codec, cpu())
}

/// The responses of a batch of `order` (indices into `prompts()`) at `step`, by prompt id.
fn groups(sampler: &Sampler, order: &[usize], step: u64) -> Vec<(String, Vec<Vec<u32>>)> {
    let all = prompts();
    let batch: Vec<Arc<Prompt>> = order.iter().map(|&i| Arc::new(all[i].clone())).collect();
    let sampled = sampler.sample(&batch, step, false).unwrap();
    sampled
        .groups
        .iter()
        .map(|g| {
            let tokens = g.rollouts.iter().map(|r| r.tokens.clone()).collect();
            (g.prompt.id.clone(), tokens)
        })
        .collect()
}

/// Each response is drawn from (stage seed, step, prompt id, sample index) alone: the batch
/// size, the group size and the prompts' order do not change it; the step does, and a prompt
/// repeated in one batch draws new responses.
#[test]
fn a_response_depends_on_its_prompt_step_and_index_only() {
    let (three, two) = (sampler(3), sampler(2));
    let reference = groups(&three, &[0, 1, 2], 4);
    let find = |id: &str| &reference.iter().find(|(p, _)| p == id).unwrap().1;
    assert_ne!(
        find("p0")[0],
        find("p0")[1],
        "the samples of a group differ"
    );
    for (sampler, order) in [(&two, vec![2, 0]), (&three, vec![1]), (&two, vec![1, 2, 0])] {
        for (id, responses) in groups(sampler, &order, 4) {
            assert_eq!(
                responses[..],
                find(&id)[..responses.len()],
                "{id} in {order:?}"
            );
        }
    }
    let later = groups(&three, &[0, 1, 2], 5);
    assert_ne!(later, reference, "another step draws other responses");
    let repeated = groups(&two, &[1, 1], 4);
    assert_eq!(repeated[0].1[..], find("p1")[..2]);
    assert_ne!(repeated[0].1, repeated[1].1, "a repeat draws new responses");
}
