//! `reward.process` with `montecarlo`: a tiny random policy built here and a scripted
//! completer with a closed-form answer (the configuration: `process_reward_mc_stage_tests.rs`).

use std::cell::Cell;
use std::rc::Rc;

use hicra_messages::{ChatMessage, Group, Rollout};
use hicra_model::{CharTokenizer, Llama, ModelConfig, cpu};
use hicra_prm::annotate::{AnnotateSettings, annotate};
use hicra_tasks::answers::Score;
use hicra_tasks::boxed::BoxedChecker;

use super::super::ProcessReward;
use super::super::tests::{ALPHABET, assert_cover, batch, codec, rollout_with, saved_prm, stage};
use super::*;

/// Judges a response right when its text has an even number of characters: about half of a
/// random policy's completions, so step scores take values between 0 and 1.
struct EvenLength;

impl Checker for EvenLength {
    fn judge(&self, _: &Prompt, response: &str) -> Score {
        Score {
            correct: response.chars().count().is_multiple_of(2),
            parsed: true,
            ..Score::default()
        }
    }

    fn same_answer(&self, _: &Prompt, a: &str, b: &str) -> bool {
        a == b
    }
}

/// A tiny random policy over the PRM tests' alphabet (128 positions).
fn policy() -> Box<dyn Completer> {
    let config = ModelConfig::tiny(CharTokenizer::new(ALPHABET).vocab_size());
    Box::new(Policy {
        generator: Generator::new(Llama::<RuntimeBackend>::init(&config, 11, &cpu())),
        codec: codec(),
        device: cpu(),
    })
}

fn mc_config(steps: &str, completions: usize) -> MonteCarloConfig {
    MonteCarloConfig {
        model: "random policy".into(),
        completions,
        max_new_tokens: 48,
        steps: steps.parse().unwrap(),
        ..MonteCarloConfig::default()
    }
}

/// `reward.process` with Monte-Carlo scores from the random policy, judged by [`EvenLength`].
fn random_stage(steps: &str, completions: usize, batch: usize) -> ProcessReward {
    let mut mc = MonteCarlo::new(policy(), &mc_config(steps, completions), 5, batch).unwrap();
    mc.checker = Box::new(EvenLength);
    ProcessReward::monte_carlo(mc)
}

pub(super) fn scores(b: &RolloutBatch) -> Vec<Vec<f64>> {
    b.rollouts()
        .map(|r| r.step_rewards.iter().map(|s| s.score).collect())
        .collect()
}

fn ranges(b: &RolloutBatch) -> Vec<Vec<(u32, u32)>> {
    b.rollouts()
        .map(|r| r.step_rewards.iter().map(|s| (s.start, s.end)).collect())
        .collect()
}

#[test]
fn scores_are_shares_of_completions_on_the_prms_ranges_and_the_last_is_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let k = 4;
    let mut between = 0;
    for rule in ["newline", "tokens:4", "text:;", "numbered"] {
        let mut ours = batch(false);
        let figures = random_stage(rule, k, 3).step(&mut ours).unwrap();
        // the PRM source, cutting by the same rule, gives the same token ranges
        let run = dir.path().join(rule.replace(':', "_"));
        saved_prm(&run, rule);
        let mut theirs = batch(false);
        stage(&run).step(&mut theirs).unwrap();
        assert_eq!(ranges(&ours), ranges(&theirs), "{rule}");
        let mut prefixes = 0;
        for r in ours.rollouts() {
            if r.tokens.is_empty() {
                assert!(r.step_rewards.is_empty());
                continue;
            }
            assert_cover(&r.step_rewards, r.tokens.len());
            let (last, rest) = r.step_rewards.split_last().unwrap();
            assert_eq!(
                last.score,
                f64::from(u8::from(r.correct.unwrap())),
                "{rule}"
            );
            for s in rest {
                let c = s.score * k as f64;
                assert!((0.0..=1.0).contains(&s.score), "{rule}: {s:?}");
                assert!((c - c.round()).abs() < 1e-12, "{rule}: {s:?}");
                between += usize::from(s.score > 0.0 && s.score < 1.0);
            }
            prefixes += rest.len();
        }
        assert!(prefixes > 0, "{rule}");
        assert_eq!(figures["process/completions"], (prefixes * k) as f64);
        assert!(figures["process/completion_tokens"] >= (prefixes * k) as f64);
        assert!(figures["process/score_secs"] >= 0.0);
        assert!(figures.contains_key("process/response_auc"), "{figures:?}");
    }
    assert!(between > 0, "some steps are neither sure nor hopeless");
}

