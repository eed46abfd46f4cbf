//! Grouped-query attention of one position over its row's cache: the scores of its query
//! heads against the keys of slots `0..=slot`, a softmax in f32, and the weighted sum of the
//! values; the `group` query heads that share a key/value head read it in place.

use super::cache::RowCache;

/// The shape of the heads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// `out: [heads * head_dim]` for the query `q: [heads * head_dim]` at `slot` of `cache`'s
/// layer `layer` (slots `0..=slot` visible: causal). `scores` is scratch of at least
/// `slot + 1` entries.
pub(crate) fn attend(
    shape: Heads,
    q: &[f32],
    cache: &RowCache,
    layer: usize,
    slot: usize,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = shape;
    let group = heads / kv_heads;
    let kv_width = kv_heads * head_dim;
    let visible = slot + 1;
    let (keys, values) = cache.layer(layer, visible);
    let scale = (head_dim as f32).sqrt();
    scores.clear();
    scores.resize(visible, 0.0);
    for h in 0..heads {
        let kv = (h / group) * head_dim;
        let q = &q[h * head_dim..(h + 1) * head_dim];
        let mut max = f32::NEG_INFINITY;
        for (s, score) in scores.iter_mut().enumerate() {
            let k = &keys[s * kv_width + kv..s * kv_width + kv + head_dim];
            *score = dot(q, k) / scale;
            max = max.max(*score);
        }
        let mut total = 0.0;
        for score in scores.iter_mut() {
            *score = (*score - max).exp();
            total += *score;
        }
        let out = &mut out[h * head_dim..(h + 1) * head_dim];
        out.fill(0.0);
        for (s, &weight) in scores.iter().enumerate() {
            let weight = weight / total;
            let v = &values[s * kv_width + kv..s * kv_width + kv + head_dim];
            for (o, &v) in out.iter_mut().zip(v) {
                *o += weight * v;
            }
        }
    }
}

/// A dot product in eight independent lanes (so the compiler vectorises it).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, a_rest) = a.split_at(a.len() / 8 * 8);
    let (b8, b_rest) = b.split_at(a8.len());
    for (a, b) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += a[i] * b[i];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}
