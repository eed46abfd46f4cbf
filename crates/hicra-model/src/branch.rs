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
//! On the host path ([`crate::native`]) each row keeps its KV cache, and a branch's children
//! reuse it: each copies its parent's cache up to the branch point, one decode pass over the
//! prefix's last token gives all children of all branches their first logits together, and
//! they decode as plain samples do; the prefix is never prefilled again. Memory: a kept host
//! row holds a cache of prompt + `max_new_tokens` slots (a child's, prefix + the tokens it may
//! draw), so drop [`KeptRows`] that will not be branched again.
//!
//! The tensor path ([`branch_on_tensors`], every device but the f32 CPU) keeps only the
//! sequences and does not reuse the parent's cache yet: it samples each branch's prefix as a
//! prompt through [`crate::sample_on_tensors`]'s loop, one call per group of branches with
//! the same room (the same `at`, where `max_seq_len` does not bind), so each prefix is
//! prefilled once per branch point and its cache repeated for its `n` children.

use std::fmt;

use burn::tensor::backend::Backend;

use crate::generator::Generator;
use crate::llama::Llama;
use crate::native::{Fork, RowCache};
use crate::sample::{
    Sample, SampleRequest, SamplingParams, check_prompts, sample_on_tensors, sample_rows_on_tensors,
};
use crate::streams::Streams;

#[cfg(test)]
#[path = "branch_tests.rs"]
mod tests;

/// Rows a generator sampled, kept so they can be continued: each row's whole sequence
/// (prompt + response) and its prompt length, and on the host path its KV cache.
pub struct KeptRows {
    sequences: Vec<Vec<u32>>,
    prompt_lens: Vec<usize>,
    /// Host path: each row's cache, holding at least its sequence but the last token.
    caches: Option<Vec<RowCache>>,
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

impl KeptRows {
    /// Rows of `groups` (prompt-major, sample-minor), each `prompt` + its sample's tokens.
    fn new<'p>(
        prompts: impl IntoIterator<Item = (&'p [u32], usize)>,
        groups: &[Vec<Sample>],
        caches: Option<Vec<RowCache>>,
    ) -> Self {
        let (mut sequences, mut prompt_lens) = (Vec::new(), Vec::new());
        for ((prefix, prompt_len), group) in prompts.into_iter().zip(groups) {
            for sample in group {
                sequences.push([prefix, &sample.tokens].concat());
                prompt_lens.push(prompt_len);
            }
        }
        if let Some(caches) = &caches {
            assert_eq!(caches.len(), sequences.len(), "one cache per row");
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
    fn children(
        &self,
        branches: &[Branch],
        groups: &[Vec<Sample>],
        caches: Option<Vec<RowCache>>,
    ) -> Self {
        let prompts = branches
            .iter()
            .map(|b| (self.prefix(b), self.prompt_lens[b.row]));
        Self::new(prompts, groups, caches)
    }
}

impl fmt::Debug for KeptRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lengths: Vec<(usize, usize)> = (0..self.len())
            .map(|r| (self.prompt_lens[r], self.response(r).len()))
            .collect();
        f.debug_struct("KeptRows")
            .field("prompt_and_response_lengths", &lengths)
            .field("host_caches", &self.caches.is_some())
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
    ) -> (Vec<Vec<Sample>>, KeptRows) {
        let prompts = request.prompts.iter().map(|p| (*p, p.len()));
        if !check_prompts(self.model(), request) {
            let groups = vec![Vec::new(); request.prompts.len()];
            let kept = KeptRows::new(prompts, &groups, None);
            return (groups, kept);
        }
        let (groups, caches) = match self.native() {
            Some(native) => {
                let (groups, caches) = native.sample_keeping(request);
                (groups, Some(caches))
            }
            None => (sample_on_tensors(self.model(), request, device), None),
        };
        let kept = KeptRows::new(prompts, &groups, caches);
        (groups, kept)
    }

    /// `n` children per branch. Each child's [`Sample`] holds only its new tokens (from
    /// response position `at` on), with their log-probabilities and entropies; a child may
    /// draw at most `params.max_new_tokens - at` tokens (so a whole response never exceeds
    /// `max_new_tokens`), fewer where `max_seq_len` leaves less room; `stop` sees the child's
    /// whole response so far (the parent's first `at` tokens, then the new ones). A child
    /// with no room gets an empty sample (`stopped` false). Returns the samples
    /// `[branch][child]` and the children's kept rows (branch-major, child-minor), each
    /// holding its whole sequence (prompt + the parent's first `at` response tokens + new
    /// tokens) so they can be branched again. On the host path the children continue the
    /// parent's cache; elsewhere each branch's prefix is prefilled once ([`branch_on_tensors`]).
    /// Panics on a branch of a row out of range or at a position past its row's response.
    pub fn branch(
        &self,
        kept: &KeptRows,
        branches: &[Branch],
        n: usize,
        params: &SamplingParams,
        stop: &dyn Fn(&[u32]) -> bool,
        device: &B::Device,
    ) -> (Vec<Vec<Sample>>, KeptRows) {
        let (native, caches) = match (self.native(), &kept.caches) {
            (Some(native), Some(caches)) if n > 0 => (native, caches),
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
        let children = kept.children(branches, &groups, Some(caches));
        (groups, children)
    }
}

/// [`Generator::branch`] through burn tensor ops (the path every device but the f32 CPU
/// takes; tests force it on the CPU). It does not reuse the parent's cache yet: the branches
/// are sampled as prompts (their prefixes) through [`crate::sample_on_tensors`]'s loop, one
/// call per group of branches of the same room, so each prefix is prefilled once and its
/// cache repeated for its `n` children. The children keep only their sequences.
pub fn branch_on_tensors<B: Backend>(
    model: &Llama<B>,
    kept: &KeptRows,
    branches: &[Branch],
    n: usize,
    params: &SamplingParams,
    stop: &dyn Fn(&[u32]) -> bool,
    device: &B::Device,
) -> (Vec<Vec<Sample>>, KeptRows) {
    let prefixes: Vec<&[u32]> = branches.iter().map(|b| kept.prefix(b)).collect();
    let rooms: Vec<usize> = branches
        .iter()
        .zip(&prefixes)
        .map(|(b, p)| room(params, model.max_seq_len(), p.len(), b.at))
        .collect();
    let mut groups = vec![vec![Sample::default(); n]; branches.len()];
    let mut distinct: Vec<usize> = rooms.iter().copied().filter(|&r| r > 0).collect();
    distinct.sort_unstable();
    distinct.dedup();
    for max_new_tokens in distinct {
        let members: Vec<usize> = (0..branches.len())
            .filter(|&i| rooms[i] == max_new_tokens)
            .collect();
        let prompts: Vec<&[u32]> = members.iter().map(|&i| prefixes[i]).collect();
        let seeds: Vec<u64> = members.iter().map(|&i| branches[i].seed).collect();
        let heads: Vec<&[u32]> = members
            .iter()
            .map(|&i| &kept.response(branches[i].row)[..branches[i].at])
            .collect();
        let params = SamplingParams {
            max_new_tokens,
            ..params.clone()
        };
        let request = SampleRequest::new(&prompts, n, &params, &seeds);
        let stop = whole_stop(&heads, n, stop);
        let sampled = sample_rows_on_tensors(model, &request, &stop, device);
        for (i, group) in members.into_iter().zip(sampled) {
            groups[i] = group;
        }
    }
    let children = kept.children(branches, &groups, None);
    (groups, children)
}
