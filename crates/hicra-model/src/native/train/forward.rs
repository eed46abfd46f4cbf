//! The forward pass: embedding, every block, the final norm and the head at the positions that
//! predict a response token, then each row's tempered log-softmax; with a tape, what the
//! backward pass needs is kept (per layer: the block's input, the rotated queries and keys,
//! the values, attention's output and log-sum-exps, the residual between attention and MLP,
//! the MLP's gate and up projections and both norms' inverse RMS; the normed inputs and the
//! gated product are recomputed instead).

use rayon::prelude::*;

use super::HostScores;
use super::attention::{self, Shape, Span};
use super::elementwise::{RowStats, add_bias, rms_norm, rope, row_stats, swiglu};
use super::params::{HostDense, HostParams};
use crate::native::gemm::{Mat, product};

/// One block's saved activations.
pub(super) struct LayerTape {
    pub x: Vec<f32>,
    pub inv_rms_attention: Vec<f32>,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub lse: Vec<f32>,
    pub attended: Vec<f32>,
    pub x_mid: Vec<f32>,
    pub inv_rms_mlp: Vec<f32>,
    pub gate: Vec<f32>,
    pub up: Vec<f32>,
}

/// The rows the head ran on, in (pair, response token) order.
pub(super) struct Predicted {
    /// The position each predicts from.
    pub position: Vec<usize>,
    /// Its index in the `[rows, width]` outputs.
    pub out_index: Vec<usize>,
    pub target: Vec<usize>,
    pub temperature: Vec<f32>,
}

/// What the backward pass needs.
pub(super) struct Tape {
    pub spans: Vec<Span>,
    pub tokens: Vec<u32>,
    /// RoPE position of every position.
    pub slots: Vec<usize>,
    pub layers: Vec<LayerTape>,
    pub predicted: Predicted,
    /// Residual stream at the predicted rows `[predicted, hidden]`, and their final norm's
    /// inverse RMS.
    pub x_final: Vec<f32>,
    pub inv_rms_final: Vec<f32>,
    /// The head's raw logits `[predicted, vocab]` and each row's statistics.
    pub logits: Vec<f32>,
    pub stats: Vec<RowStats>,
    /// The output's layout.
    pub width: usize,
}

/// `x @ w (+ bias)` into `out` (`[rows, w.cols]`).
pub(super) fn dense(x: &[f32], rows: usize, w: &HostDense, out: &mut [f32], accumulate: bool) {
    product(
        out,
        Mat::rows(x, rows, w.rows),
        Mat::rows(&w.weight, w.rows, w.cols),
        accumulate,
    );
    if let Some(b) = &w.bias {
        add_bias(out, b);
    }
}

/// Scores `pairs` (see [`super::HostModel::score`]); keeps a tape when `keep`.
pub(super) fn run(
    p: &HostParams,
    pairs: &[(&[u32], &[u32])],
    temperatures: &[f32],
    entropies: bool,
    keep: bool,
) -> (HostScores, Option<Tape>) {
    assert_eq!(pairs.len(), temperatures.len(), "one temperature per pair");
    assert!(
        temperatures.iter().all(|&t| t > 0.0 && t.is_finite()),
        "scoring temperatures must be positive"
    );
    let (d, vocab) = (p.hidden(), p.vocab());
    let width = pairs.iter().map(|(_, r)| r.len()).max().unwrap_or(0).max(1);
    // the fed positions: prompt + response but its last token (none without a response)
    let mut spans = Vec::with_capacity(pairs.len());
    let mut tokens = Vec::new();
    let mut slots = Vec::new();
    let mut predicted = Predicted {
        position: Vec::new(),
        out_index: Vec::new(),
        target: Vec::new(),
        temperature: Vec::new(),
    };
    for (b, ((prompt, response), &t)) in pairs.iter().zip(temperatures).enumerate() {
        assert!(!prompt.is_empty(), "pair {b}: an empty prompt");
        let len = if response.is_empty() {
            0
        } else {
            prompt.len() + response.len() - 1
        };
        assert!(
            len <= p.max_seq_len(),
            "pair {b}: {len} positions, beyond the model's {} (RoPE table)",
            p.max_seq_len()
        );
        let start = tokens.len();
        spans.push(Span { start, len });
        tokens.extend(prompt.iter().chain(response.iter()).take(len));
        slots.extend(0..len);
        for (k, &target) in response.iter().enumerate() {
            assert!(
                (target as usize) < vocab,
                "pair {b}: token {target} beyond the vocabulary"
            );
            predicted.position.push(start + prompt.len() - 1 + k);
            predicted.out_index.push(b * width + k);
            predicted.target.push(target as usize);
            predicted.temperature.push(t);
        }
    }
    let (x, layers) = blocks(p, &tokens, &spans, &slots, keep);
    // the head at the predicting positions only
    let rows = predicted.position.len();
    let mut x_final = Vec::with_capacity(rows * d);
    for &at in &predicted.position {
        x_final.extend_from_slice(&x[at * d..(at + 1) * d]);
    }
    let mut normed_final = vec![0.0; rows * d];
    let mut inv_rms_final = vec![0.0; rows];
    rms_norm(
        &x_final,
        &p.norm,
        p.eps,
        &mut normed_final,
        &mut inv_rms_final,
    );
    let mut logits = vec![0.0; rows * vocab];
    let head = match &p.head {
        Some(h) => Mat::rows(h, d, vocab),
        None => Mat::rows(&p.embedding, vocab, d).t(),
    };
    product(&mut logits, Mat::rows(&normed_final, rows, d), head, false);
    let stats: Vec<RowStats> = logits
        .par_chunks(vocab.max(1))
        .enumerate()
        .map(|(r, row)| {
            let mut stats = RowStats::default();
            row_stats(
                row,
                predicted.temperature[r],
                predicted.target[r],
                &mut stats,
            );
            stats
        })
        .collect();
    let mut scores = HostScores {
        rows: pairs.len(),
        width,
        logprobs: vec![0.0; pairs.len() * width],
        entropies: entropies.then(|| vec![0.0; pairs.len() * width]),
        mask: vec![0.0; pairs.len() * width],
    };
    for (r, s) in stats.iter().enumerate() {
        let at = predicted.out_index[r];
        scores.logprobs[at] = s.logprob;
        scores.mask[at] = 1.0;
        if let Some(e) = &mut scores.entropies {
            e[at] = s.entropy;
        }
    }
    let tape = keep.then_some(Tape {
        spans,
        tokens,
        slots,
        layers,
        predicted,
        x_final,
        inv_rms_final,
        logits,
        stats,
        width,
    });
    (scores, tape)
}

