//! Causal grouped-query attention over sequences laid side by side (no padding), and its
//! backward pass. One task per (sequence, key/value head) handles the query heads sharing
//! that key/value head, so a task alone writes its keys' and values' gradients; within a task
//! each head's products (`Q K^T`, `P V`, and in the backward `dO V^T`, `dS K`, `dS^T Q`,
//! `P^T dO`) are whole-sequence matrix products on the calling thread, read in place through
//! strides (the causal upper half is computed and zeroed: at these lengths a dense product is
//! cheaper than skipping it). The probabilities are not stored: the forward keeps each
//! query's log-sum-exp and the backward recomputes `p_ij = exp(q_i . k_j / sqrt(d) - lse_i)`.

use rayon::prelude::*;

use super::elementwise::fast_exp;
use crate::native::gemm::{Mat, product_here};
use crate::native::kernels::simd_dispatch;
use crate::native::shared::SharedMut;

/// Where a sequence's positions sit in the `[positions, ..]` buffers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub start: usize,
    pub len: usize,
}

/// The head layout.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl Shape {
    fn q_width(self) -> usize {
        self.heads * self.head_dim
    }

    fn kv_width(self) -> usize {
        self.kv_heads * self.head_dim
    }

    fn group(self) -> usize {
        self.heads / self.kv_heads
    }
}

/// One task per (sequence, key/value head).
fn tasks(shape: Shape, spans: &[Span]) -> Vec<(Span, usize)> {
    spans
        .iter()
        .flat_map(|&s| (0..shape.kv_heads).map(move |g| (s, g)))
        .collect()
}

/// The forward pass: `out: [positions, q_width]` and `lse: [positions, heads]` from rotated
/// `q: [positions, q_width]`, `k`, `v: [positions, kv_width]`.
pub(super) fn forward(
    shape: Shape,
    spans: &[Span],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    lse: &mut [f32],
) {
    let positions = spans.iter().map(|s| s.start + s.len).max().unwrap_or(0);
    assert!(out.len() >= positions * shape.q_width() && lse.len() >= positions * shape.heads);
    let (out_ptr, lse_ptr) = (SharedMut::new(out), SharedMut::new(lse));
    tasks(shape, spans).into_par_iter().for_each(|(span, g)| {
        let job = Job {
            shape,
            span,
            g,
            q,
            k,
            v,
        };
        // SAFETY: this task alone writes the rows of `span` at the heads of group `g`.
        forward_task(job, out_ptr, lse_ptr);
    });
}

/// One task's inputs.
#[derive(Clone, Copy)]
struct Job<'a> {
    shape: Shape,
    span: Span,
    /// The key/value head.
    g: usize,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
}

