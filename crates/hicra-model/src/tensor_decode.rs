//! Generation through burn tensors (every device but the f32 CPU): [`sample_on_tensors`]
//! prefills the prompts together once (left-padded, the output head only on each prompt's
//! last position) and repeats each prompt's logits and cache for its `n` samples; then one
//! decode loop, shared with branching ([`crate::branch_on_tensors`]), runs every row.
//!
//! Every row of the batch picks a token from its logits on the device ([`crate::draw`]) with
//! the next uniform number of its own stream, records it, and is done on a stop token, on the
//! caller's stop check or at its own limit; the rows still live pass their last token through
//! the model together for the next logits. A done row keeps decoding (its tokens discarded,
//! no number taken from its stream) until a quarter of the batch is done; then the batch is
//! compacted to the live rows, which costs one copy of the cache and makes every later step
//! cheaper.
//!
//! When asked to, the loop keeps every row's cache ([`TensorRows`]): the rows a compaction
//! drops are selected out of the batch's cache first, and the rows still in the batch at the
//! end keep the batch's cache. A kept row's cache holds at least its prompt and response but
//! the last token (a done row left in the batch also holds the tokens it decoded after, which
//! nobody reads).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::draw::{SamplingParams, draws_uniforms, pick};
use crate::kv_cache::KvCache;
use crate::llama::Llama;
use crate::next_token::prefill_last;
use crate::sample::{RowStop, Sample, SampleRequest};
use crate::streams::Streams;
use crate::tensor_rows::TensorRows;

/// [`crate::Generator::sample`] through burn tensor ops on any backend (the path every device
/// but the f32 CPU takes; see [`crate::native`] for that one). The prompts are checked by the
/// caller.
pub fn sample_on_tensors<B: Backend>(
    model: &Llama<B>,
    request: &SampleRequest,
    device: &B::Device,
) -> Vec<Vec<Sample>> {
    let stop = |_: usize, tokens: &[u32]| (request.stop)(tokens);
    prefill_and_decode(model, request, &stop, false, device).0
}

/// The tensor path's sampling: the prompts prefilled together once (left-padded), each
/// prompt's logits and cache repeated for its `n` samples, then one [`decode`] of every row
/// (`stop(p * n + j, tokens)` ends row `j` of prompt `p`), keeping every row's cache when
/// `keep`.
pub(crate) fn prefill_and_decode<B: Backend>(
    model: &Llama<B>,
    request: &SampleRequest,
    stop: RowStop<'_>,
    keep: bool,
    device: &B::Device,
) -> (Vec<Vec<Sample>>, Option<TensorRows<B>>) {
    let streams = request.streams();
    let Some(max_new) = request.room(model.max_seq_len()) else {
        return (vec![Vec::new(); request.prompts.len()], None);
    };
    let SampleRequest {
        prompts, n, params, ..
    } = *request;
    let head = model.inference_head();
    let (last, cache) = prefill_last(model, prompts, device);
    let logits = model.project(last, head.clone());
    let [rows, _, vocab] = logits.dims();
    let logits = logits.reshape([rows, vocab]);
    let (logits, cache) = repeat_rows(logits, cache, n, device);
    let how = Decode {
        params,
        streams,
        limits: vec![max_new; prompts.len() * n],
        stop,
        keep,
    };
    let (samples, kept) = decode(model, head, logits, cache, how, device);
    let mut samples = samples.into_iter();
    let groups = (0..prompts.len())
        .map(|_| samples.by_ref().take(n).collect())
        .collect();
    (groups, kept)
}

/// How the rows of one decode are drawn.
pub(crate) struct Decode<'a> {
    pub params: &'a SamplingParams,
    /// Each row's stream (row `r` draws from `streams.uniform(r)`).
    pub streams: Streams,
    /// The most tokens each row may draw (0: the row draws nothing).
    pub limits: Vec<usize>,
    pub stop: RowStop<'a>,
    /// Keep every row's cache (for branching).
    pub keep: bool,
}

