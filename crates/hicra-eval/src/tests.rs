//! `evaluate` on a tiny random character model: reproducible by seed, figures consistent with
//! the records behind them, a judge that does not depend on how its prompts are batched, and
//! a beam search that keeps the best W candidates of every step.

use std::cell::RefCell;
use std::sync::Arc;

use crate::scorer::{Candidate, Scorer};
use crate::search::StepSearch;
use crate::{
    EvalJob, EvalPolicy, EvalSettings, Judge, Records, ScorerName, ScorerSpec, SearchSpec, evaluate,
};
use hicra_messages::{ChatMessage, Prompt};
use hicra_model::{CharTokenizer, Device, Generator, Llama, ModelConfig, cpu};
use hicra_tasks::boxed::BoxedChecker;
use hicra_train::TextCodec;

const ALPHABET: &str = "0123456789 \\{}boxedyesnYN\n";

pub(crate) fn policy(seed: u64) -> EvalPolicy {
    let tokenizer = CharTokenizer::new(ALPHABET);
    let config = ModelConfig {
        max_seq_len: 96,
        ..ModelConfig::tiny(tokenizer.vocab_size())
    };
    EvalPolicy {
        generator: Generator::new(Llama::init(&config, seed, &cpu())),
        codec: Arc::new(TextCodec::Chars(tokenizer)),
        version: 3,
        origin: format!("tiny-{seed}"),
    }
}

/// Problems whose answer is one digit: a random model gets some right by chance.
pub(crate) fn problems(n: usize) -> Vec<Prompt> {
    (0..n)
        .map(|i| {
            let question = format!("{i} {}", i % 3);
            Prompt {
                task: "digits".into(),
                messages: vec![ChatMessage::new("user", &question)],
                cursor: i as u64,
                ..Prompt::new(format!("p{i}"), question, format!("{}", i % 2))
            }
        })
        .collect()
}

fn settings() -> EvalSettings {
    EvalSettings {
        samples: 4,
        temperature: 1.0,
        max_new_tokens: 24,
        seed: 11,
        batch: 12,
        scorers: vec![ScorerSpec::Confidence, ScorerSpec::Verifier],
        ..EvalSettings::default()
    }
}

fn run(settings: &EvalSettings, prompts: &[Prompt]) -> (crate::Summary, Records) {
    let policy = policy(1);
    let job = EvalJob {
        policy: &policy,
        prompts,
        checker: &BoxedChecker,
        verifier: "verifier.boxed".into(),
        data: "digits".into(),
        settings,
        judge: None,
        prm: None,
        device: &cpu(),
    };
    evaluate(&job, &mut |_| {}).unwrap()
}

#[test]
fn one_seed_gives_one_summary_and_another_seed_another() {
    let prompts = problems(7);
    let (mut a, _) = run(&settings(), &prompts);
    let (mut b, _) = run(&settings(), &prompts);
    assert!(a.seconds.contains_key("sampling") && a.seconds.contains_key("total"));
    a.seconds.clear();
    b.seconds.clear();
    assert_eq!(a, b);
    let mut other = settings();
    other.seed = 12;
    let (mut c, _) = run(&other, &prompts);
    c.seconds.clear();
    c.seed = a.seed;
    assert_ne!(a.metrics, c.metrics, "another seed draws other responses");
}

/// Each response has its own stream: decoding 2 problems at a time or 3 changes none.
#[test]
fn the_batch_size_changes_no_response() {
    let prompts = problems(5);
    let responses = |batch: usize| {
        let (_, records) = run(
            &EvalSettings {
                batch,
                ..settings()
            },
            &prompts,
        );
        let Records::Sampled(records) = records else {
            panic!("sampling records expected")
        };
        records
            .into_iter()
            .map(|r| (r.problem, r.sample, r.response))
            .collect::<Vec<_>>()
    };
    let (a, b) = (responses(8), responses(12));
    assert_eq!(a, b);
    assert!(a.windows(2).any(|w| w[0].2 != w[1].2), "responses differ");
}

