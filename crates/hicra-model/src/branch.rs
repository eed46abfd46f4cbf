//! # Continuing sampled responses from a prefix (tree sampling)
//!
//! [`Generator::sample_kept`] samples as [`Generator::sample`] does and keeps the rows it drew
//! ([`KeptRows`]); [`Generator::branch`] then draws `n` children of chosen rows, each
//! continuing its row after the row's first `at` response tokens ([`Branch`]). The children
//! are kept rows too, so a tree grows level by level.
//!
//! A child is exactly what plain sampling from its prefix draws: the streams of a branch call
//! are those of a [`SampleRequest`] whose prompts are the branches' prefixes (prompt + first
//! `at` response tokens), whose seeds are the branches' seeds and whose group size is `n`, so
//! child `j` of a branch of seed `s` draws from [`crate::response_rng`]`(s, j)`. A child may
//! draw at most `max_new_tokens - at` tokens, so that a whole response never exceeds
//! `max_new_tokens` (fewer where `max_seq_len` leaves less room after its prefix), and the
//! stop check sees its whole response (the parent's first `at` tokens, then its own).
//!
//! Children continue their parent's KV cache on both paths; the prefix is never prefilled
//! again. On the host path ([`crate::native`]) each row keeps its own cache: each child copies
//! its parent's up to the branch point, one decode pass over the prefix's last token gives all
//! children of all branches their first logits together, and they decode as plain samples do.
//! On the tensor path ([`branch_on_tensors`], every device but the f32 CPU) the rows' caches
//! are kept in chunks as rows leave the decoding batch (`tensor_rows.rs`); a branch call
//! gathers each branch's prefix (its first `prompt + at - 1` slots) from them into one batch
//! cache, left-padded to the longest prefix, passes the prefixes' last tokens through the
//! model once, repeats each branch's logits and cache for its `n` children and decodes them
//! in one batch, each child with its own limit. Memory: kept rows hold their caches (a host row
//! prompt + `max_new_tokens` slots, a child's prefix + the tokens it may draw; a tensor row what
//! it decoded), so drop [`KeptRows`] that will not be branched again.

use std::fmt;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::generator::Generator;
use crate::llama::Llama;
use crate::native::{Fork, RowCache};
use crate::sample::{Sample, SampleRequest, SamplingParams, check_prompts};
use crate::streams::Streams;
use crate::tensor_decode::{Decode, decode, prefill_and_decode, repeat_rows};
use crate::tensor_rows::TensorRows;

#[cfg(test)]
#[path = "branch_tests.rs"]
mod tests;

/// Rows a generator sampled, kept so they can be continued: each row's whole sequence
/// (prompt + response), its prompt length and its KV cache.
pub struct KeptRows<B: Backend> {
    sequences: Vec<Vec<u32>>,
    prompt_lens: Vec<usize>,
    caches: Caches<B>,
}

/// Each kept row's cache, holding at least its sequence but the last token.
enum Caches<B: Backend> {
    /// No rows were sampled.
    None,
    Host(Vec<RowCache>),
    Tensors(TensorRows<B>),
}

impl<B: Backend> Caches<B> {
    fn rows(&self) -> Option<usize> {
        match self {
            Caches::None => None,
            Caches::Host(caches) => Some(caches.len()),
            Caches::Tensors(rows) => Some(rows.len()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Caches::None => "none",
            Caches::Host(_) => "host",
            Caches::Tensors(_) => "tensors",
        }
    }
}

/// Continue kept row `row` after its first `at` response tokens (`at` <= that response's
/// length), drawing children from seed `seed`: child `j` draws from
/// [`crate::response_rng`]`(seed, j)`.
#[derive(Clone, Copy, Debug)]
pub struct Branch {
    pub row: usize,
    pub at: usize,
    pub seed: u64,
}

impl<B: Backend> KeptRows<B> {
    /// Rows of `groups` (prompt-major, sample-minor), each `prompt` + its sample's tokens.
    fn new<'p>(
        prompts: impl IntoIterator<Item = (&'p [u32], usize)>,
        groups: &[Vec<Sample>],
        caches: Caches<B>,
    ) -> Self {
        let (mut sequences, mut prompt_lens) = (Vec::new(), Vec::new());
        for ((prefix, prompt_len), group) in prompts.into_iter().zip(groups) {
            for sample in group {
                sequences.push([prefix, &sample.tokens].concat());
                prompt_lens.push(prompt_len);
            }
        }
        if let Some(rows) = caches.rows() {
            assert_eq!(rows, sequences.len(), "one cache per row");
        }
        Self {
            sequences,
            prompt_lens,
            caches,
        }
    }

    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// Row `row`'s prompt and response.
    pub fn sequence(&self, row: usize) -> &[u32] {
        &self.sequences[row]
    }

    pub fn prompt_len(&self, row: usize) -> usize {
        self.prompt_lens[row]
    }

