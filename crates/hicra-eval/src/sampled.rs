//! K independent samples per problem, drawn by the training sampler (`sampler.policy`'s own
//! batch code, so an evaluator stage and `hicra eval` with the same seed draw the same
//! responses), judged by the verifier's checker, grouped for pass@k and majority vote, and
//! ranked by each scorer for best-of-K.
//!
//! Problems are sampled in chunks of `batch / samples`, every chunk by a sampler with the
//! evaluation seed as its stage seed: each response draws from its own stream, derived from
//! (seed, policy version, problem id, sample index) by the sampler's rule
//! (`hicra_train::sampler`), so the chunk size does not change a single response. Every
//! response is drawn at the one sampling temperature and records its log-probabilities at
//! it (1 for greedy), so the `confidence` scorer's best-of-K compares like with like.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use hicra_messages::{FinishReason, Prompt};
use hicra_model::Device;
use hicra_prm::auc::roc_auc;
use hicra_tasks::answers::Checker;
use hicra_tasks::grading::{Vote, grade_groups, majority_vote};
use hicra_train::SamplerConfig;
use hicra_train::sampler::Sampler;
use serde::Serialize;

use crate::policy::EvalPolicy;
use crate::scorer::{Candidate, Scorer, best_index};
use crate::settings::EvalSettings;

/// One judged response, as written to `responses.jsonl`.
#[derive(Clone, Debug, Serialize)]
pub struct ResponseRecord {
    pub problem: String,
    /// The sample's index within its problem's group.
    pub sample: usize,
    pub response: String,
    /// The answer the verifier read (`null`: none, which counts as wrong).
    pub answer: Option<String>,
    pub gold: String,
    pub correct: bool,
    /// Why it is not correct, in the verifier's words.
    pub reason: Option<String>,
    pub tokens: usize,
    pub truncated: bool,
    /// Responses of the group that share this one's answer (itself included).
    pub votes: usize,
    /// This response's answer won the group's majority vote.
    pub majority: bool,
    /// Each scorer's score.
    pub scores: BTreeMap<String, f64>,
    /// The scorers whose best-of-K pick this response is.
    pub chosen_by: Vec<String>,
}

/// What sampling and grading measured.
pub struct SampledOutcome {
    pub metrics: BTreeMap<String, f64>,
    pub records: Vec<ResponseRecord>,
    pub seconds: BTreeMap<String, f64>,
}

/// The sampler settings of an evaluation.
fn sampler_config(settings: &EvalSettings, problems: usize) -> SamplerConfig {
    SamplerConfig {
        prompts_per_step: problems.max(1),
        group_size: settings.samples,
        max_new_tokens: settings.max_new_tokens,
        temperature: settings.temperature,
        top_p: settings.top_p,
        top_k: settings.top_k,
        eval_every: 1,
        device: settings.device,
        dtype: settings.dtype,
        ..SamplerConfig::default()
    }
}

