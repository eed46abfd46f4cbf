//! The backward pass, layer by layer in reverse: the head's tempered log-softmax and entropy
//! (each predicted row's logits turned into their gradient in place), the head (tied: into
//! the embedding), the final norm, then each block's MLP (down, SwiGLU, gate and up, norm)
//! and attention (output projection, attention, RoPE, q/k/v with their biases, norm), and
//! last the embedding rows of the fed tokens. Every weight gradient is one strided product
//! `X^T @ dY` added into [`HostGrads`].

use rayon::prelude::*;

use super::HostGrads;
use super::attention::{self, Shape};
use super::elementwise::{
    bias_backward, rms_norm_again, rms_norm_backward, rope, row_backward, swiglu, swiglu_backward,
};
use super::forward::Tape;
use super::params::{HostDense, HostParams};
use crate::native::gemm::{Mat, product};

/// For `y = x @ w + b` with `x: [rows, w.rows]`: adds `x^T @ dy` into `grad`'s weight and the
/// column sums of `dy` into its bias, and `dy @ w^T` into `dx` (written over unless
/// `accumulate`).
fn dense_backward(
    x: &[f32],
    rows: usize,
    w: &HostDense,
    dy: &[f32],
    grad: &mut HostDense,
    dx: &mut [f32],
    accumulate: bool,
) {
    product(
        &mut grad.weight,
        Mat::rows(x, rows, w.rows).t(),
        Mat::rows(dy, rows, w.cols),
        true,
    );
    if let Some(db) = &mut grad.bias {
        bias_backward(dy, db);
    }
    product(
        dx,
        Mat::rows(dy, rows, w.cols),
        Mat::rows(&w.weight, w.rows, w.cols).t(),
        accumulate,
    );
}

