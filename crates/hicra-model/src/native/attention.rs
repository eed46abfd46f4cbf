//! Grouped-query attention of one position over its row's cache: the scores of its query
//! heads against the keys of slots `0..=slot`, a softmax in f32, and the weighted sum of the
//! values. The `group` query heads that share a key/value head are handled together, so
//! each key row and each value row is read once for all of them; scores are accumulated
//! over the transposed keys (contiguous over slots) and compiled for the CPU's vector width
//! ([`simd_dispatch`](super::kernels)).

use super::cache::RowCache;
use super::kernels::{LANES, simd_dispatch};

/// The shape of the heads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// One position's attention: its query `q: [heads * head_dim]` at `slot` of `cache`'s layer
/// `layer` (slots `0..=slot` visible: causal), the `out: [heads * head_dim]` it fills, and
/// `scores`, scratch.
pub(crate) struct Attend<'a> {
    pub q: &'a [f32],
    pub cache: &'a RowCache,
    pub layer: usize,
    pub slot: usize,
    pub scores: &'a mut Vec<f32>,
    pub out: &'a mut [f32],
}

simd_dispatch! {
    /// Fills `job.out` (see [`Attend`]).
    pub(crate) fn attend(shape: Heads, job: Attend<'_>) => attend_body
}

#[inline(always)]
fn attend_body(shape: Heads, job: Attend<'_>) {
    let Attend {
        q,
        cache,
        layer,
        slot,
        scores,
        out,
    } = job;
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = shape;
    let group = heads / kv_heads;
    let kv_width = kv_heads * head_dim;
    let visible = slot + 1;
    let capacity = cache.capacity();
    let (keys, values) = cache.layer(layer, visible);
    let scale = (head_dim as f32).sqrt();
    scores.clear();
    scores.resize(group * visible, 0.0);
    for g in 0..kv_heads {
        let keys = &keys[g * head_dim * capacity..(g + 1) * head_dim * capacity];
        for (i, scores) in scores.chunks_exact_mut(visible).enumerate() {
            let query = &q[(g * group + i) * head_dim..][..head_dim];
            dots(query, keys, capacity, scores);
            softmax(scores, scale);
        }
        for (i, weights) in scores.chunks_exact(visible).enumerate() {
            let out = &mut out[(g * group + i) * head_dim..][..head_dim];
            let values = &values[g * head_dim..];
            weighted_sum(weights, values, kv_width, out);
        }
    }
}

/// Independent partial sums per chunk (a sum is a chain of dependent adds otherwise).
const CHAINS: usize = 4;

/// `sum_j scale[j] * rows(j)` for `j < scale.len()`, `rows(j)` a chunk of `LANES`, in
/// [`CHAINS`] interleaved partial sums.
#[inline(always)]
fn chunk_sum<'a>(scale: &[f32], rows: impl Fn(usize) -> &'a [f32]) -> [f32; LANES] {
    let mut acc = [[0.0f32; LANES]; CHAINS];
    let add = |acc: &mut [f32; LANES], j: usize| {
        let row: &[f32; LANES] = rows(j)[..LANES].try_into().expect("a chunk");
        for (a, &r) in acc.iter_mut().zip(row) {
            *a += scale[j] * r;
        }
    };
    let whole = scale.len() / CHAINS * CHAINS;
    for j0 in (0..whole).step_by(CHAINS) {
        for (c, acc) in acc.iter_mut().enumerate() {
            add(acc, j0 + c);
        }
    }
    for j in whole..scale.len() {
        add(&mut acc[0], j);
    }
    let mut sum = acc[0];
    for part in &acc[1..] {
        sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
    }
    sum
}

/// `scores[s] = sum_d query[d] * keys[d * stride + s]`, for the slots of `scores`; `stride`
/// (the cache's capacity) is a multiple of [`LANES`], so every chunk lies within `keys`.
#[inline(always)]
fn dots(query: &[f32], keys: &[f32], stride: usize, scores: &mut [f32]) {
    for s0 in (0..scores.len()).step_by(LANES) {
        let sums = chunk_sum(query, |d| &keys[d * stride + s0..]);
        let end = (s0 + LANES).min(scores.len());
        scores[s0..end].copy_from_slice(&sums[..end - s0]);
    }
}

/// `scores <- softmax(scores / scale)`.
#[inline(always)]
fn softmax(scores: &mut [f32], scale: f32) {
    let mut max = f32::NEG_INFINITY;
    for s in scores.iter_mut() {
        *s /= scale;
        max = max.max(*s);
    }
    let mut total = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        total += *s;
    }
    scores.iter_mut().for_each(|s| *s /= total);
}

/// `out[d] = sum_s weights[s] * values[s * stride + d]`.
#[inline(always)]
fn weighted_sum(weights: &[f32], values: &[f32], stride: usize, out: &mut [f32]) {
    let whole = out.len() / LANES * LANES;
    for d0 in (0..whole).step_by(LANES) {
        out[d0..d0 + LANES].copy_from_slice(&chunk_sum(weights, |s| &values[s * stride + d0..]));
    }
    for (d, o) in out.iter_mut().enumerate().skip(whole) {
        *o = weights
            .iter()
            .enumerate()
            .map(|(s, &w)| w * values[s * stride + d])
            .sum();
    }
}
