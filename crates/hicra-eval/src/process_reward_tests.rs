//! `reward.process` on tiny random PRMs saved to a temporary directory (no trained file): the
//! step ranges each rule cuts and the PRM's own scores on them, and the batches refused.
//!
//! The set-up helpers here (saved PRMs, prompts, rollouts, batches, build contexts) are shared
//! with the stage and configuration tests (`process_reward_stage_tests.rs`) and with the
//! Monte-Carlo tests (`process_reward_mc_tests.rs`, `process_reward_mc_stage_tests.rs`).

use std::path::{Path, PathBuf};

use hicra_flow::{BuildContext, Invalid, RunSettings};
use hicra_messages::{FinishReason, Group, Prompt, Rollout, RolloutBatch, StepReward};
use hicra_model::{CharTokenizer, Llama, ModelConfig, RuntimeBackend, cpu};
use hicra_prm::model::ProcessRewardModel;
use hicra_prm::store::{PrmInfo, save};
use hicra_prm::train::PrmTarget;
use hicra_train::TextCodec;

use super::*;
use crate::prm::Aggregate;

/// The characters of the test prompts and responses (capitals and `:` for `numbered` steps).
pub(crate) const ALPHABET: &str = "0123456789+-*/=() abcdefghijklmnopqrstuvwxyzS:;.,?!\n";

pub(crate) fn codec() -> TextCodec {
    TextCodec::Chars(CharTokenizer::new(ALPHABET))
}

/// Saves a tiny random PRM over [`ALPHABET`] that cuts steps by `steps`, in `dir/prm`.
pub(crate) fn saved_prm(dir: &Path, steps: &str) -> PathBuf {
    let config = ModelConfig::tiny(CharTokenizer::new(ALPHABET).vocab_size());
    let backbone = Llama::<RuntimeBackend>::init(&config, 7, &cpu());
    let prm = ProcessRewardModel::new(backbone, config, 8);
    let info = PrmInfo::new(steps.parse().unwrap(), PrmTarget::Hard, "random:tiny");
    let out = dir.join("prm");
    save(&out, &prm, &codec(), &info, false).unwrap();
    out
}

pub(crate) fn stage(dir: &Path) -> ProcessReward {
    // the run directory, as a `learner.prm` run holds its PRM in `prm/`
    ProcessReward::new(PrmScorer::load(dir, 256, Aggregate::Min, 3, &cpu()).unwrap())
}

pub(crate) fn prompt(id: &str, question: &str) -> Prompt {
    Prompt {
        messages: vec![hicra_messages::ChatMessage::new("user", question)],
        ..Prompt::new(id, question, "")
    }
}

/// A response to `prompt` as the sampler makes it: the text's tokens and a stop token when
/// `stopped` (else cut at the length limit), the decoded text and the spans.
pub(crate) fn rollout(prompt: &Prompt, text: &str, stopped: bool, correct: bool) -> Rollout {
    rollout_with(&codec(), prompt, text, stopped, correct)
}

/// [`rollout`] with the tokens of `c`.
pub(crate) fn rollout_with(
    c: &TextCodec,
    prompt: &Prompt,
    text: &str,
    stopped: bool,
    correct: bool,
) -> Rollout {
    let mut tokens = c.encode_response(text).unwrap();
    if !stopped {
        tokens.pop();
    }
    let (decoded, token_spans) = c.decode_with_spans(&tokens).unwrap();
    assert_eq!(decoded, text);
    Rollout {
        prompt_tokens: c.encode_prompt(prompt).unwrap(),
        tokens,
        text: decoded,
        token_spans,
        finish: Some(if stopped {
            FinishReason::Stop
        } else {
            FinishReason::Length
        }),
        reward: Some(f64::from(u8::from(correct))),
        correct: Some(correct),
        ..Default::default()
    }
}

/// Texts with a trailing delimiter, blank lines, no delimiter, numbered steps, a length that
/// `tokens:4` divides (so the stop token alone would make a step of its own) and nothing.
const TEXTS: &[&str] = &[
    "3*4=12\n2+12=14\n",
    "3*4=12\n\n\nso 14",
    "no delimiter at all",
    "Step 1: 3*4=12\nStep 2: 2+12=14\nso 14",
    "1234abcd",
    "a;b;;c",
    "",
];

pub(crate) fn batch(eval: bool) -> RolloutBatch {
    let (p, q) = (prompt("p-1", "2+3*4"), prompt("p-2", "what is 7*8?"));
    let first: Vec<Rollout> = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| rollout(&p, t, i % 3 != 2, i % 2 == 0))
        .collect();
    let mut second = vec![rollout(&q, "7*8=56\nso 56", true, true)];
    let mut empty = rollout(&q, "", false, false);
    assert!(empty.tokens.is_empty());
    empty.correct = Some(false);
    second.push(empty);
    let mut b = RolloutBatch::new(3, vec![Group::new(p, first), Group::new(q, second)]);
    b.eval = eval;
    b
}

/// Contiguous, non-empty token ranges from 0 to the response's length.
pub(crate) fn assert_cover(steps: &[StepReward], len: usize) {
    let mut at = 0;
    for s in steps {
        assert_eq!(s.start, at, "{steps:?}");
        assert!(s.end > s.start, "{steps:?}");
        at = s.end;
    }
    assert_eq!(at as usize, len, "{steps:?}");
}

pub(crate) fn ctx(base: &Path) -> BuildContext {
    BuildContext {
        id: "process".into(),
        run: RunSettings {
            base_dir: base.to_path_buf(),
            ..RunSettings::default()
        },
    }
}