/// See [`super::HostModel::backward`].
pub(super) fn run(
    p: &HostParams,
    tape: Tape,
    dlogprobs: &[f32],
    dentropies: Option<&[f32]>,
    grads: &mut HostGrads,
) {
    let Tape {
        spans,
        tokens,
        slots,
        layers,
        predicted,
        x_final,
        inv_rms_final,
        mut logits,
        stats,
        width,
    } = tape;
    let g = &mut grads.g;
    let (d, vocab) = (p.hidden(), p.vocab());
    let n = tokens.len();
    let rows = predicted.position.len();
    let outputs = spans.len() * width;
    assert_eq!(dlogprobs.len(), outputs, "d(logprobs) is [rows, width]");
    if let Some(de) = dentropies {
        assert_eq!(de.len(), outputs, "d(entropies) is [rows, width]");
    }
    // the head's log-softmax and entropy
    logits
        .par_chunks_mut(vocab.max(1))
        .enumerate()
        .for_each(|(r, row)| {
            let at = predicted.out_index[r];
            let h = dentropies.map_or(0.0, |de| de[at]);
            row_backward(
                row,
                predicted.temperature[r],
                predicted.target[r],
                &stats[r],
                dlogprobs[at],
                h,
            );
        });
    let dlogits = logits;
    // the head
    let mut normed_final = vec![0.0; rows * d];
    rms_norm_again(&x_final, &p.norm, &inv_rms_final, &mut normed_final);
    let mut d_normed = vec![0.0; rows * d];
    match (&p.head, &mut g.head) {
        (Some(head), Some(dhead)) => {
            product(
                dhead,
                Mat::rows(&normed_final, rows, d).t(),
                Mat::rows(&dlogits, rows, vocab),
                true,
            );
            product(
                &mut d_normed,
                Mat::rows(&dlogits, rows, vocab),
                Mat::rows(head, d, vocab).t(),
                false,
            );
        }
        _ => {
            product(
                &mut g.embedding,
                Mat::rows(&dlogits, rows, vocab).t(),
                Mat::rows(&normed_final, rows, d),
                true,
            );
            product(
                &mut d_normed,
                Mat::rows(&dlogits, rows, vocab),
                Mat::rows(&p.embedding, vocab, d),
                false,
            );
        }
    }
    drop(dlogits);
    let mut d_final = vec![0.0; rows * d];
    rms_norm_backward(
        &x_final,
        &p.norm,
        &inv_rms_final,
        &d_normed,
        &mut d_final,
        &mut g.norm,
    );
    // the residual stream's gradient at every position
    let mut dx = vec![0.0f32; n * d];
    for (r, &at) in predicted.position.iter().enumerate() {
        dx[at * d..(at + 1) * d]
            .iter_mut()
            .zip(&d_final[r * d..(r + 1) * d])
            .for_each(|(a, b)| *a += b);
    }
    let shape = Shape {
        heads: p.heads,
        kv_heads: p.kv_heads,
        head_dim: p.head_dim,
    };
    let (qw, kvw, f) = (p.q_width(), p.kv_width(), p.intermediate());
    let mut normed = vec![0.0; n * d];
    let mut d_normed = vec![0.0; n * d];
    let mut gated = vec![0.0; n * f];
    let (mut dgate, mut dup) = (vec![0.0; n * f], vec![0.0; n * f]);
    let mut d_attended = vec![0.0; n * qw];
    let (mut dq, mut dk, mut dv) = (vec![0.0; n * qw], vec![0.0; n * kvw], vec![0.0; n * kvw]);
    for ((w, gb), l) in p.blocks.iter().zip(&mut g.blocks).zip(layers).rev() {
        // MLP: next = x_mid + swiglu(norm(x_mid) @ gate, .. @ up) @ down
        swiglu(&l.gate, &l.up, &mut gated);
        dense_backward(&gated, n, &w.down, &dx, &mut gb.down, &mut dgate, false);
        swiglu_backward(&l.gate, &l.up, &mut dgate, &mut dup);
        rms_norm_again(&l.x_mid, &w.mlp_norm, &l.inv_rms_mlp, &mut normed);
        dense_backward(
            &normed,
            n,
            &w.gate,
            &dgate,
            &mut gb.gate,
            &mut d_normed,
            false,
        );
        dense_backward(&normed, n, &w.up, &dup, &mut gb.up, &mut d_normed, true);
        // dx becomes d(x_mid): the residual plus the norm's path
        rms_norm_backward(
            &l.x_mid,
            &w.mlp_norm,
            &l.inv_rms_mlp,
            &d_normed,
            &mut dx,
            &mut gb.mlp_norm,
        );
        // attention: x_mid = x + attend(rope(q), rope(k), v) @ o
        dense_backward(&l.attended, n, &w.o, &dx, &mut gb.o, &mut d_attended, false);
        attention::backward(
            shape,
            &spans,
            &l.q,
            &l.k,
            &l.v,
            &l.attended,
            &l.lse,
            &d_attended,
            &mut dq,
            &mut dk,
            &mut dv,
        );
        rope(&mut dq, qw, p.head_dim, &p.cos, &p.sin, &slots, true);
        rope(&mut dk, kvw, p.head_dim, &p.cos, &p.sin, &slots, true);
        rms_norm_again(&l.x, &w.attention_norm, &l.inv_rms_attention, &mut normed);
        dense_backward(&normed, n, &w.q, &dq, &mut gb.q, &mut d_normed, false);
        dense_backward(&normed, n, &w.k, &dk, &mut gb.k, &mut d_normed, true);
        dense_backward(&normed, n, &w.v, &dv, &mut gb.v, &mut d_normed, true);
        rms_norm_backward(
            &l.x,
            &w.attention_norm,
            &l.inv_rms_attention,
            &d_normed,
            &mut dx,
            &mut gb.attention_norm,
        );
    }
    // the embedding rows of the fed tokens
    for (i, &t) in tokens.iter().enumerate() {
        let t = t as usize;
        g.embedding[t * d..(t + 1) * d]
            .iter_mut()
            .zip(&dx[i * d..(i + 1) * d])
            .for_each(|(a, b)| *a += b);
    }
}
