//! The search's rules on a tiny random character model: identical candidates merge, each path
//! steps within its own budget (a cut step marked truncated) whatever is sampled beside it,
//! and the lookahead records every log-probability at the sampling temperature.

use hicra_model::{cpu, score_tempered};
use hicra_tasks::steps::Segmentation;

use super::paths::Budget;

use super::*;
use crate::tests::{Scripted, policy, problems, step_search};

pub(super) fn settings(temperature: f32, max_new_tokens: usize, spec: &SearchSpec) -> EvalSettings {
    EvalSettings {
        temperature,
        max_new_tokens,
        seed: 3,
        search: Some(spec.clone()),
        ..EvalSettings::default()
    }
}

pub(super) fn spec(text: &str, step_tokens: usize, delimiter: &str) -> SearchSpec {
    let mut spec: SearchSpec = text.parse().unwrap();
    spec.expand = 3;
    spec.step_tokens = step_tokens;
    spec.steps = Segmentation::Delimiter(delimiter.into());
    spec.max_steps = 3;
    spec
}

/// At temperature 0 every draw from one path is the same: the beam scores one candidate
/// per path, not `width * expand` copies of it.
#[test]
fn identical_candidates_are_merged_before_scoring() {
    let policy = policy(4);
    let settings = settings(0.0, 30, &spec("beam:2", 4, " "));
    let (scorer, device) = (Scripted::default(), cpu());
    let search = step_search(&policy, &settings, &scorer, &device);
    let record = search.run(&problems(1)[0]).unwrap();
    let calls = scorer.calls.borrow();
    assert!(calls.iter().all(|c| c.len() == 1), "{calls:?}");
    assert_eq!(record.candidates_scored, calls.len());
}

/// A path near the end of the budget (or of the context) takes a short step, marked
/// truncated; a short path beside it takes its whole step, the same as alone.
#[test]
fn each_path_steps_within_its_own_room() {
    let policy = policy(5);
    let prompt = &problems(1)[0];
    let prompt_ids = policy.codec.encode_prompt(prompt).unwrap();
    let context = policy.generator.model().max_seq_len();
    // "@" is not in the alphabet: steps end at `step_tokens` or a stop token
    let spec = spec("beam:1", 6, "@");
    let long_path = |tokens: usize| Path {
        tokens: vec![2; tokens],
        logprobs: vec![-1.0; tokens],
        text: "0".repeat(tokens),
        steps: 1,
        ..Path::default()
    };
    let budget = 30;
    let by_context = context - prompt_ids.len() - 3;
    // (budget, long path's tokens): the budget leaves it 2 tokens, then the context does
    for (max_new, used) in [(budget, budget - 2), (200, by_context)] {
        let settings = settings(1.0, max_new, &spec);
        let (scorer, device) = (Scripted::default(), cpu());
        let search = step_search(&policy, &settings, &scorer, &device);
        let params = search.params(1.0);
        let paths = [Path::default(), long_path(used)];
        let (mut drawn, seeds) = (Budget::default(), [7, 8]);
        let both = search
            .extend(&prompt_ids, &paths, 4, &params, &seeds, &mut drawn)
            .unwrap();
        let alone = search
            .extend(
                &prompt_ids,
                &paths[..1],
                4,
                &params,
                &seeds[..1],
                &mut drawn,
            )
            .unwrap();
        let (short, long) = (&both[0], &both[1]);
        let alone = &alone[0];
        for (a, b) in short.iter().zip(alone) {
            assert_eq!(
                a.tokens, b.tokens,
                "a path's step does not depend on the batch"
            );
        }
        assert!(
            short
                .iter()
                .any(|p| !p.finished && p.tokens.len() == 6 && !p.truncated),
            "the short path takes whole steps: {short:?}"
        );
        for p in long {
            if !p.finished {
                assert_eq!(p.tokens.len(), used + 2, "max_new {max_new}");
                assert!(p.truncated, "a step cut by the budget is marked");
            }
        }
        assert!(long.iter().any(|p| !p.finished));
    }
}

/// The lookahead's continuation is recorded at the sampling temperature, as the candidate's
/// own step is: every log-probability the scorer compares is one of `softmax(logits / T)`.
#[test]
fn the_lookahead_scores_at_the_sampling_temperature() {
    let policy = policy(6);
    let prompt = &problems(1)[0];
    let prompt_ids = policy.codec.encode_prompt(prompt).unwrap();
    let spec = spec("lookahead:2:2", 4, "@");
    let temperature = 0.5;
    let settings = settings(temperature, 40, &spec);
    let (scorer, device) = (Scripted::default(), cpu());
    let search = step_search(&policy, &settings, &scorer, &device);
    let params = search.params(temperature);
    let mut drawn = Budget::default();
    let seeds = [1, 2];
    let candidates = search
        .extend(
            &prompt_ids,
            &[Path::default(), Path::default()],
            2,
            &params,
            &seeds,
            &mut drawn,
        )
        .unwrap()
        .concat();
    let ahead = search
        .ahead(&prompt_ids, &candidates, (9, 0), &mut drawn)
        .unwrap();
    let model = policy.generator.model();
    let mut continued = 0;
    for (c, a) in candidates.iter().zip(&ahead) {
        assert_eq!(a.tokens[..c.tokens.len()], c.tokens[..]);
        continued += usize::from(a.tokens.len() > c.tokens.len());
        let scored = score_tempered(model, &[(&prompt_ids, &a.tokens)], &[temperature], &cpu());
        let want: Vec<f32> = scored.logprobs.into_data().to_vec().unwrap();
        for (k, (got, want)) in a.logprobs.iter().zip(&want).enumerate() {
            assert!((got - want).abs() < 1e-4, "token {k}: {got} vs {want}");
        }
    }
    assert!(continued > 0, "some candidates were continued");
}