pub(crate) fn only(problems: Vec<Invalid>) -> Invalid {
    assert_eq!(problems.len(), 1, "{problems:?}");
    problems.into_iter().next().unwrap()
}

#[test]
fn steps_cover_each_response_and_carry_the_prms_own_scores() {
    let dir = tempfile::tempdir().unwrap();
    for rule in [
        "newline",
        "numbered",
        "tokens:4",
        "tokens:3",
        "text:;",
        "blank-line",
    ] {
        let run = dir.path().join(rule.replace(':', "_"));
        saved_prm(&run, rule);
        let mut stage = stage(&run);
        let mut b = batch(false);
        let figures = stage.step(&mut b).unwrap();
        for g in &b.groups {
            for r in &g.rollouts {
                if r.tokens.is_empty() {
                    assert!(r.step_rewards.is_empty(), "{rule}: no tokens, no steps");
                    continue;
                }
                assert_cover(&r.step_rewards, r.tokens.len());
                let ours: Vec<f64> = r.step_rewards.iter().map(|s| s.score).collect();
                if r.text.is_empty() {
                    // a lone stop token: one step, scored as an empty solution
                    assert_eq!(ours.len(), 1, "{rule}");
                    continue;
                }
                let theirs = stage
                    .scorer()
                    .unwrap()
                    .step_scores(&[(g.prompt.as_ref(), r.text.as_str())])
                    .unwrap()
                    .remove(0);
                assert_eq!(ours.len(), theirs.len(), "{rule}: {:?}", r.text);
                for (a, b) in ours.iter().zip(&theirs) {
                    assert!(
                        (a - b).abs() < 1e-6,
                        "{rule}: {:?}: {ours:?} vs {theirs:?}",
                        r.text
                    );
                }
            }
        }
        let n = b.num_rollouts() as f64;
        let steps: usize = b.rollouts().map(|r| r.step_rewards.len()).sum();
        assert_eq!(figures["process/steps_per_response"], steps as f64 / n);
        assert!(figures["process/score_secs"] >= 0.0);
        for key in [
            "process/step_score_mean",
            "process/step_score_correct_mean",
            "process/step_score_wrong_mean",
            "process/response_auc",
        ] {
            assert!(figures.contains_key(key), "{rule}: {key} in {figures:?}");
        }
    }
}

#[test]
fn the_ranges_are_those_of_the_rule_on_the_responses_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let p = prompt("p", "2+3*4");
    let ranges = |rule: &str, text: &str, stopped: bool| {
        let run = dir.path().join(rule.replace(':', "_"));
        if !run.exists() {
            saved_prm(&run, rule);
        }
        let mut b = RolloutBatch::new(
            0,
            vec![Group::new(
                p.clone(),
                vec![rollout(&p, text, stopped, true)],
            )],
        );
        stage(&run).step(&mut b).unwrap();
        b.groups[0].rollouts[0]
            .step_rewards
            .iter()
            .map(|s| (s.start, s.end))
            .collect::<Vec<_>>()
    };
    // 15 characters and the stop token: the delimiter ends its step, the stop token joins
    // the last one, and a trailing delimiter makes no empty step
    assert_eq!(
        ranges("newline", "3*4=12\n2+12=14\n", true),
        [(0, 7), (7, 16)]
    );
    assert_eq!(
        ranges("newline", "3*4=12\n\n\nso 14", false),
        [(0, 9), (9, 14)]
    );
    // 8 characters in steps of 4: two steps, not a third of the stop token alone
    assert_eq!(ranges("tokens:4", "1234abcd", true), [(0, 4), (4, 9)]);
    assert_eq!(ranges("tokens:4", "1234abcd", false), [(0, 4), (4, 8)]);
    assert_eq!(
        ranges("tokens:3", "1234abcd", true),
        [(0, 3), (3, 6), (6, 9)]
    );
    // nothing but the stop token: one step over it
    assert_eq!(ranges("newline", "", true), [(0, 1)]);
}

#[test]
fn evaluation_batches_pass_untouched() {
    let dir = tempfile::tempdir().unwrap();
    saved_prm(dir.path(), "newline");
    let mut stage = stage(dir.path());
    let mut b = batch(true);
    b.groups[0].rollouts[0].prompt_tokens.push(2); // not even checked
    let before = b.clone();
    let figures = stage.step(&mut b).unwrap();
    assert!(figures.is_empty());
    assert_eq!(b, before);
}

#[test]
fn a_prompt_the_prm_reads_otherwise_is_refused_naming_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    saved_prm(dir.path(), "newline");
    let mut b = batch(false);
    b.groups[1].rollouts[1].prompt_tokens.push(2);
    let err = stage(dir.path()).step(&mut b).unwrap_err();
    assert!(err.contains("rollout 1 of group `p-2`"), "{err}");
    assert!(err.contains("another tokenizer"), "{err}");
    let mut b = batch(false);
    let last = b.groups[0].rollouts[0].prompt_tokens.len() - 1;
    b.groups[0].rollouts[0].prompt_tokens[last] += 1;
    let err = stage(dir.path()).step(&mut b).unwrap_err();
    assert!(err.contains("rollout 0 of group `p-1`"), "{err}");
    assert!(err.contains("other ids"), "{err}");
}

#[test]
fn spans_that_do_not_fit_the_tokens_are_refused_naming_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    saved_prm(dir.path(), "newline");
    let mut b = batch(false);
    b.groups[0].rollouts[2].token_spans.pop();
    let err = stage(dir.path()).step(&mut b).unwrap_err();
    assert!(err.contains("rollout 2 of group `p-1`"), "{err}");
    assert!(err.contains("token spans"), "{err}");
}