#[test]
fn the_figures_follow_from_the_records() {
    let prompts = problems(7);
    let (summary, records) = run(&settings(), &prompts);
    let Records::Sampled(records) = records else {
        panic!("sampling records expected")
    };
    assert_eq!(records.len(), 7 * 4);
    assert_eq!((summary.problems, summary.samples), (7, 4));
    let ks: Vec<&String> = summary
        .metrics
        .keys()
        .filter(|k| k.starts_with("pass@"))
        .collect();
    assert_eq!(ks, ["pass@1", "pass@2", "pass@4"]);
    let by_problem = |p: &Prompt| {
        records
            .iter()
            .filter(|r| r.problem == p.id)
            .collect::<Vec<_>>()
    };
    let n = prompts.len() as f64;
    let mean_correct = records.iter().filter(|r| r.correct).count() as f64 / records.len() as f64;
    assert!((summary.metrics["pass@1"] - mean_correct).abs() < 1e-12);
    let any = prompts
        .iter()
        .filter(|p| by_problem(p).iter().any(|r| r.correct))
        .count() as f64
        / n;
    assert!((summary.metrics["pass@4"] - any).abs() < 1e-12);
    // the oracle picks a correct response whenever there is one
    assert!((summary.metrics["best_of_4/verifier"] - any).abs() < 1e-12);
    assert!(summary.notes["best_of_4/verifier"].contains("oracle"));
    // majority: the responses marked as the winners agree with maj@4
    let maj = prompts
        .iter()
        .filter(|p| {
            let group = by_problem(p);
            group.iter().find(|r| r.majority).is_some_and(|r| r.correct)
        })
        .count() as f64
        / n;
    assert!((summary.metrics["maj@4"] - maj).abs() < 1e-12);
    for r in &records {
        let same = records
            .iter()
            .filter(|o| o.problem == r.problem && o.answer.is_some() && o.answer == r.answer)
            .count();
        assert_eq!(r.votes, if r.answer.is_some() { same } else { 0 });
        assert_eq!(r.scores.len(), 2);
    }
    // each scorer chose exactly one response per problem, the best it scored
    for p in &prompts {
        let group = by_problem(p);
        let chosen: Vec<_> = group
            .iter()
            .filter(|r| r.chosen_by.contains(&"confidence".to_string()))
            .collect();
        assert_eq!(chosen.len(), 1);
        let best = group
            .iter()
            .map(|r| r.scores["confidence"])
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(chosen[0].scores["confidence"], best);
    }
    let unparsed =
        records.iter().filter(|r| r.answer.is_none()).count() as f64 / records.len() as f64;
    assert_eq!(summary.metrics["unparsed_frac"], unparsed);
}

#[test]
fn the_judge_scores_do_not_depend_on_its_batch() {
    let prompts = problems(3);
    let texts = ["1", "so \\boxed{1}", "no no 9 0 seed"];
    let candidates: Vec<Candidate<'_>> = prompts
        .iter()
        .zip(texts)
        .map(|(prompt, text)| Candidate {
            prompt,
            text,
            logprobs: &[],
            correct: None,
        })
        .collect();
    let one = Judge::new(policy(2), cpu(), None, 1);
    assert!(
        one.is_err(),
        "the default template has letters this alphabet lacks"
    );
    let template = Some("{question}\n{solution}\nyes no\n".to_string());
    let one = Judge::new(policy(2), cpu(), template.clone(), 1).unwrap();
    let three = Judge::new(policy(2), cpu(), template, 3).unwrap();
    let (a, b) = (
        one.score(&candidates).unwrap(),
        three.score(&candidates).unwrap(),
    );
    for (x, y) in a.iter().zip(&b) {
        assert!((0.0..=1.0).contains(x));
        assert!((x - y).abs() < 1e-5, "padded batch {y} vs alone {x}");
    }
    assert!(
        a.windows(2).any(|w| w[0] != w[1]),
        "different solutions, different scores"
    );
}

/// Scores candidates by a fixed pseudo-random function of their text, and records every call.
#[derive(Default)]
pub(crate) struct Scripted {
    pub(crate) calls: RefCell<Vec<Vec<(String, f64)>>>,
    /// The kind it poses as (default `confidence`).
    pub(crate) name: Option<ScorerName>,
}

impl Scorer for Scripted {
    fn name(&self) -> ScorerName {
        self.name.unwrap_or(ScorerName::Confidence)
    }

    fn score(&self, candidates: &[Candidate<'_>]) -> Result<Vec<f64>, String> {
        let scores: Vec<f64> = candidates
            .iter()
            .map(|c| {
                let h = hicra_flow::derive_seed(7, c.text);
                (h % 1000) as f64 / 1000.0
            })
            .collect();
        self.calls.borrow_mut().push(
            candidates
                .iter()
                .map(|c| c.text.to_string())
                .zip(scores.iter().copied())
                .collect(),
        );
        Ok(scores)
    }
}

/// The step search of `settings.search` on `policy`, its candidates scored by `scorer` and
/// judged by their boxed answer.
pub(crate) fn step_search<'a>(
    policy: &'a EvalPolicy,
    settings: &'a EvalSettings,
    scorer: &'a dyn Scorer,
    device: &'a Device,
) -> StepSearch<'a> {
    StepSearch {
        policy,
        spec: settings.search.as_ref().expect("settings with a search"),
        settings,
        scorer,
        checker: &BoxedChecker,
        device,
    }
}