#[test]
fn the_same_batch_gets_the_same_scores_whatever_the_draws_hold() {
    let scored = |b: &mut RolloutBatch, per_draw: usize| {
        random_stage("newline", 4, per_draw).step(b).unwrap();
        scores(b)
    };
    let first = scored(&mut batch(false), 3);
    let mut twice = batch(false);
    let mut stage = random_stage("newline", 4, 3);
    stage.step(&mut twice).unwrap();
    assert_eq!(scores(&twice), first, "the same stage, again");
    stage.step(&mut twice).unwrap();
    assert_eq!(scores(&twice), first, "the same stage, again");
    // one response per draw or all of them at once: each prefix has its own seed
    assert_eq!(scored(&mut batch(false), 1), first);
    assert_eq!(scored(&mut batch(false), 64), first);
    // another batch step draws other completions
    let mut later = batch(false);
    later.step += 1;
    assert_ne!(scored(&mut later, 3), first);
}

const SCRIPT_ALPHABET: &str = "0123456789+-*= \\boxed{}\n";
/// A wrong solution whose third step slips: 4 steps.
const SOLUTION: &str = "7+5=12\n12*2=24\n24-3=20\n\\boxed{20}";

/// Draws scripted text: the solution for a bare prompt; from a prefix with `s` steps done,
/// `correct[s - 1]` right completions out of each `n` (the first ones).
struct Scripted {
    codec: TextCodec,
    correct: Vec<usize>,
    /// Draws made (shared, to be read after the completer is boxed).
    draws: Rc<Cell<usize>>,
}

impl Scripted {
    fn new(correct: &[usize]) -> Self {
        Self {
            codec: TextCodec::Chars(CharTokenizer::new(SCRIPT_ALPHABET)),
            correct: correct.to_vec(),
            draws: Rc::new(Cell::new(0)),
        }
    }

    fn sample(&self, text: &str) -> Sample {
        let tokens = self.codec.encode_response(text).unwrap();
        Sample {
            logprobs: vec![0.0; tokens.len()],
            entropies: vec![0.0; tokens.len()],
            tokens,
            stopped: true,
        }
    }
}

impl Completer for Scripted {
    fn codec(&self) -> &TextCodec {
        &self.codec
    }

    fn context(&self) -> usize {
        256
    }

    fn draw(&self, request: &SampleRequest<'_>) -> Vec<Vec<Sample>> {
        self.draws.set(self.draws.get() + 1);
        let samples = |p: &&[u32]| {
            let (text, _) = self.codec.decode_with_spans(p).unwrap();
            // the prompt is one line: the newlines after it count finished steps
            let done = text.matches('\n').count() - 1;
            (0..request.n)
                .map(|j| match done {
                    0 => self.sample(SOLUTION),
                    _ if j < self.correct[done - 1] => self.sample("\\boxed{21}"),
                    _ => self.sample("\\boxed{0}"),
                })
                .collect()
        };
        request.prompts.iter().map(samples).collect()
    }
}

fn chain(answer: &str) -> Prompt {
    Prompt {
        messages: vec![ChatMessage::new("user", "7 +5 *2 -3")],
        ..Prompt::new(format!("p-{answer}"), "7 +5 *2 -3", answer)
    }
}

fn scripted_stage(correct: &[usize], batch: usize) -> ProcessReward {
    ProcessReward::monte_carlo(
        MonteCarlo::new(
            Box::new(Scripted::new(correct)),
            &scripted_config(),
            0,
            batch,
        )
        .unwrap(),
    )
}

fn scripted_batch(stopped: bool) -> RolloutBatch {
    let c = TextCodec::Chars(CharTokenizer::new(SCRIPT_ALPHABET));
    let (wrong, right) = (chain("21"), chain("20"));
    let r = |p: &Prompt, correct| rollout_with(&c, p, SOLUTION, stopped, correct);
    RolloutBatch::new(
        4,
        vec![
            Group::new(wrong.clone(), vec![r(&wrong, false), r(&wrong, false)]),
            Group::new(right.clone(), vec![r(&right, true)]),
        ],
    )
}