simd_dispatch! {
    fn forward_task(job: Job<'_>, out: SharedMut, lse: SharedMut) => forward_body
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

impl<'a> Job<'a> {
    /// Head `h`'s rows of `[positions, q_width]` data over this span, in place.
    fn query_rows(&self, data: &'a [f32], h: usize) -> Mat<'a> {
        let (hd, qw) = (self.shape.head_dim, self.shape.q_width());
        Mat::strided(
            &data[self.span.start * qw + h * hd..],
            self.span.len,
            hd,
            qw,
        )
    }

    /// Key/value head `g`'s rows of `[positions, kv_width]` data over this span.
    fn kv_rows(&self, data: &'a [f32]) -> Mat<'a> {
        let (hd, kvw) = (self.shape.head_dim, self.shape.kv_width());
        Mat::strided(
            &data[self.span.start * kvw + self.g * hd..],
            self.span.len,
            hd,
            kvw,
        )
    }
}

/// Copies `rows: [len, width]` to rows `start..` of a `[positions, stride]` buffer at column
/// `col`.
///
/// # Safety
/// As [`SharedMut::slice`], for each destination row.
unsafe fn put_rows(
    dst: SharedMut,
    rows: &[f32],
    width: usize,
    start: usize,
    stride: usize,
    col: usize,
) {
    for (i, row) in rows.chunks_exact(width).enumerate() {
        unsafe { dst.slice((start + i) * stride + col, width) }.copy_from_slice(row);
    }
}

#[inline(always)]
fn forward_body(job: Job<'_>, out: SharedMut, lse: SharedMut) {
    let (shape, span) = (job.shape, job.span);
    let (len, hd) = (span.len, shape.head_dim);
    if len == 0 {
        return;
    }
    let scale = 1.0 / (hd as f32).sqrt();
    let (keys, values) = (job.kv_rows(job.k), job.kv_rows(job.v));
    let mut scores = vec![0.0f32; len * len];
    let mut o = vec![0.0f32; len * hd];
    for h in job.g * shape.group()..(job.g + 1) * shape.group() {
        product_here(&mut scores, len, job.query_rows(job.q, h), keys.t(), false);
        for (i, row) in scores.chunks_exact_mut(len).enumerate() {
            let (seen, unseen) = row.split_at_mut(i + 1);
            let max = seen.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) * scale;
            let mut total = 0.0f32;
            for s in seen.iter_mut() {
                *s = fast_exp(*s * scale - max);
                total += *s;
            }
            seen.iter_mut().for_each(|s| *s /= total);
            unseen.fill(0.0);
            // SAFETY: row `span.start + i`, head `h`: this task's entry.
            unsafe {
                *lse.slice((span.start + i) * shape.heads + h, 1)
                    .first_mut()
                    .expect("one") = max + total.ln();
            }
        }
        product_here(&mut o, hd, Mat::rows(&scores, len, len), values, false);
        // SAFETY: the rows of this span at head `h`: this task's entries.
        unsafe { put_rows(out, &o, hd, span.start, shape.q_width(), h * hd) };
    }
}

/// The backward pass: from `d_out: [positions, q_width]` writes `dq: [positions, q_width]`,
/// `dk`, `dv: [positions, kv_width]` (before the rotation's backward), given the forward's
/// inputs, output and log-sum-exps.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    shape: Shape,
    spans: &[Span],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    lse: &[f32],
    d_out: &[f32],
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (dq_ptr, dk_ptr, dv_ptr) = (SharedMut::new(dq), SharedMut::new(dk), SharedMut::new(dv));
    let positions = spans.iter().map(|s| s.start + s.len).max().unwrap_or(0);
    assert!(dq.len() >= positions * shape.q_width() && dk.len() >= positions * shape.kv_width());
    assert!(dv.len() == dk.len());
    tasks(shape, spans).into_par_iter().for_each(|(span, g)| {
        let job = Job {
            shape,
            span,
            g,
            q,
            k,
            v,
        };
        let grads = Grads {
            out,
            lse,
            d_out,
            dq: dq_ptr,
            dk: dk_ptr,
            dv: dv_ptr,
        };
        backward_task(job, grads);
    });
}

/// A backward task's other inputs and outputs.
#[derive(Clone, Copy)]
struct Grads<'a> {
    out: &'a [f32],
    lse: &'a [f32],
    d_out: &'a [f32],
    dq: SharedMut,
    dk: SharedMut,
    dv: SharedMut,
}

simd_dispatch! {
    fn backward_task(job: Job<'_>, grads: Grads<'_>) => backward_body
}

#[inline(always)]
fn backward_body(job: Job<'_>, grads: Grads<'_>) {
    let (shape, span) = (job.shape, job.span);
    let (len, hd, qw) = (span.len, shape.head_dim, shape.q_width());
    if len == 0 {
        return;
    }
    let scale = 1.0 / (hd as f32).sqrt();
    let (keys, values) = (job.kv_rows(job.k), job.kv_rows(job.v));
    let mut probs = vec![0.0f32; len * len];
    let mut d_scores = vec![0.0f32; len * len];
    let mut dq = vec![0.0f32; len * hd];
    // this task's key/value gradients, written out at the end
    let mut dk = vec![0.0f32; len * hd];
    let mut dv = vec![0.0f32; len * hd];
    for h in job.g * shape.group()..(job.g + 1) * shape.group() {
        let (queries, d_out) = (job.query_rows(job.q, h), job.query_rows(grads.d_out, h));
        product_here(&mut probs, len, queries, keys.t(), false);
        product_here(&mut d_scores, len, d_out, values.t(), false);
        for (i, (p_row, ds_row)) in probs
            .chunks_exact_mut(len)
            .zip(d_scores.chunks_exact_mut(len))
            .enumerate()
        {
            let row = span.start + i;
            let at = row * qw + h * hd;
            let lse = grads.lse[row * shape.heads + h];
            let delta = dot(&grads.d_out[at..at + hd], &grads.out[at..at + hd]);
            for (j, (p, ds)) in p_row.iter_mut().zip(ds_row.iter_mut()).enumerate() {
                // (a select: the unseen scores may overflow)
                *p = if j <= i {
                    fast_exp(*p * scale - lse)
                } else {
                    0.0
                };
                *ds = *p * (*ds - delta) * scale;
            }
        }
        let (p, ds) = (Mat::rows(&probs, len, len), Mat::rows(&d_scores, len, len));
        product_here(&mut dq, hd, ds, keys, false);
        product_here(&mut dk, hd, ds.t(), queries, true);
        product_here(&mut dv, hd, p.t(), d_out, true);
        // SAFETY: the rows of this span at head `h`: this task's entries.
        unsafe { put_rows(grads.dq, &dq, hd, span.start, qw, h * hd) };
    }
    let kvw = shape.kv_width();
    // SAFETY: the keys and values of head `g` in this span: this task's entries.
    unsafe {
        put_rows(grads.dk, &dk, hd, span.start, kvw, job.g * hd);
        put_rows(grads.dv, &dv, hd, span.start, kvw, job.g * hd);
    }
}