/// Samples, judges and grades every problem; `progress` hears the problems done so far.
pub fn sample_and_grade(
    policy: &EvalPolicy,
    prompts: &[Prompt],
    checker: &dyn Checker,
    settings: &EvalSettings,
    scorers: &[&dyn Scorer],
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<SampledOutcome, String> {
    let per_chunk = (settings.batch / settings.samples).max(1);
    let mut seconds: BTreeMap<String, f64> = BTreeMap::new();
    let mut records = Vec::with_capacity(prompts.len() * settings.samples);
    let mut grades: Vec<(Vec<bool>, Vote)> = Vec::with_capacity(prompts.len());
    let mut picks: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for chunk in prompts.chunks(per_chunk) {
        let started = Instant::now();
        let sampler = Sampler::for_policy(
            sampler_config(settings, chunk.len()),
            settings.seed,
            policy.version,
            policy.generator.model().clone(),
            policy.codec.clone(),
            device.clone(),
        );
        let arcs: Vec<Arc<Prompt>> = chunk.iter().cloned().map(Arc::new).collect();
        let batch = sampler
            .sample(&arcs, policy.version, true)
            .map_err(|e| e.to_string())?;
        *seconds.entry("sampling".into()).or_default() += started.elapsed().as_secs_f64();
        for group in &batch.groups {
            let started = Instant::now();
            let prompt = group.prompt.as_ref();
            let verdicts: Vec<_> = group
                .rollouts
                .iter()
                .map(|r| checker.judge(prompt, &r.text))
                .collect();
            let answers: Vec<Option<&str>> = verdicts.iter().map(|v| v.answer.as_deref()).collect();
            let vote = majority_vote(&answers, |a, b| checker.same_answer(prompt, a, b));
            let correct: Vec<bool> = verdicts.iter().map(|v| v.correct).collect();
            *seconds.entry("verifying".into()).or_default() += started.elapsed().as_secs_f64();
            let candidates: Vec<Candidate<'_>> = group
                .rollouts
                .iter()
                .zip(&correct)
                .map(|(r, &ok)| Candidate {
                    prompt,
                    text: &r.text,
                    logprobs: &r.logprobs,
                    correct: Some(ok),
                })
                .collect();
            let mut scores: Vec<BTreeMap<String, f64>> = vec![BTreeMap::new(); candidates.len()];
            let mut chosen: Vec<Vec<String>> = vec![Vec::new(); candidates.len()];
            for scorer in scorers {
                let started = Instant::now();
                let name = scorer.name().to_string();
                let values = scorer.score(&candidates)?;
                *seconds.entry(format!("scoring/{name}")).or_default() +=
                    started.elapsed().as_secs_f64();
                for (s, v) in scores.iter_mut().zip(&values) {
                    s.insert(name.clone(), *v);
                }
                let best = best_index(&values).expect("a group has responses");
                chosen[best].push(name.clone());
                picks.entry(name).or_default().push(correct[best]);
            }
            let winner = vote.winner;
            for (j, ((r, v), (s, c))) in group
                .rollouts
                .iter()
                .zip(&verdicts)
                .zip(scores.into_iter().zip(chosen))
                .enumerate()
            {
                records.push(ResponseRecord {
                    problem: prompt.id.clone(),
                    sample: j,
                    response: r.text.clone(),
                    answer: v.answer.clone(),
                    gold: prompt.answer.clone(),
                    correct: v.correct,
                    reason: v.reason.clone(),
                    tokens: r.tokens.len(),
                    truncated: r.finish == Some(FinishReason::Length),
                    votes: vote.votes_of(j),
                    majority: winner.is_some() && vote.class_of[j] == winner,
                    scores: s,
                    chosen_by: c,
                });
            }
            grades.push((correct, vote));
        }
        progress(records.len() / settings.samples);
    }
    let mut metrics = BTreeMap::new();
    let graded = grade_groups(grades.iter().map(|(c, v)| (c.as_slice(), v)));
    for (k, p) in &graded.pass_at {
        metrics.insert(format!("pass@{k}"), *p);
    }
    metrics.insert(format!("maj@{}", graded.samples), graded.majority);
    for (name, hits) in &picks {
        let share = hits.iter().filter(|h| **h).count() as f64 / hits.len().max(1) as f64;
        metrics.insert(format!("best_of_{}/{name}", settings.samples), share);
    }
    metrics.extend(scorer_aucs(&records, settings.samples));
    let n = records.len().max(1) as f64;
    let share =
        |f: &dyn Fn(&ResponseRecord) -> bool| records.iter().filter(|r| f(r)).count() as f64 / n;
    metrics.insert(
        "response_length/mean".into(),
        records.iter().map(|r| r.tokens as f64).sum::<f64>() / n,
    );
    metrics.insert("truncated_frac".into(), share(&|r| r.truncated));
    metrics.insert("unparsed_frac".into(), share(&|r| r.answer.is_none()));
    Ok(SampledOutcome {
        metrics,
        records,
        seconds,
    })
}

/// How well each scorer ranks right above wrong responses: `auc/NAME` over all responses
/// (which also rewards telling easy problems from hard ones) and `auc_within/NAME`, the mean
/// AUC inside the problems that have both right and wrong responses, which is what best-of-K
/// and search depend on (`auc_within/NAME/problems` counts them). The oracle is left out.
fn scorer_aucs(records: &[ResponseRecord], samples: usize) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let names: Vec<&String> = records
        .first()
        .map(|r| r.scores.keys().collect())
        .unwrap_or_default();
    for name in names.into_iter().filter(|n| *n != "verifier") {
        let score = |r: &ResponseRecord| r.scores.get(name).copied().unwrap_or(f64::NAN);
        let all: Vec<f64> = records.iter().map(score).collect();
        let right: Vec<bool> = records.iter().map(|r| r.correct).collect();
        if let Some(a) = roc_auc(&all, &right) {
            out.insert(format!("auc/{name}"), a.auc);
        }
        let within: Vec<f64> = records
            .chunks(samples.max(1))
            .filter_map(|group| {
                let s: Vec<f64> = group.iter().map(score).collect();
                let c: Vec<bool> = group.iter().map(|r| r.correct).collect();
                roc_auc(&s, &c).map(|a| a.auc)
            })
            .collect();
        if !within.is_empty() {
            out.insert(
                format!("auc_within/{name}"),
                within.iter().sum::<f64>() / within.len() as f64,
            );
            out.insert(format!("auc_within/{name}/problems"), within.len() as f64);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(problem: &str, correct: bool, score: f64) -> ResponseRecord {
        ResponseRecord {
            problem: problem.into(),
            sample: 0,
            response: String::new(),
            answer: None,
            gold: String::new(),
            correct,
            reason: None,
            tokens: 1,
            truncated: false,
            votes: 1,
            majority: false,
            scores: [("prm".to_string(), score), ("verifier".to_string(), 0.0)].into(),
            chosen_by: Vec::new(),
        }
    }

    #[test]
    fn a_scorer_that_knows_problems_but_not_responses_ranks_well_only_across_problems() {
        // problem a is easy (scores high), b is hard: across problems the score separates
        // right from wrong, within each problem it ranks the wrong response first
        let records = [
            record("a", true, 0.8),
            record("a", false, 0.9),
            record("b", true, 0.1),
            record("b", false, 0.2),
            record("c", true, 0.95),
            record("c", true, 0.95),
        ];
        let m = scorer_aucs(&records, 2);
        // positives 0.8 0.1 0.95 0.95 against negatives 0.9 0.2: 5 of 8 pairs
        assert_eq!(m["auc/prm"], 5.0 / 8.0);
        assert_eq!(m["auc_within/prm"], 0.0);
        assert_eq!(m["auc_within/prm/problems"], 2.0);
        assert!(!m.contains_key("auc/verifier"));
    }
}
