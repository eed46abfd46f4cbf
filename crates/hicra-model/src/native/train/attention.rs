//! Causal grouped-query attention over sequences laid side by side (no padding), and its
//! backward pass. One task per (sequence, key/value head) handles the query heads sharing
//! that key/value head, so a task alone writes its keys' and values' gradients; the
//! probabilities are not stored: the forward keeps each query's log-sum-exp and the backward
//! recomputes `p_ij = exp(q_i . k_j / sqrt(d) - lse_i)`.

use rayon::prelude::*;

use super::elementwise::fast_exp;
use crate::native::kernels::simd_dispatch;

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

/// A buffer tasks write disjoint parts of.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: each task writes only its own (sequence, head) entries.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// `len` values from `offset` (a method, so closures capture the wrapper).
    ///
    /// # Safety
    /// In bounds, and no other task touches these entries meanwhile.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, offset: usize, len: usize) -> &mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(offset), len) }
    }
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
    let (out_ptr, lse_ptr) = (Shared(out.as_mut_ptr()), Shared(lse.as_mut_ptr()));
    let tasks: Vec<(Span, usize)> = spans
        .iter()
        .flat_map(|&s| (0..shape.kv_heads).map(move |g| (s, g)))
        .collect();
    tasks.into_par_iter().for_each(|(span, g)| {
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
    fn forward_task(job: Job<'_>, out: Shared, lse: Shared) => forward_body
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

#[inline(always)]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[inline(always)]
fn forward_body(job: Job<'_>, out: Shared, lse: Shared) {
    let Job {
        shape,
        span,
        g,
        q,
        k,
        v,
    } = job;
    let (hd, qw, kvw) = (shape.head_dim, shape.q_width(), shape.kv_width());
    let scale = 1.0 / (hd as f32).sqrt();
    let key = |j: usize| &k[(span.start + j) * kvw + g * hd..][..hd];
    let value = |j: usize| &v[(span.start + j) * kvw + g * hd..][..hd];
    let mut scores = vec![0.0f32; span.len];
    for h in g * shape.group()..(g + 1) * shape.group() {
        for i in 0..span.len {
            let row = span.start + i;
            let query = &q[row * qw + h * hd..][..hd];
            let scores = &mut scores[..=i];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores.iter_mut().enumerate() {
                *s = dot(query, key(j)) * scale;
                max = max.max(*s);
            }
            let mut total = 0.0f32;
            for s in scores.iter_mut() {
                *s = fast_exp(*s - max);
                total += *s;
            }
            // SAFETY: row `row`, head `h`: this task's entries.
            let o = unsafe { out.slice(row * qw + h * hd, hd) };
            o.fill(0.0);
            for (j, &s) in scores.iter().enumerate() {
                axpy(s / total, value(j), o);
            }
            unsafe {
                *lse.slice(row * shape.heads + h, 1)
                    .first_mut()
                    .expect("one") = max + total.ln()
            };
        }
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
    let (dq_ptr, dk_ptr, dv_ptr) = (
        Shared(dq.as_mut_ptr()),
        Shared(dk.as_mut_ptr()),
        Shared(dv.as_mut_ptr()),
    );
    let positions = spans.iter().map(|s| s.start + s.len).max().unwrap_or(0);
    assert!(dq.len() >= positions * shape.q_width() && dk.len() >= positions * shape.kv_width());
    assert!(dv.len() == dk.len());
    let tasks: Vec<(Span, usize)> = spans
        .iter()
        .flat_map(|&s| (0..shape.kv_heads).map(move |g| (s, g)))
        .collect();
    tasks.into_par_iter().for_each(|(span, g)| {
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
    dq: Shared,
    dk: Shared,
    dv: Shared,
}

simd_dispatch! {
    fn backward_task(job: Job<'_>, grads: Grads<'_>) => backward_body
}

#[inline(always)]
fn backward_body(job: Job<'_>, grads: Grads<'_>) {
    let Job {
        shape,
        span,
        g,
        q,
        k,
        v,
    } = job;
    let (hd, qw, kvw) = (shape.head_dim, shape.q_width(), shape.kv_width());
    let scale = 1.0 / (hd as f32).sqrt();
    let key = |j: usize| &k[(span.start + j) * kvw + g * hd..][..hd];
    let value = |j: usize| &v[(span.start + j) * kvw + g * hd..][..hd];
    // this task's key/value gradients, written out at the end
    let mut dk = vec![0.0f32; span.len * hd];
    let mut dv = vec![0.0f32; span.len * hd];
    let mut dq_row = vec![0.0f32; hd];
    for h in g * shape.group()..(g + 1) * shape.group() {
        for i in 0..span.len {
            let row = span.start + i;
            let at = row * qw + h * hd;
            let (query, o, d_o) = (
                &q[at..at + hd],
                &grads.out[at..at + hd],
                &grads.d_out[at..at + hd],
            );
            let lse = grads.lse[row * shape.heads + h];
            let delta = dot(d_o, o);
            dq_row.fill(0.0);
            for j in 0..=i {
                let p = fast_exp(dot(query, key(j)) * scale - lse);
                let ds = p * (dot(d_o, value(j)) - delta) * scale;
                axpy(ds, key(j), &mut dq_row);
                axpy(ds, query, &mut dk[j * hd..(j + 1) * hd]);
                axpy(p, d_o, &mut dv[j * hd..(j + 1) * hd]);
            }
            // SAFETY: row `row`, head `h`: this task's entries.
            unsafe { grads.dq.slice(at, hd) }.copy_from_slice(&dq_row);
        }
    }
    for j in 0..span.len {
        let at = (span.start + j) * kvw + g * hd;
        // SAFETY: the keys and values of head `g` in this span: this task's entries.
        unsafe {
            grads
                .dk
                .slice(at, hd)
                .copy_from_slice(&dk[j * hd..(j + 1) * hd]);
            grads
                .dv
                .slice(at, hd)
                .copy_from_slice(&dv[j * hd..(j + 1) * hd]);
        }
    }
}
