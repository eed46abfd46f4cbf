//! The learner's element-wise layers and their backward passes, on host rows, split over the
//! cores in blocks of rows: RMSNorm, the rotary embedding, SwiGLU's gate, a bias, and the
//! head's tempered log-softmax with its entropy.

use rayon::prelude::*;

use crate::native::kernels::simd_dispatch;

/// Rows per parallel task of the element-wise passes.
const ROWS_PER_TASK: usize = 32;

/// `out_row = x_row * inv_rms * weight` with `inv_rms = 1 / sqrt(mean(x_row^2) + eps)`, kept
/// per row in `inv_rms` for the backward pass.
pub(super) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32], inv_rms: &mut [f32]) {
    let d = weight.len();
    out.par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK))
        .zip(inv_rms.par_chunks_mut(ROWS_PER_TASK))
        .for_each(|((out, x), inv)| {
            for ((out, x), inv) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(inv) {
                let mean = x.iter().map(|v| v * v).sum::<f32>() / d as f32;
                *inv = 1.0 / (mean + eps).sqrt();
                for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
                    *o = v * *inv * w;
                }
            }
        });
}

/// `out_row = x_row * inv_rms * weight` from a kept `inv_rms` (the forward's output again).
pub(super) fn rms_norm_again(x: &[f32], weight: &[f32], inv_rms: &[f32], out: &mut [f32]) {
    let d = weight.len();
    out.par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK))
        .zip(inv_rms.par_chunks(ROWS_PER_TASK))
        .for_each(|((out, x), inv)| {
            for ((out, x), &inv) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(inv) {
                for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
                    *o = v * inv * w;
                }
            }
        });
}

/// RMSNorm's backward: with `y = x * r * w`, `r = (mean(x^2) + eps)^-1/2`, adds
/// `dx = r * (dy * w) - x * r^3 * mean((dy * w) * x)` into `dx` and `sum_rows dy * x * r` into
/// `dweight`.
pub(super) fn rms_norm_backward(
    x: &[f32],
    weight: &[f32],
    inv_rms: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dweight: &mut [f32],
) {
    let d = weight.len();
    let partial: Vec<Vec<f32>> = dx
        .par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK))
        .zip(dy.par_chunks(d * ROWS_PER_TASK))
        .zip(inv_rms.par_chunks(ROWS_PER_TASK))
        .map(|(((dx, x), dy), inv)| {
            let mut dw = vec![0.0f32; d];
            for (((dx, x), dy), &r) in dx
                .chunks_exact_mut(d)
                .zip(x.chunks_exact(d))
                .zip(dy.chunks_exact(d))
                .zip(inv)
            {
                let dot: f32 = dy
                    .iter()
                    .zip(weight)
                    .zip(x)
                    .map(|((g, w), v)| g * w * v)
                    .sum();
                let c = r * r * r * dot / d as f32;
                for ((((dx, &v), &g), &w), dw) in
                    dx.iter_mut().zip(x).zip(dy).zip(weight).zip(dw.iter_mut())
                {
                    *dx += r * g * w - v * c;
                    *dw += g * v * r;
                }
            }
            dw
        })
        .collect();
    for part in partial {
        dweight.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
}

/// Rotates each head of each row of `x: [rows, heads * head_dim]` by its position's angles
/// (rotate-half pairing, as HF Llama; `positions[r]` is row `r`'s), or by the inverse rotation
/// when `inverse` (the backward pass: the rotation is orthogonal, its transpose undoes it).
pub(super) fn rope(
    x: &mut [f32],
    width: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
    positions: &[usize],
    inverse: bool,
) {
    let half = head_dim / 2;
    x.par_chunks_mut(width * ROWS_PER_TASK)
        .zip(positions.par_chunks(ROWS_PER_TASK))
        .for_each(|(rows, positions)| {
            for (row, &p) in rows.chunks_exact_mut(width).zip(positions) {
                let cos = &cos[p * head_dim..(p + 1) * head_dim];
                let sin = &sin[p * head_dim..(p + 1) * head_dim];
                for head in row.chunks_exact_mut(head_dim) {
                    for i in 0..half {
                        let (a, b) = (head[i], head[i + half]);
                        // forward: [a c - b s, b c' + a s']; inverse: [a c + b s', b c' - a s]
                        if inverse {
                            head[i] = a * cos[i] + b * sin[i + half];
                            head[i + half] = b * cos[i + half] - a * sin[i];
                        } else {
                            head[i] = a * cos[i] - b * sin[i];
                            head[i + half] = b * cos[i + half] + a * sin[i + half];
                        }
                    }
                }
            }
        });
}

/// `silu(gate) * up`, row by row (`gate`, `up`, `out`: `[rows, width]`).
pub(super) fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(4096)
        .zip(gate.par_chunks(4096).zip(up.par_chunks(4096)))
        .for_each(|(out, (gate, up))| {
            for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                *o = g / (1.0 + fast_exp(-g)) * u;
            }
        });
}