/// The residual stream `[positions, hidden]` after every block (before the final norm) of
/// `tokens` laid out in `spans` at RoPE positions `slots`; each block's tape when `keep`.
fn blocks(
    p: &HostParams,
    tokens: &[u32],
    spans: &[Span],
    slots: &[usize],
    keep: bool,
) -> (Vec<f32>, Vec<LayerTape>) {
    let (d, vocab) = (p.hidden(), p.vocab());
    let n = tokens.len();
    let mut x = Vec::with_capacity(n * d);
    for &t in tokens {
        let t = t as usize;
        assert!(t < vocab, "token {t} beyond the vocabulary");
        x.extend_from_slice(&p.embedding[t * d..(t + 1) * d]);
    }
    let shape = Shape {
        heads: p.heads,
        kv_heads: p.kv_heads,
        head_dim: p.head_dim,
    };
    let (qw, kvw, f) = (p.q_width(), p.kv_width(), p.intermediate());
    let mut normed = vec![0.0; n * d];
    let mut gated = vec![0.0; n * f];
    let mut layers = Vec::new();
    for b in &p.blocks {
        let mut inv_rms_attention = vec![0.0; n];
        rms_norm(
            &x,
            &b.attention_norm,
            p.eps,
            &mut normed,
            &mut inv_rms_attention,
        );
        let (mut q, mut k, mut v) = (vec![0.0; n * qw], vec![0.0; n * kvw], vec![0.0; n * kvw]);
        dense(&normed, n, &b.q, &mut q, false);
        dense(&normed, n, &b.k, &mut k, false);
        dense(&normed, n, &b.v, &mut v, false);
        rope(&mut q, qw, p.head_dim, &p.cos, &p.sin, slots, false);
        rope(&mut k, kvw, p.head_dim, &p.cos, &p.sin, slots, false);
        let mut attended = vec![0.0; n * qw];
        let mut lse = vec![0.0; n * p.heads];
        attention::forward(shape, spans, &q, &k, &v, &mut attended, &mut lse);
        let mut x_mid = x.clone();
        dense(&attended, n, &b.o, &mut x_mid, true);
        let mut inv_rms_mlp = vec![0.0; n];
        rms_norm(&x_mid, &b.mlp_norm, p.eps, &mut normed, &mut inv_rms_mlp);
        let (mut gate, mut up) = (vec![0.0; n * f], vec![0.0; n * f]);
        dense(&normed, n, &b.gate, &mut gate, false);
        dense(&normed, n, &b.up, &mut up, false);
        swiglu(&gate, &up, &mut gated);
        let mut next = x_mid.clone();
        dense(&gated, n, &b.down, &mut next, true);
        let x_in = std::mem::replace(&mut x, next);
        if keep {
            layers.push(LayerTape {
                x: x_in,
                inv_rms_attention,
                q,
                k,
                v,
                lse,
                attended,
                x_mid,
                inv_rms_mlp,
                gate,
                up,
            });
        }
    }
    (x, layers)
}

/// The final norm's output `[picked, hidden]` at positions `at[i]` of each of `sequences`
/// (each fed whole, from position 0), in order: what a scalar head on the model reads.
pub(super) fn final_hidden(p: &HostParams, sequences: &[&[u32]], at: &[&[usize]]) -> Vec<f32> {
    assert_eq!(sequences.len(), at.len(), "positions per sequence");
    let d = p.hidden();
    let (mut spans, mut tokens, mut slots, mut picked) = (vec![], vec![], vec![], vec![]);
    for (b, (seq, positions)) in sequences.iter().zip(at).enumerate() {
        assert!(
            seq.len() <= p.max_seq_len(),
            "sequence {b}: {} positions, beyond the model's {}",
            seq.len(),
            p.max_seq_len()
        );
        let start = tokens.len();
        spans.push(Span {
            start,
            len: seq.len(),
        });
        tokens.extend_from_slice(seq);
        slots.extend(0..seq.len());
        for &i in positions.iter() {
            assert!(i < seq.len(), "sequence {b}: position {i} past its end");
            picked.push(start + i);
        }
    }
    let (x, _) = blocks(p, &tokens, &spans, &slots, false);
    let mut rows = Vec::with_capacity(picked.len() * d);
    for &i in &picked {
        rows.extend_from_slice(&x[i * d..(i + 1) * d]);
    }
    let mut out = vec![0.0; rows.len()];
    let mut inv = vec![0.0; picked.len()];
    rms_norm(&rows, &p.norm, p.eps, &mut out, &mut inv);
    out
}