#[test]
fn scripted_completions_give_the_closed_form_and_annotates_own_labels() {
    // from after steps 1, 2, 3: 3, 1 and 0 of 4 completions reach 21
    let mut b = scripted_batch(true);
    let figures = scripted_stage(&[3, 1, 0], 16).step(&mut b).unwrap();
    let got = scores(&b);
    assert_eq!(got[0], [0.75, 0.25, 0.0, 0.0]);
    assert_eq!(got[1], got[0]);
    // where 20 is right, the completions (21 and 0) are all wrong; the last step is the outcome
    assert_eq!(got[2], [0.0, 0.0, 0.0, 1.0]);
    // the steps are the lines: 7, 8 and 8 characters, then `\boxed{20}` and the stop token
    assert_eq!(ranges(&b)[0], [(0, 7), (7, 15), (15, 23), (23, 34)]);
    assert_eq!(figures["process/completions"], 3.0 * 3.0 * 4.0);
    // a right completion is 10 characters and the stop token, a wrong one 9 and it
    let wrong_group = (3 * 11 + 10) + (11 + 3 * 10) + 4 * 10;
    assert_eq!(
        figures["process/completion_tokens"],
        (3 * wrong_group) as f64
    );
    // annotate's own labelling of the same solution, with the same completer
    let script = Scripted::new(&[3, 1, 0]);
    let settings = AnnotateSettings {
        solutions: 1,
        completions: 4,
        ..AnnotateSettings::default()
    };
    let (labels, _) = annotate(
        &script,
        &script,
        &BoxedChecker,
        None,
        &[chain("21")],
        &settings,
        &mut |_| (),
    )
    .unwrap();
    assert_eq!(labels[0].soft, got[0]);
    // the prefixes of `batch` responses go in one request, with the same scores
    for (per_draw, draws) in [(16, 1), (2, 2), (1, 3)] {
        let script = Scripted::new(&[3, 1, 0]);
        let counted = Rc::clone(&script.draws);
        let mc = MonteCarlo::new(Box::new(script), &scripted_config(), 0, per_draw).unwrap();
        let b = scripted_batch(false);
        let (again, _) = mc.score(&b, &cuts_of(&b, &mc)).unwrap();
        assert_eq!(again, got, "{per_draw} per draw");
        assert_eq!(counted.get(), draws, "{per_draw} per draw");
    }
}

#[test]
fn a_prefix_left_no_room_is_judged_as_it_stands() {
    // 7 tokens per whole response: the first step uses them all
    let mut config = scripted_config();
    config.max_new_tokens = 7;
    let mc = MonteCarlo::new(Box::new(Scripted::new(&[4, 4, 4])), &config, 0, 16).unwrap();
    let mut b = scripted_batch(true);
    let figures = ProcessReward::monte_carlo(mc).step(&mut b).unwrap();
    assert_eq!(scores(&b)[0], [0.0, 0.0, 0.0, 0.0]);
    assert_eq!(scores(&b)[2], [0.0, 0.0, 0.0, 1.0]);
    assert_eq!(figures["process/completions"], 0.0);
}

fn scripted_config() -> MonteCarloConfig {
    let mut config = mc_config("newline", 4);
    config.verifier = "boxed".into();
    config
}

fn cuts_of(b: &RolloutBatch, mc: &MonteCarlo) -> Vec<Vec<Option<Cut>>> {
    let stops = mc.codec().stop_tokens();
    b.groups
        .iter()
        .map(|g| {
            g.rollouts
                .iter()
                .map(|r| super::super::cut(r, mc.segmentation(), &stops).unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn a_response_without_a_verdict_or_room_to_complete_is_refused_by_name() {
    let mut b = scripted_batch(true);
    b.groups[0].rollouts[1].correct = None;
    let err = scripted_stage(&[3, 1, 0], 16).step(&mut b).unwrap_err();
    assert!(err.contains("rollout 1 of group `p-21`"), "{err}");
    assert!(err.contains("after a verifier"), "{err}");
    // a prefix as long as the completer's positions
    let mut b = scripted_batch(true);
    let r: &mut Rollout = &mut b.groups[1].rollouts[0];
    r.prompt_tokens = [vec![3; 250], r.prompt_tokens.clone()].concat();
    let mut stage = scripted_stage(&[3, 1, 0], 16);
    stage.prompts_checked = true;
    let err = stage.step(&mut b).unwrap_err();
    assert!(err.contains("rollout 0 of group `p-20`"), "{err}");
    assert!(err.contains("raise max_seq_len"), "{err}");
}
