//! The decode loop shared by plain sampling and branching: every live row picks a token from
//! its logits (its uniform number from its own stream), records it, stops on a stop token,
//! on the caller's stop check or at its own limit, and the rows still live pass their last
//! token through the model together for the next logits.

use super::cache::RowCache;
use super::choose;
use super::pass::{At, logits, on_workers, pass};
use super::weights::Weights;
use crate::draw::{SamplingParams, draws_uniforms};
use crate::sample::{RowStop, Sample};
use crate::streams::Streams;

/// How the rows of one decode are drawn.
pub(crate) struct Decode<'a> {
    pub params: &'a SamplingParams,
    /// Each row's stream (row `r` draws from `streams.uniform(r)`).
    pub streams: Streams,
    /// The most tokens each row may draw (0: the row draws nothing).
    pub limits: Vec<usize>,
    pub stop: RowStop<'a>,
}

/// Decodes every row of `caches` (each holding its row's history, the slot of the next
/// token free) from `first`: the logits `[rows, vocab]` of the rows whose limit is above 0,
/// in order. Returns one sample per row; a row of limit 0 gets an empty one.
pub(crate) fn decode(
    w: &Weights,
    first: Vec<f32>,
    caches: &mut [RowCache],
    mut how: Decode<'_>,
) -> Vec<Sample> {
    assert_eq!(how.limits.len(), caches.len(), "one limit per row");
    let (params, vocab) = (how.params, w.vocab);
    let mut samples = vec![Sample::default(); caches.len()];
    // the rows still generating, in order
    let mut live: Vec<usize> = (0..caches.len()).filter(|&r| how.limits[r] > 0).collect();
    assert_eq!(
        first.len(),
        live.len() * vocab,
        "first logits of every drawing row"
    );
    let mut logits_now = first;
    while !live.is_empty() {
        let uniforms: Vec<f64> = if draws_uniforms(params) {
            live.iter().map(|&row| how.streams.uniform(row)).collect()
        } else {
            Vec::new()
        };
        let picks = choose::pick(&logits_now, vocab, params, &uniforms);
        for (i, &row) in live.iter().enumerate() {
            let sample = &mut samples[row];
            let token = picks.tokens[i];
            sample.tokens.push(token);
            sample.logprobs.push(picks.logprobs[i]);
            sample.entropies.push(picks.entropies[i]);
            sample.stopped = params.stop_tokens.contains(&token) || (how.stop)(row, &sample.tokens);
        }
        live.retain(|&row| !samples[row].stopped && samples[row].tokens.len() < how.limits[row]);
        if live.is_empty() {
            break;
        }
        let tokens: Vec<u32> = live
            .iter()
            .map(|&row| *samples[row].tokens.last().expect("a token per step"))
            .collect();
        let at: Vec<At> = live
            .iter()
            .map(|&row| At {
                row,
                slot: caches[row].len,
            })
            .collect();
        logits_now = on_workers(|| logits(w, &pass(w, &tokens, &at, caches)));
    }
    samples
}
