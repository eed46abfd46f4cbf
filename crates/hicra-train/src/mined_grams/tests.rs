//! `tagger.mined_grams` on batches of planted responses: the planted plan phrases become
//! planning tokens after the first mining, with the lexical and the policy embedding.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hicra_credit::mining::GramEmbedder;
use hicra_flow::{BuildContext, RunSettings};
use hicra_messages::{Group, Prompt, Rollout, RolloutBatch};
use hicra_model::{CharTokenizer, Llama, ModelConfig, cpu};

use super::*;
use crate::codec::TextCodec;
use crate::policy::PolicyUpdate;

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz ,.:0123456789\n";

fn codec() -> CharTokenizer {
    CharTokenizer::new(ALPHABET)
}

fn update(version: u64) -> PolicyUpdate {
    let tokenizer = codec();
    let config = ModelConfig {
        vocab_size: tokenizer.vocab_size(),
        hidden_size: 16,
        intermediate_size: 32,
        num_layers: 1,
        num_heads: 2,
        num_kv_heads: 1,
        rope_theta: 10_000.0,
        rms_norm_eps: 1e-5,
        max_seq_len: 96,
        tie_word_embeddings: true,
        attention_bias: false,
    };
    PolicyUpdate {
        version,
        weights: crate::policy::PolicyWeights::Whole(Mutex::new(Llama::init(&config, 5, &cpu()))),
        codec: Arc::new(TextCodec::Chars(tokenizer)),
        config,
    }
}

fn rollout(text: &str, correct: bool) -> Rollout {
    let tokenizer = codec();
    let tokens = tokenizer.encode(text).unwrap();
    let token_spans = (0..text.len()).map(|i| (i, i + 1)).collect();
    Rollout {
        prompt_tokens: tokenizer.encode("q: ").unwrap(),
        tokens,
        text: text.into(),
        token_spans,
        correct: Some(correct),
        reward: Some(f64::from(u8::from(correct))),
        ..Rollout::default()
    }
}

/// Step `step`: four correct responses with the planted plan, two wrong ones without.
fn batch(step: u64, eval: bool) -> RolloutBatch {
    let texts = [
        "let me square it first. so we get many",
        "ok let me square it first. then add",
        "let me square it first. the sum is",
        "so let me square it first. done",
    ];
    let mut rollouts: Vec<Rollout> = texts.iter().map(|t| rollout(t, true)).collect();
    rollouts.push(rollout("what a day it was. or not", false));
    rollouts.push(rollout("what a day it was. maybe", false));
    RolloutBatch {
        step,
        policy_version: step,
        groups: vec![Group {
            prompt: Arc::new(Prompt {
                id: format!("p{step}"),
                task: "t".into(),
                question: "q".into(),
                answer: "1".into(),
                messages: Vec::new(),
                meta: BTreeMap::new(),
                cursor: 0,
            }),
            rollouts,
        }],
        metrics: BTreeMap::new(),
        eval,
    }
}

fn stage(config: MinedGramsConfig, dir: &std::path::Path) -> MinedGrams {
    let ctx = BuildContext {
        id: "tagger".into(),
        run: RunSettings {
            out_dir: dir.to_path_buf(),
            ..RunSettings::default()
        },
    };
    let base = Lexicon::new(vec!["but wait".into()]).unwrap();
    MinedGrams::new(config, base, dir.join("mined_grams.jsonl"), &ctx).unwrap()
}

use hicra_credit::Lexicon;

fn config(embedding: Embedding, mode: LexiconMode) -> MinedGramsConfig {
    MinedGramsConfig {
        every_steps: 2,
        embedding,
        mode,
        ..MinedGramsConfig::default()
    }
}