#[test]
fn beam_search_keeps_the_best_width_candidates_of_every_step() {
    let policy = policy(4);
    let prompts = problems(2);
    let mut spec: SearchSpec = "beam:2".parse().unwrap();
    spec.expand = 3;
    spec.steps = hicra_tasks::steps::Segmentation::Delimiter(" ".into());
    spec.step_tokens = 4;
    spec.max_steps = 4;
    let settings = EvalSettings {
        temperature: 1.0,
        max_new_tokens: 40,
        seed: 5,
        search: Some(spec),
        ..EvalSettings::default()
    };
    let (scorer, device) = (Scripted::default(), cpu());
    let search = step_search(&policy, &settings, &scorer, &device);
    let record = search.run(&prompts[0]).unwrap();
    let calls = scorer.calls.borrow();
    assert!(calls.len() >= 2, "the search ran more than one step");
    assert_eq!(
        calls[0].len(),
        2 * 3,
        "the first step draws width x expand candidates"
    );
    for step in calls.windows(2) {
        let (before, after) = (&step[0], &step[1]);
        let mut ranked: Vec<&(String, f64)> = before.iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let kept: Vec<&String> = ranked.iter().take(2).map(|(t, _)| t).collect();
        // every new candidate extends a kept one, and each kept one that is still open is
        // extended `expand` times
        for (text, _) in after {
            assert!(kept.iter().any(|k| text.starts_with(k.as_str())));
        }
        // (identical candidates merged: at most `expand` per kept path)
        assert!(!after.is_empty() && after.len() <= 2 * 3);
    }
    // the answer is the best-scored solution among those kept
    let all: Vec<&(String, f64)> = calls.iter().flatten().collect();
    let chosen = all
        .iter()
        .find(|(t, _)| *t == record.response)
        .expect("chosen was scored");
    assert_eq!(chosen.1, record.score);
    drop(calls);
    // the same seed searches the same way
    let again = search.run(&prompts[0]).unwrap();
    assert_eq!(again.response, record.response);
}

/// A `prm:PATH` scorer is the PRM the caller hands over; its figures are `best_of_K/prm`,
/// and a search scored by it names itself so.
#[test]
fn a_prm_scorer_is_the_one_the_job_brings() {
    let policy = policy(1);
    let prompts = problems(3);
    let prm = Scripted {
        name: Some(ScorerName::Prm),
        ..Scripted::default()
    };
    let mut settings = EvalSettings {
        scorers: vec![ScorerSpec::Confidence, ScorerSpec::Prm("runs/prm".into())],
        ..settings()
    };
    let job = |settings: &EvalSettings, prm: Option<&dyn Scorer>| {
        let job = EvalJob {
            policy: &policy,
            prompts: &prompts,
            checker: &BoxedChecker,
            verifier: "verifier.boxed".into(),
            data: "digits".into(),
            settings,
            judge: None,
            prm,
            device: &cpu(),
        };
        evaluate(&job, &mut |_| {})
    };
    let err = job(&settings, None).err().expect("no PRM loaded");
    assert!(err.contains("prm:runs/prm"), "{err}");
    let (summary, _) = job(&settings, Some(&prm)).unwrap();
    assert!(summary.metrics.contains_key("best_of_4/prm"));
    assert_eq!(summary.prm.as_deref(), Some("runs/prm"));
    assert!(!prm.calls.borrow().is_empty());
    let mut search: SearchSpec = "mcts:30".parse().unwrap();
    search.scorer = ScorerSpec::Prm("runs/prm".into());
    search.steps = "tokens:4".parse().unwrap();
    settings.search = Some(search);
    let (summary, records) = job(&settings, Some(&prm)).unwrap();
    assert_eq!(summary.search.as_deref(), Some("mcts:30/prm"));
    for key in ["tokens_drawn", "candidates_scored", "nodes", "iterations"] {
        assert!(
            summary
                .metrics
                .contains_key(&format!("search/mcts:30/prm/{key}")),
            "{key}: {:?}",
            summary.metrics.keys()
        );
    }
    let Records::Searched(records) = records else {
        panic!("search records expected")
    };
    assert!(records.iter().all(|r| r.tokens_drawn <= 30));
}