/// Decodes every row of `cache` from `logits: [rows, vocab]` (each row's next-token logits,
/// its cache holding everything before that token) through `head`. Returns one sample per row
/// (a row of limit 0 gets an empty one) and, when [`Decode::keep`], every row's cache.
pub(crate) fn decode<B: Backend>(
    model: &Llama<B>,
    head: Tensor<B, 2>,
    mut logits: Tensor<B, 2>,
    mut cache: KvCache<B>,
    mut how: Decode<'_>,
    device: &B::Device,
) -> (Vec<Sample>, Option<TensorRows<B>>) {
    let params = how.params;
    let total = how.limits.len();
    let vocab = logits.dims()[1];
    let mut samples = vec![Sample::default(); total];
    let mut done: Vec<bool> = how.limits.iter().map(|&limit| limit == 0).collect();
    let mut kept = how.keep.then(|| TensorRows::new(total));
    // batch row -> row
    let mut live = Live::new(total);
    while !done.iter().all(|&d| d) {
        let uniforms: Vec<f64> = if draws_uniforms(params) {
            // a done row's pick is discarded: it takes no number from its stream
            live.rows
                .iter()
                .map(|&i| if done[i] { 0.0 } else { how.streams.uniform(i) })
                .collect()
        } else {
            Vec::new()
        };
        let picks = pick(logits, params, &uniforms, device);
        let mut next = Vec::with_capacity(live.rows.len());
        for (row, &i) in live.rows.iter().enumerate() {
            let token = picks.tokens[row];
            if !done[i] {
                let sample = &mut samples[i];
                sample.tokens.push(token);
                sample.logprobs.push(picks.logprobs[row]);
                sample.entropies.push(picks.entropies[row]);
                sample.stopped =
                    params.stop_tokens.contains(&token) || (how.stop)(i, &sample.tokens);
                done[i] = sample.stopped || sample.tokens.len() >= how.limits[i];
            }
            next.push(i64::from(token));
        }
        if done.iter().all(|&d| d) {
            break;
        }
        if let Some((stay, left)) = live.compact(&done) {
            if let Some(kept) = kept.as_mut() {
                let rows: Vec<usize> = left.iter().map(|&row| live.rows[row]).collect();
                kept.add(cache.select_rows(&left, device), &rows);
            }
            live.keep(&stay);
            cache = cache.select_rows(&stay, device);
            next = stay.iter().map(|&row| next[row]).collect();
        }
        let rows = live.rows.len();
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [rows, 1]), device);
        logits = model
            .forward_with_head(input, Some(&mut cache), head.clone())
            .reshape([rows, vocab]);
    }
    if let Some(kept) = kept.as_mut() {
        kept.add(cache, &live.rows);
    }
    (samples, kept)
}

/// Every row of `logits: [rows, vocab]` and of `cache` repeated `n` times in place (`[a, b]`
/// -> `[a, a, b, b]`): one prefix's next-token logits and cache shared by its `n` samples.
pub(crate) fn repeat_rows<B: Backend>(
    logits: Tensor<B, 2>,
    cache: KvCache<B>,
    n: usize,
    device: &B::Device,
) -> (Tensor<B, 2>, KvCache<B>) {
    let rows = logits.dims()[0];
    let index: Vec<i64> = (0..rows as i64)
        .flat_map(|r| std::iter::repeat_n(r, n))
        .collect();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [rows * n]), device);
    (logits.select(0, index), cache.repeat_rows(n, device))
}

/// The rows still in a decoding batch, by batch row.
struct Live {
    rows: Vec<usize>,
}

impl Live {
    fn new(total: usize) -> Self {
        Self {
            rows: (0..total).collect(),
        }
    }

    /// When a quarter of the batch is done: the batch rows that stay and those that leave.
    fn compact(&self, done: &[bool]) -> Option<(Vec<usize>, Vec<usize>)> {
        let (left, stay): (Vec<usize>, Vec<usize>) =
            (0..self.rows.len()).partition(|&row| done[self.rows[row]]);
        (!left.is_empty() && left.len() * 4 >= self.rows.len()).then_some((stay, left))
    }

    /// Keeps only batch rows `stay`, in that order.
    fn keep(&mut self, stay: &[usize]) {
        self.rows = stay.iter().map(|&row| self.rows[row]).collect();
    }
}