#[test]
fn planted_plans_become_planning_tokens_after_the_first_mining() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stage(config(Embedding::Lexical, LexiconMode::Merge), dir.path());
    let mut b = batch(1, false);
    assert!(
        s.step(&mut b, None).unwrap().is_none(),
        "step 1 does not mine"
    );
    assert!(b.rollouts().all(|r| r.mask("planning").iter().all(|m| !m)));
    assert_eq!(b.metrics["mining/lexicon_size"], 1.0);

    let mut b = batch(2, false);
    let line = s.step(&mut b, None).unwrap().expect("step 2 mines");
    assert_eq!(
        line.mined.documents, 8,
        "the correct responses of steps 1 and 2"
    );
    assert!(
        line.mined.grams.contains(&"let me square".to_string()),
        "{:?}",
        line.mined
    );
    assert!(
        !line.mined.grams.iter().any(|g| g.contains("what a day")),
        "only correct ones"
    );
    assert!(
        s.lexicon().grams().contains(&"but wait".to_string()),
        "merged with the base"
    );
    let first = &b.groups[0].rollouts[0];
    let mask = first.mask("planning");
    assert!(
        mask[..13].iter().all(|&m| m),
        "`let me square` is tagged: {mask:?}"
    );
    assert_eq!(b.metrics["mining/documents"], 8.0);
    assert!(b.metrics["mining/mined_grams"] >= 1.0);
}

#[test]
fn replace_mode_drops_the_base_and_evaluation_batches_are_not_mined() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stage(config(Embedding::Lexical, LexiconMode::Replace), dir.path());
    s.step(&mut batch(2, true), None).unwrap();
    assert_eq!(s.buffered(), 0, "evaluation responses are not mined");
    let line = s.step(&mut batch(2, false), None).unwrap().unwrap();
    assert_eq!(s.lexicon().len(), line.mined.grams.len());
    assert!(!s.lexicon().grams().contains(&"but wait".to_string()));
}

#[test]
fn the_policy_embeds_grams_from_its_hidden_states() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stage(config(Embedding::Policy, LexiconMode::Merge), dir.path());
    let policy = update(3);
    let err = s.step(&mut batch(2, false), None).unwrap_err().to_string();
    assert!(err.contains("weights"), "{err}");
    let line = s
        .step(&mut batch(4, false), Some(&policy))
        .unwrap()
        .unwrap();
    assert_eq!(line.policy_version, Some(3));
    assert!(
        line.mined.grams.contains(&"let me square".to_string()),
        "{:?}",
        line.mined
    );

    // the same span in the same context gives the same vector; its width is the model's
    let model = policy.model();
    let docs = [MiningDoc {
        text: "let me square it".into(),
        prompt_tokens: codec().encode("q: ").unwrap(),
        tokens: codec().encode("let me square it").unwrap(),
        token_spans: (0..16).map(|i| (i, i + 1)).collect(),
    }];
    let mut e = PolicyEmbedder {
        model: &model,
        docs: &docs,
        vocab_size: codec().vocab_size(),
    };
    let v = e.embed(0, &[(0, 13), (0, 13), (7, 16)]).unwrap();
    assert_eq!(v[0].len(), 16);
    assert_eq!(v[0], v[1]);
    assert_ne!(v[0], v[2]);
    let bad = [MiningDoc {
        tokens: vec![10_000],
        token_spans: vec![(0, 1)],
        ..docs[0].clone()
    }];
    let mut e = PolicyEmbedder { docs: &bad, ..e };
    assert!(e.embed(0, &[(0, 1)]).unwrap_err().contains("vocabulary"));
}

#[test]
fn a_resumed_run_starts_from_the_last_mining_before_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stage(config(Embedding::Lexical, LexiconMode::Replace), dir.path());
    let log = dir.path().join("mined_grams.jsonl");
    let mut text = String::new();
    for step in [2, 4] {
        let line = s.step(&mut batch(step, false), None).unwrap().unwrap();
        text.push_str(&serde_json::to_string(&line).unwrap());
        text.push('\n');
    }
    std::fs::write(&log, &text).unwrap();
    let ctx = BuildContext {
        id: "tagger".into(),
        run: RunSettings {
            out_dir: dir.path().to_path_buf(),
            resume: Some(hicra_flow::checkpoint::ResumePoint {
                dir: dir.path().join("checkpoints/step-3"),
                step: 3,
                run_dir: dir.path().to_path_buf(),
            }),
            ..RunSettings::default()
        },
    };
    let base = Lexicon::new(vec!["but wait".into()]).unwrap();
    let config = config(Embedding::Lexical, LexiconMode::Replace);
    let resumed = MinedGrams::new(config, base, log.clone(), &ctx).unwrap();
    assert!(
        resumed
            .lexicon()
            .grams()
            .contains(&"let me square".to_string())
    );
    let kept = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        kept.lines().count(),
        1,
        "the mining of step 4 came after the checkpoint"
    );
}
