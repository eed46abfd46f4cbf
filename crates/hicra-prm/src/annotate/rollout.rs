//! Monte-Carlo roll-outs: `K` completions drawn after each of a batch of step prefixes (one
//! shared prefill per prefix, or `K` separate ones, as the settings' [`Sharing`] says), each
//! judged as part of its whole response, with what the draw cost.

use std::time::Instant;

use hicra_flow::derive_seed;
use hicra_messages::Prompt;
use hicra_model::{Sample, SampleRequest};
use hicra_tasks::answers::Checker;

use super::{AnnotateSettings, Completer, Cost, Sharing};

/// One step prefix of a response to finish: the prompt, then the response's first `used`
/// tokens.
#[derive(Clone, Copy, Debug)]
pub struct Prefix<'a> {
    /// The problem (the checker judges completions against its answer).
    pub prompt: &'a Prompt,
    /// The prompt as the completer reads it.
    pub prompt_ids: &'a [u32],
    /// The response's tokens (at least `used` of them).
    pub tokens: &'a [u32],
    /// Response tokens the prefix keeps: the end of a step.
    pub used: usize,
    /// The seed of the prefix's completions.
    pub seed: u64,
}

/// What the completions of one prefix came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rolled {
    /// Completions the checker judged correct, as part of the whole response.
    pub correct: usize,
    /// Completions drawn: `settings.completions`, or 0 where none had room.
    pub drawn: usize,
}

/// Draws `settings.completions` completions of each of `prefixes` in one request (shared or
/// separate prefills, as `settings.sharing`) and judges each with `checker` as part of its
/// whole response (prefix + completion). A completion takes what its prefix leaves of
/// `settings.max_new_tokens` and of the completer's positions. Adds the draw's cost (prefixes,
/// prefill and completion tokens, seconds) to `cost`. The labelling's own rollouts go through
/// here; `reward.process` uses it to score the steps of training responses.
pub fn roll_out(
    completer: &dyn Completer,
    checker: &dyn Checker,
    prefixes: &[Prefix<'_>],
    settings: &AnnotateSettings,
    cost: &mut Cost,
) -> Result<Vec<Rolled>, String> {
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let s = settings;
    let k = s.completions;
    let context = completer.context();
    let ids: Vec<Vec<u32>> = prefixes
        .iter()
        .map(|p| {
            p.prompt_ids
                .iter()
                .chain(&p.tokens[..p.used])
                .copied()
                .collect()
        })
        .collect();
    let rooms: Vec<usize> = prefixes
        .iter()
        .zip(&ids)
        .map(|(p, prefix)| {
            s.max_new_tokens
                .saturating_sub(p.used)
                .min(context.saturating_sub(prefix.len() + 1))
        })
        .collect();
    let widest = rooms.iter().copied().max().unwrap_or(0);
    let seeds: Vec<u64> = prefixes.iter().map(|p| p.seed).collect();
    let started = Instant::now();
    let completions: Vec<Vec<Sample>> = if widest == 0 {
        vec![Vec::new(); prefixes.len()]
    } else {
        draw(completer, s, &ids, widest, &seeds)
    };
    cost.complete_seconds += started.elapsed().as_secs_f64();
    let prefill: usize = ids.iter().map(Vec::len).sum();
    cost.prefill_tokens_unshared += prefill * k;
    cost.prefill_tokens += match s.sharing {
        Sharing::Shared => prefill,
        Sharing::Separate => prefill * k,
    };
    cost.prefixes += prefixes.len();
    let mut out = Vec::with_capacity(prefixes.len());
    for ((x, p), mut samples) in prefixes.iter().enumerate().zip(completions) {
        let mut correct = 0usize;
        for sample in &mut samples {
            sample.tokens.truncate(rooms[x]);
            cost.completion_tokens += sample.tokens.len();
            let mut whole: Vec<u32> = p.tokens[..p.used].to_vec();
            whole.extend(&sample.tokens);
            let (text, _) = completer.codec().decode_with_spans(&whole)?;
            correct += usize::from(checker.judge(p.prompt, &text).correct);
        }
        out.push(Rolled {
            correct,
            drawn: samples.len(),
        });
    }
    Ok(out)
}

/// `K` completions of each prefix, shared or separate prefills.
fn draw(
    completer: &dyn Completer,
    s: &AnnotateSettings,
    prefixes: &[Vec<u32>],
    room: usize,
    seeds: &[u64],
) -> Vec<Vec<Sample>> {
    let k = s.completions;
    let params = s.params(completer.codec(), room);
    match s.sharing {
        Sharing::Shared => {
            let refs: Vec<&[u32]> = prefixes.iter().map(Vec::as_slice).collect();
            completer.draw(&SampleRequest::new(&refs, k, &params, seeds))
        }
        Sharing::Separate => {
            let refs: Vec<&[u32]> = prefixes
                .iter()
                .flat_map(|p| std::iter::repeat_n(p.as_slice(), k))
                .collect();
            let copies: Vec<u64> = seeds
                .iter()
                .flat_map(|&seed| (0..k).map(move |c| derive_seed(seed, &c.to_string())))
                .collect();
            let flat = completer.draw(&SampleRequest::new(&refs, 1, &params, &copies));
            flat.chunks(k)
                .map(|c| c.iter().flat_map(|v| v.iter().cloned()).collect())
                .collect()
        }
    }
}