/// SwiGLU's backward: from `d(out)` in `dgate` (overwritten with `d(gate)`), writes `d(up)`.
/// With `s = sigmoid(g)`: `d(up) = d(out) * g * s`, `d(gate) = d(out) * u * s * (1 + g (1 - s))`.
pub(super) fn swiglu_backward(gate: &[f32], up: &[f32], dgate: &mut [f32], dup: &mut [f32]) {
    dgate
        .par_chunks_mut(4096)
        .zip(dup.par_chunks_mut(4096))
        .zip(gate.par_chunks(4096).zip(up.par_chunks(4096)))
        .for_each(|((dg, du), (gate, up))| {
            for (((dg, du), &g), &u) in dg.iter_mut().zip(du).zip(gate).zip(up) {
                let s = 1.0 / (1.0 + fast_exp(-g));
                let dout = *dg;
                *du = dout * g * s;
                *dg = dout * u * s * (1.0 + g * (1.0 - s));
            }
        });
}

/// Adds `bias` to every row of `x`.
pub(super) fn add_bias(x: &mut [f32], bias: &[f32]) {
    x.par_chunks_mut(bias.len() * ROWS_PER_TASK)
        .for_each(|rows| {
            for row in rows.chunks_exact_mut(bias.len()) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        });
}

/// Adds the column sums of `dy: [rows, width]` into `dbias: [width]`.
pub(super) fn bias_backward(dy: &[f32], dbias: &mut [f32]) {
    for row in dy.chunks_exact(dbias.len()) {
        dbias.iter_mut().zip(row).for_each(|(b, g)| *b += g);
    }
}

/// `e^x` in f32 without a library call, so loops of it vectorise: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2` (Cody-Waite: `ln 2` in two parts), `e^r` by its degree-6 Taylor
/// polynomial (relative error below 2e-7 there), and `2^n` put into the exponent bits.
/// Below -87.3 it gives 0 (f32's normal range ends there), above 88.7 infinity; NaN stays NaN.
#[inline(always)]
pub(super) fn fast_exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let clamped = x.clamp(-87.3, 88.7);
    // round to nearest by adding and removing 1.5 * 2^23 (no library call: it vectorises)
    const ROUND: f32 = 12_582_912.0;
    let n = (clamped * LOG2_E + ROUND) - ROUND;
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
    let y = p * scale;
    if x < -87.3 {
        0.0
    } else if x > 88.7 {
        f32::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// One predicted row of the head: `z = logits / t`, its log-sum-exp, the target's
/// log-probability `z[target] - lse`, and the entropy `lse - sum_v p_v z_v`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RowStats {
    pub lse: f32,
    pub logprob: f32,
    pub entropy: f32,
}

simd_dispatch! {
    /// [`RowStats`] of `logits` (one row, raw) at temperature `t` for `target`, into `out`.
    pub(super) fn row_stats(logits: &[f32], t: f32, target: usize, out: &mut RowStats) => row_stats_body
}

#[inline(always)]
fn row_stats_body(logits: &[f32], t: f32, target: usize, out: &mut RowStats) {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) / t;
    let inv_t = 1.0 / t;
    // 16 partial sums each, so the loop vectorises
    let (mut total, mut weighted) = ([0.0f32; 16], [0.0f32; 16]);
    let chunks = logits.chunks_exact(16);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..16 {
            let z = chunk[i] * inv_t;
            let e = fast_exp(z - max);
            total[i] += e;
            weighted[i] += e * z;
        }
    }
    let (mut total, mut weighted) = (total.iter().sum::<f32>(), weighted.iter().sum::<f32>());
    for &v in tail {
        let z = v * inv_t;
        let e = fast_exp(z - max);
        total += e;
        weighted += e * z;
    }
    let lse = max + total.ln();
    *out = RowStats {
        lse,
        logprob: logits[target] * inv_t - lse,
        entropy: lse - weighted / total,
    };
}

simd_dispatch! {
    /// The head's backward for one row, in place: `logits` becomes `d(loss)/d(logits)` given
    /// `g = d(loss)/d(logprob)` and `h = d(loss)/d(entropy)`. With `p = softmax(z)`,
    /// `z = logits / t`: `dz_v = g (1[v = target] - p_v) - h p_v (log p_v + H)`,
    /// `dlogits = dz / t`.
    pub(super) fn row_backward(logits: &mut [f32], t: f32, target: usize, stats: &RowStats, g: f32, h: f32) => row_backward_body
}

#[inline(always)]
fn row_backward_body(logits: &mut [f32], t: f32, target: usize, stats: &RowStats, g: f32, h: f32) {
    let inv_t = 1.0 / t;
    for value in logits.iter_mut() {
        let logp = *value * inv_t - stats.lse;
        let p = fast_exp(logp);
        *value = (-g * p - h * p * (logp + stats.entropy)) * inv_t;
    }
    logits[target] += g * inv_t;
}
