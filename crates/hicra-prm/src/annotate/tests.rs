use hicra_model::CharTokenizer;
use hicra_tasks::boxed::BoxedChecker;

use super::*;

const ALPHABET: &str = "0123456789+-*= \\boxed{}\n";
/// A wrong solution whose third step slips: 4 steps.
const SOLUTION: &str = "7+5=12\n12*2=24\n24-3=20\n\\boxed{20}";

/// Draws scripted text: the solution for a bare prompt; from a prefix with `s` steps
/// done, `correct[s]` right completions out of each `n` (the first ones).
struct Scripted {
    codec: TextCodec,
    correct: Vec<usize>,
    calls: std::cell::Cell<usize>,
}

impl Scripted {
    fn new(correct: &[usize]) -> Self {
        Self {
            codec: TextCodec::Chars(CharTokenizer::new(ALPHABET)),
            correct: correct.to_vec(),
            calls: 0.into(),
        }
    }

    fn sample(&self, text: &str) -> Sample {
        let TextCodec::Chars(t) = &self.codec else {
            unreachable!()
        };
        let mut tokens = t.encode(text).unwrap();
        tokens.push(CharTokenizer::EOS);
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
        self.calls.set(self.calls.get() + 1);
        request
            .prompts
            .iter()
            .enumerate()
            .map(|(x, p)| {
                let (text, _) = self.codec.decode_with_spans(p).unwrap();
                // the prompt is one line: the newlines after it count finished steps
                let done = text.matches('\n').count() - 1;
                // copies of one prefix in a row count as samples of it
                let copy = request.prompts[..x]
                    .iter()
                    .rev()
                    .take_while(|q| q == &p)
                    .count();
                (copy..copy + request.n)
                    .map(|j| {
                        if done == 0 {
                            self.sample(SOLUTION)
                        } else if j < self.correct[done - 1] {
                            self.sample("\\boxed{21}")
                        } else {
                            self.sample("\\boxed{0}")
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

fn prompt() -> Prompt {
    Prompt {
        messages: vec![hicra_messages::ChatMessage::new("user", "7 +5 *2 -3")],
        ..Prompt::new("p-0", "7 +5 *2 -3", "21")
    }
}

fn settings(strategy: Strategy, sharing: Sharing) -> AnnotateSettings {
    AnnotateSettings {
        solutions: 1,
        completions: 4,
        strategy,
        sharing,
        ..AnnotateSettings::default()
    }
}

fn run(
    script: &Scripted,
    s: &AnnotateSettings,
    truth: Option<StepTruth>,
) -> (LabelledSolution, Cost) {
    let (mut out, cost) = annotate(
        script,
        script,
        &BoxedChecker,
        truth,
        &[prompt()],
        s,
        &mut |_| (),
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    (out.remove(0), cost)
}

#[test]
fn soft_and_hard_labels_are_the_shares_of_correct_completions() {
    // from after step 1, 2, 3: 3, 1 and 0 of 4 completions reach 21
    let script = Scripted::new(&[3, 1, 0]);
    let (r, cost) = run(&script, &settings(Strategy::Full, Sharing::Shared), None);
    assert_eq!(
        r.steps,
        ["7+5=12\n", "12*2=24\n", "24-3=20\n", "\\boxed{20}"]
    );
    assert_eq!(r.soft, [0.75, 0.25, 0.0, 0.0]);
    assert_eq!(r.hard, [true, true, false, false]);
    assert_eq!(r.rollouts, [4, 4, 4, 0]);
    assert!(!r.outcome);
    assert_eq!(r.truth, None);
    // one solution draw and one batched completion draw
    assert_eq!(script.calls.get(), 2);
    assert_eq!(cost.prefixes, 3);
    // a right completion is 10 characters and the stop token, a wrong one 9 and it
    assert_eq!(
        cost.completion_tokens,
        (3 * 11 + 10) + (11 + 3 * 10) + 4 * 10
    );
    // prompt "7 +5 *2 -3\n" is 11 characters; prefixes add 7, 15 and 23
    assert_eq!(cost.prefill_tokens, 3 * 11 + 7 + 15 + 23);
    assert_eq!(cost.prefill_tokens_unshared, 4 * cost.prefill_tokens);
}

#[test]
fn separate_prefills_give_the_same_labels_at_k_times_the_prefill() {
    let script = Scripted::new(&[3, 1, 0]);
    let (shared, _) = run(&script, &settings(Strategy::Full, Sharing::Shared), None);
    let (separate, cost) = run(&script, &settings(Strategy::Full, Sharing::Separate), None);
    assert_eq!(separate.soft, shared.soft);
    assert_eq!(cost.prefill_tokens, cost.prefill_tokens_unshared);
}

#[test]
fn binary_search_finds_the_first_bad_step_with_fewer_rollouts() {
    let script = Scripted::new(&[3, 1, 0]);
    let (r, cost) = run(
        &script,
        &settings(Strategy::BinarySearch, Sharing::Shared),
        None,
    );
    assert_eq!(r.hard, [true, true, false, false]);
    // step 1 (index 1) then step 2 are rolled out; step 0 is inferred good
    assert_eq!(r.rollouts, [0, 4, 4, 0]);
    assert_eq!(r.soft, [1.0, 0.25, 0.0, 0.0]);
    assert_eq!(cost.prefixes, 2);
    // a correct solution needs no rollout at all
    let right = Scripted::new(&[4, 4, 4]);
    let mut s = settings(Strategy::BinarySearch, Sharing::Shared);
    s.segmentation = Segmentation::Tokens(5);
    let mut p = prompt();
    p.answer = "20".into();
    let (mut out, cost) =
        annotate(&right, &right, &BoxedChecker, None, &[p], &s, &mut |_| ()).unwrap();
    let r = out.remove(0);
    assert!(r.outcome && r.hard.iter().all(|&h| h));
    assert_eq!(cost.prefixes, 0);
    assert_eq!(r.steps.concat(), SOLUTION);
}

#[test]
fn the_budget_stops_after_whole_solutions_and_the_truth_is_recorded() {
    let script = Scripted::new(&[3, 1, 0]);
    let mut s = settings(Strategy::Full, Sharing::Shared);
    s.solutions = 3;
    s.max_prefixes = 4;
    fn truth(_: &Prompt, steps: &[&str]) -> Option<Vec<bool>> {
        Some(steps.iter().map(|s| !s.contains("20")).collect())
    }
    let (out, cost) = annotate(
        &script,
        &script,
        &BoxedChecker,
        Some(truth),
        &[prompt()],
        &s,
        &mut |_| (),
    )
    .unwrap();
    // 3 prefixes per solution: the second solution crosses the budget, the third is not
    // started
    assert_eq!((out.len(), cost.prefixes), (2, 6));
    assert_eq!(out[0].truth, Some(vec![true, true, false, false]));
    let bad = AnnotateSettings {
        temperature: 0.0,
        ..s
    };
    assert!(bad.validate().unwrap_err().contains("temperature"));
}
