//! Generation with a KV cache. On the CPU in f32 it runs on host vectors ([`crate::native`]);
//! elsewhere through burn tensors ([`crate::sample_on_tensors`]), as follows: each prompt is
//! prefilled once (the output head only on its last position), its cache repeated for the G
//! samples of its group, then all G continue in one batch; rows that finish leave the batch as
//! it goes (`tensor_decode.rs`, the loop branching shares). Each step's token, its
//! log-probability and the entropy of the distribution it was drawn from are computed on the
//! device ([`crate::draw`]); the host supplies the seeded random numbers and reads three
//! numbers per row. Each response draws from its own random stream ([`crate::streams`]): a
//! row still generating takes the next uniform number of its stream, a finished row waiting
//! for the batch to be compacted takes none, so the tokens are those the host path draws.
//!
//! Both figures are taken from the *tempered* distribution `softmax(logits / T)` over the whole
//! vocabulary (T = 1 for greedy decoding), the one the learner's scorer computes for the same
//! temperature ([`crate::score_tempered`]), so sampler and learner agree at every temperature.
//! Top-k and top-p only restrict the draw: the recorded log-probability stays that of the
//! full tempered distribution, not of the renormalised nucleus, so it is one the learner can
//! recompute exactly (verl and TRL make the same choice); a truncated draw is then slightly
//! off-policy, which `importance_correction` does not see. Sample with `top_k = 0` and
//! `top_p = 1` (the defaults) for exact on-policy training.

pub use crate::draw::SamplingParams;
use crate::llama::Llama;
use crate::streams::Streams;
use burn::tensor::backend::Backend;

/// A stop check that knows the row: `stop(row, tokens drawn so far)`.
pub(crate) type RowStop<'a> = &'a dyn Fn(usize, &[u32]) -> bool;

/// One generated response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub entropies: Vec<f32>,
    /// Ended on a stop token (otherwise it hit `max_new_tokens`).
    pub stopped: bool,
}

/// What one call samples: `n` responses to each of `prompts` (token ids, each non-empty),
/// those of prompt `p` drawn from the seed `seeds[p]` ([`crate::streams`]), each ending at a
/// stop token, after `params.max_new_tokens`, or as soon as `stop(tokens so far)` says so
/// (stop strings: see [`stop_strings`]).
#[derive(Clone, Copy)]
pub struct SampleRequest<'a> {
    pub prompts: &'a [&'a [u32]],
    pub n: usize,
    pub params: &'a SamplingParams,
    pub stop: &'a dyn Fn(&[u32]) -> bool,
    pub seeds: &'a [u64],
}

impl<'a> SampleRequest<'a> {
    /// `n` responses to each of `prompts`, ended by stop tokens and the length limit alone.
    pub fn new(
        prompts: &'a [&'a [u32]],
        n: usize,
        params: &'a SamplingParams,
        seeds: &'a [u64],
    ) -> Self {
        Self {
            prompts,
            n,
            params,
            stop: &never,
            seeds,
        }
    }

    /// The same request, each response also ending as soon as `stop(tokens so far)` says so.
    pub fn until(self, stop: &'a dyn Fn(&[u32]) -> bool) -> Self {
        Self { stop, ..self }
    }

    /// The longest prompt, in tokens (0 without prompts).
    fn longest(&self) -> usize {
        self.prompts.iter().map(|p| p.len()).max().unwrap_or(0)
    }

    /// Tokens each response may take: `params.max_new_tokens`, fewer where the longest prompt
    /// leaves less room in `max_seq_len`; `None` when there is nothing to draw (no prompt, or
    /// `n == 0`).
    pub(crate) fn room(&self, max_seq_len: usize) -> Option<usize> {
        let longest = self.longest();
        (longest > 0 && self.n > 0).then(|| {
            self.params
                .max_new_tokens
                .min(max_seq_len.saturating_sub(longest))
        })
    }

    /// One random stream per response. Panics unless there is one seed per prompt.
    pub(crate) fn streams(&self) -> Streams {
        Streams::new(self.seeds, self.prompts.len(), self.n)
    }
}

fn never(_: &[u32]) -> bool {
    false
}

/// Panics on an empty prompt or one that leaves no room to generate; `false` when there is
/// nothing to generate.
pub(crate) fn check_prompts<B: Backend>(model: &Llama<B>, request: &SampleRequest) -> bool {
    assert!(
        request.prompts.iter().all(|p| !p.is_empty()),
        "a prompt needs at least one token"
    );
    let longest = request.longest();
    assert!(
        longest < model.max_seq_len(),
        "a prompt of {longest} tokens leaves no room to generate within max_seq_len {}",
        model.max_seq_len()
    );
    longest > 0 && request.n > 0
}

/// A stop check that fires once the decoded text of a response contains one of `strings`
/// (only the last few tokens are decoded each time, enough to hold the longest string).
pub fn stop_strings<'a>(
    tokenizer: &'a hicra_pretrained::Tokenizer,
    strings: &'a [String],
) -> impl Fn(&[u32]) -> bool + 'a {
    let window = strings.iter().map(|s| s.len()).max().unwrap_or(0) + 1;
    move |tokens: &[u32]| {
        if strings.is_empty() {
            return false;
        }
        let tail = &tokens[tokens.len().saturating_sub(window)..];
        let text = tokenizer.decode(tail, false).unwrap_or_default();
        strings.iter().any(|s| text.contains(s.as_str()))
    }
}