    /// Row `row`'s response (its sequence after the prompt).
    pub fn response(&self, row: usize) -> &[u32] {
        &self.sequences[row][self.prompt_lens[row]..]
    }

    /// The prefix `branch` continues (prompt + first `at` response tokens). Panics on a row
    /// out of range or an `at` past the row's response.
    fn prefix(&self, branch: &Branch) -> &[u32] {
        let Branch { row, at, .. } = *branch;
        assert!(
            row < self.len(),
            "branch of row {row}, but {} rows are kept",
            self.len()
        );
        let response = self.response(row).len();
        assert!(
            at <= response,
            "branch at {at} past row {row}'s response of {response} tokens"
        );
        &self.sequences[row][..self.prompt_lens[row] + at]
    }

    /// The children of `branches` (branch-major, child-minor), each its prefix + its tokens.
    fn children(&self, branches: &[Branch], groups: &[Vec<Sample>], caches: Caches<B>) -> Self {
        let prompts = branches
            .iter()
            .map(|b| (self.prefix(b), self.prompt_lens[b.row]));
        Self::new(prompts, groups, caches)
    }
}

impl<B: Backend> fmt::Debug for KeptRows<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lengths: Vec<(usize, usize)> = (0..self.len())
            .map(|r| (self.prompt_lens[r], self.response(r).len()))
            .collect();
        f.debug_struct("KeptRows")
            .field("prompt_and_response_lengths", &lengths)
            .field("caches", &self.caches.kind())
            .finish()
    }
}

/// The most tokens a child of `branch` may draw: `max_new_tokens - at`, fewer where
/// `max_seq_len` leaves less room after the prefix.
fn room(params: &SamplingParams, max_seq_len: usize, prefix: usize, at: usize) -> usize {
    let room = max_seq_len.saturating_sub(prefix);
    params.max_new_tokens.saturating_sub(at).min(room)
}

/// `stop` on whole responses, for rows of `n` children of each of `heads` (the responses'
/// first tokens, shared by a branch's children).
fn whole_stop<'a>(
    heads: &'a [&'a [u32]],
    n: usize,
    stop: &'a dyn Fn(&[u32]) -> bool,
) -> impl Fn(usize, &[u32]) -> bool + 'a {
    move |row, tokens| match heads[row / n] {
        [] => stop(tokens),
        head => stop(&[head, tokens].concat()),
    }
}

/// Samples grouped by branch, `n` each.
fn grouped(samples: Vec<Sample>, n: usize) -> Vec<Vec<Sample>> {
    samples.chunks(n.max(1)).map(<[Sample]>::to_vec).collect()
}

impl<B: Backend> Generator<B> {
    /// As [`sample`](Generator::sample), also keeping the rows (prompt-major, sample-minor:
    /// row `p * n + j`) so they can be branched.
    pub fn sample_kept(
        &self,
        request: &SampleRequest,
        device: &B::Device,
    ) -> (Vec<Vec<Sample>>, KeptRows<B>) {
        match self.native() {
            Some(native) if check_prompts(self.model(), request) => {
                let (groups, caches) = native.sample_keeping(request);
                let prompts = request.prompts.iter().map(|p| (*p, p.len()));
                let kept = KeptRows::new(prompts, &groups, Caches::Host(caches));
                (groups, kept)
            }
            _ => sample_kept_on_tensors(self.model(), request, device),
        }
    }

    /// `n` children per branch. Each child's [`Sample`] holds only its new tokens (from
    /// response position `at` on), with their log-probabilities and entropies; a child may
    /// draw at most `params.max_new_tokens - at` tokens (so a whole response never exceeds
    /// `max_new_tokens`), fewer where `max_seq_len` leaves less room; `stop` sees the child's
    /// whole response so far (the parent's first `at` tokens, then the new ones). A child
    /// with no room gets an empty sample (`stopped` false). Returns the samples
    /// `[branch][child]` and the children's kept rows (branch-major, child-minor), each
    /// holding its whole sequence (prompt + the parent's first `at` response tokens + new
    /// tokens) so they can be branched again. The children continue their parent's cache, on
    /// the host path or on the tensor path ([`branch_on_tensors`]), whichever kept the rows.
    /// Panics on a branch of a row out of range or at a position past its row's response.
    pub fn branch(
        &self,
        kept: &KeptRows<B>,
        branches: &[Branch],
        n: usize,
        params: &SamplingParams,
        stop: &dyn Fn(&[u32]) -> bool,
        device: &B::Device,
    ) -> (Vec<Vec<Sample>>, KeptRows<B>) {
        let (native, caches) = match (self.native(), &kept.caches) {
            (Some(native), Caches::Host(caches)) if n > 0 => (native, caches),
            _ => return branch_on_tensors(self.model(), kept, branches, n, params, stop, device),
        };
        let max_seq_len = self.model().max_seq_len();
        let forks: Vec<Fork<'_>> = branches
            .iter()
            .map(|b| {
                let prefix = kept.prefix(b);
                Fork {
                    cache: &caches[b.row],
                    prefix,
                    limit: room(params, max_seq_len, prefix.len(), b.at),
                }
            })
            .collect();
        let heads: Vec<&[u32]> = branches
            .iter()
            .map(|b| &kept.response(b.row)[..b.at])
            .collect();
        let seeds: Vec<u64> = branches.iter().map(|b| b.seed).collect();
        let streams = Streams::new(&seeds, branches.len(), n);
        let stop = whole_stop(&heads, n, stop);
        let (samples, caches) = native.branch(&forks, n, params, streams, &stop);
        let groups = grouped(samples, n);
        let children = kept.children(branches, &groups, Caches::Host(caches));
        (groups, children)
    }
}

