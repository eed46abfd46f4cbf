//! The step scorers `hicra eval` already has, measured like a PRM: every step prefix of
//! labelled solutions ([`hicra_prm::labels`]) scored as a partial solution, so the judge's and
//! the policy's confidence's step and response AUCs ([`hicra_prm::ranking`]) stand next to a
//! trained PRM's on the same steps. Confidence needs the policy's log-probability of each
//! token: they come from one teacher-forced pass over each whole response (at temperature 1).

use hicra_messages::Prompt;
use hicra_model::{Device, score};
use hicra_prm::labels::LabelledSolution;

use crate::policy::EvalPolicy;
use crate::scorer::{Candidate, Scorer};

/// One score per step of each record: `scorer`'s score of the solution up to that step.
pub fn prefix_scores(
    policy: &EvalPolicy,
    scorer: &dyn Scorer,
    records: &[LabelledSolution],
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f64>>, String> {
    let mut out = Vec::with_capacity(records.len());
    for (done, r) in records.iter().enumerate() {
        let (logprobs, ends) = token_logprobs(policy, &r.prompt, &r.steps, device)?;
        let texts: Vec<String> = (0..r.steps.len()).map(|i| r.steps[..=i].concat()).collect();
        let candidates: Vec<Candidate<'_>> = texts
            .iter()
            .zip(&ends)
            .map(|(text, &end)| Candidate {
                prompt: &r.prompt,
                text,
                logprobs: &logprobs[..end.min(logprobs.len())],
                correct: None,
            })
            .collect();
        out.push(scorer.score(&candidates)?);
        progress(done + 1);
    }
    Ok(out)
}

/// The policy's log-probability of each token of the response made of `steps`, and per step
/// the number of tokens up to its end.
fn token_logprobs(
    policy: &EvalPolicy,
    prompt: &Prompt,
    steps: &[String],
    device: &Device,
) -> Result<(Vec<f32>, Vec<usize>), String> {
    let codec = &policy.codec;
    let prompt_ids = codec.encode_prompt(prompt)?;
    let mut ids = codec.encode_response(&steps.concat())?;
    ids.pop(); // the stop token: the steps are text
    let (text, spans) = codec.decode_with_spans(&ids)?;
    let mut byte_ends = Vec::with_capacity(steps.len());
    let mut at = 0;
    for s in steps {
        at += s.len();
        byte_ends.push(at.min(text.len()));
    }
    // per step, the tokens that start before its end (a token holding the ends of two steps
    // ends both)
    let ends: Vec<usize> = byte_ends
        .iter()
        .map(|&end| spans.iter().take_while(|s| s.0 < end).count())
        .collect();
    if ids.is_empty() {
        return Ok((Vec::new(), vec![0; steps.len()]));
    }
    let model = policy.generator.model();
    if prompt_ids.len() + ids.len() > model.max_seq_len() {
        return Err(format!(
            "problem `{}`: {} tokens do not fit the policy's {} positions (raise --max-seq-len)",
            prompt.id,
            prompt_ids.len() + ids.len(),
            model.max_seq_len()
        ));
    }
    let scored = score(model, &[(&prompt_ids, &ids)], device);
    let logprobs = scored
        .logprobs
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| format!("reading log-probabilities: {e:?}"))?;
    Ok((logprobs, ends))
}
