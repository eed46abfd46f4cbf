//! One pass of some positions through the decoder: each position belongs to a row's cache
//! and sits at a slot of it; its keys and values are written there, and it attends over the
//! row's slots up to its own. A prefill is a pass over every prompt token (rows' tokens side
//! by side, no padding); a decode step is a pass over one new token per row. Both share the
//! products: one `[positions, hidden]` matrix per projection, whatever rows they belong to.

use rayon::prelude::*;

use super::attention::{Attend, Heads, attend};
use super::cache::RowCache;
use super::matmul::matmul;
use super::ops::{rms_norm, rope, silu_mul};
use super::weights::Weights;

/// Where a position goes: its row's cache and its slot there (= its RoPE position).
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub row: usize,
    pub slot: usize,
}

/// Attention of fewer multiply-adds than this (over all positions of a pass) runs on the
/// calling thread.
const SERIAL_ATTENTION: usize = 1 << 16;

/// The residual stream `[positions, hidden]` after every block (before the final norm) of
/// `tokens` placed at `at`; their keys and values are written into `caches`.
pub(crate) fn pass(w: &Weights, tokens: &[u32], at: &[At], caches: &mut [RowCache]) -> Vec<f32> {
    assert_eq!(tokens.len(), at.len(), "one place per token");
    let (n, d) = (tokens.len(), w.hidden);
    let (qw, kvw) = (w.q_width(), w.kv_width());
    let shape = Heads {
        heads: w.heads,
        kv_heads: w.kv_heads,
        head_dim: w.head_dim,
    };
    let mut x = Vec::with_capacity(n * d);
    for &t in tokens {
        let t = t as usize;
        x.extend_from_slice(&w.embedding[t * d..(t + 1) * d]);
    }
    let mut normed = vec![0.0; n * d];
    let mut qkv = vec![0.0; n * (qw + 2 * kvw)];
    let mut attended = vec![0.0; n * qw];
    let mut gate_up = vec![0.0; n * 2 * w.intermediate];
    let mut gated = vec![0.0; n * w.intermediate];
    let attention_work: usize = at.iter().map(|a| (a.slot + 1) * qw).sum();
    for (layer, b) in w.blocks.iter().enumerate() {
        rms_norm(&x, &b.attention_norm, w.eps, &mut normed);
        matmul(&normed, n, &b.qkv, &mut qkv, false);
        for (row, place) in qkv.chunks_exact_mut(qw + 2 * kvw).zip(at) {
            if let Some(bias) = &b.qkv_bias {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            let (q, kv) = row.split_at_mut(qw);
            let (k, v) = kv.split_at_mut(kvw);
            rope(q, w.head_dim, &w.cos, &w.sin, place.slot);
            rope(k, w.head_dim, &w.cos, &w.sin, place.slot);
            caches[place.row].write(layer, place.slot, k, v);
        }
        let caches: &[RowCache] = caches;
        let one = |(out, (row, place)): (&mut [f32], (&[f32], &At)), scores: &mut Vec<f32>| {
            let cache = &caches[place.row];
            let job = Attend {
                q: &row[..qw],
                cache,
                layer,
                slot: place.slot,
                scores,
                out,
            };
            attend(shape, job);
        };
        let rows = attended
            .chunks_exact_mut(qw)
            .zip(qkv.chunks_exact(qw + 2 * kvw).zip(at));
        if attention_work < SERIAL_ATTENTION {
            let mut scores = Vec::new();
            rows.for_each(|item| one(item, &mut scores));
        } else {
            rows.collect::<Vec<_>>()
                .into_par_iter()
                .for_each_init(Vec::new, |scores, item| one(item, scores));
        }
        matmul(&attended, n, &b.o, &mut x, true);
        rms_norm(&x, &b.mlp_norm, w.eps, &mut normed);
        matmul(&normed, n, &b.gate_up, &mut gate_up, false);
        silu_mul(&gate_up, w.intermediate, &mut gated);
        matmul(&gated, n, &b.down, &mut x, true);
    }
    for place in at {
        let cache = &mut caches[place.row];
        cache.len = cache.len.max(place.slot + 1);
    }
    x
}

/// Runs `f` on a thread of the pool. Products share out their work from there, to workers
/// still spinning from the previous product; from any other thread each product would hand
/// its work to the pool and wake it anew (at batch 1, a tenth of a decode step went to
/// sleeping and waking threads).
pub(crate) fn on_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Logits `[rows, vocab]` of residual-stream rows `[rows, hidden]`: final norm, then head.
pub(crate) fn logits(w: &Weights, x: &[f32]) -> Vec<f32> {
    let rows = x.len() / w.hidden;
    let mut normed = vec![0.0; x.len()];
    rms_norm(x, &w.norm, w.eps, &mut normed);
    let mut out = vec![0.0; rows * w.vocab];
    matmul(&normed, rows, &w.head, &mut out, false);
    out
}