/// [`Generator::sample_kept`] through burn tensor ops (the path every device but the f32 CPU
/// takes; tests force it on the CPU): the rows' caches are kept for [`branch_on_tensors`].
pub fn sample_kept_on_tensors<B: Backend>(
    model: &Llama<B>,
    request: &SampleRequest,
    device: &B::Device,
) -> (Vec<Vec<Sample>>, KeptRows<B>) {
    let (groups, caches) = if check_prompts(model, request) {
        let stop = |_: usize, tokens: &[u32]| (request.stop)(tokens);
        let (groups, rows) = prefill_and_decode(model, request, &stop, true, device);
        (groups, rows.map_or(Caches::None, Caches::Tensors))
    } else {
        (vec![Vec::new(); request.prompts.len()], Caches::None)
    };
    let prompts = request.prompts.iter().map(|p| (*p, p.len()));
    let kept = KeptRows::new(prompts, &groups, caches);
    (groups, kept)
}

/// [`Generator::branch`] through burn tensor ops (the path every device but the f32 CPU
/// takes; tests force it on the CPU) for rows kept by [`sample_kept_on_tensors`] or by an
/// earlier call: the branches' prefixes are gathered from the kept caches into one batch
/// (`tensor_rows.rs`), their last tokens passed through the model once, each branch's
/// logits and cache repeated for its `n` children, and the children decoded together, each
/// with its own room; their caches are kept in turn. Panics on rows kept by the host path
/// (branch those with [`Generator::branch`]), on a branch of a row out of range or past its
/// row's response.
pub fn branch_on_tensors<B: Backend>(
    model: &Llama<B>,
    kept: &KeptRows<B>,
    branches: &[Branch],
    n: usize,
    params: &SamplingParams,
    stop: &dyn Fn(&[u32]) -> bool,
    device: &B::Device,
) -> (Vec<Vec<Sample>>, KeptRows<B>) {
    let prefixes: Vec<&[u32]> = branches.iter().map(|b| kept.prefix(b)).collect();
    if n == 0 || branches.is_empty() {
        let groups = vec![Vec::new(); branches.len()];
        let children = kept.children(branches, &groups, Caches::None);
        return (groups, children);
    }
    let Caches::Tensors(rows) = &kept.caches else {
        panic!("rows kept by the host path branch there (Generator::branch)");
    };
    let rooms: Vec<usize> = branches
        .iter()
        .zip(&prefixes)
        .map(|(b, p)| room(params, model.max_seq_len(), p.len(), b.at))
        .collect();
    // every prefix but its last token, from the parent's cache; then that token
    let wanted: Vec<(usize, usize)> = branches
        .iter()
        .zip(&prefixes)
        .map(|(b, p)| (b.row, p.len() - 1))
        .collect();
    let mut cache = rows.prefixes(&wanted, model.blocks.len(), device);
    let last: Vec<i64> = prefixes.iter().map(|p| i64::from(p[p.len() - 1])).collect();
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(last, [branches.len(), 1]), device);
    let head = model.inference_head();
    let logits = model.forward_with_head(input, Some(&mut cache), head.clone());
    let vocab = logits.dims()[2];
    let logits = logits.reshape([branches.len(), vocab]);
    let (logits, cache) = repeat_rows(logits, cache, n, device);
    let heads: Vec<&[u32]> = branches
        .iter()
        .map(|b| &kept.response(b.row)[..b.at])
        .collect();
    let seeds: Vec<u64> = branches.iter().map(|b| b.seed).collect();
    let stop = whole_stop(&heads, n, stop);
    let how = Decode {
        params,
        streams: Streams::new(&seeds, branches.len(), n),
        limits: rooms
            .iter()
            .flat_map(|&r| std::iter::repeat_n(r, n))
            .collect(),
        stop: &stop,
        keep: true,
    };
    let (samples, rows) = decode(model, head, logits, cache, how, device);
    let groups = grouped(samples, n);
    let caches = rows.map_or(Caches::None, Caches::Tensors);
    let children = kept.children(branches, &groups, caches);
    (groups, children)
}
