//! The element-wise parts of a block, on host rows: RMSNorm, the rotary embedding and SwiGLU's
//! gating, computed as the burn layers compute them (f32 throughout, the same formulas),
//! compiled for the CPU's vector width.

use super::kernels::simd_dispatch;

simd_dispatch! {
    /// `out_row = x_row / sqrt(mean(x_row^2) + eps) * weight` for every row of `x`.
    pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) => rms_norm_body
}

simd_dispatch! {
    /// SwiGLU's gating: for each row of `gate_up: [rows, 2 width]` (gate, then up), `out_row =
    /// silu(gate) * up`, `out: [rows, width]`.
    pub(crate) fn silu_mul(gate_up: &[f32], width: usize, out: &mut [f32]) => silu_mul_body
}

#[inline(always)]
fn rms_norm_body(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let width = weight.len();
    for (row, out) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let mean = row.iter().map(|v| v * v).sum::<f32>() / width as f32;
        let rms = (mean + eps).sqrt();
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = v / rms * w;
        }
    }
}

/// Rotates each head of one position's `x: [heads * head_dim]` in place by the angles of
/// `position` (rotate-half pairing: entry `i < half` pairs with `i + half`, as HF Llama).
pub(crate) fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32], position: usize) {
    let half = head_dim / 2;
    let cos = &cos[position * head_dim..(position + 1) * head_dim];
    let sin = &sin[position * head_dim..(position + 1) * head_dim];
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..half {
            let (a, b) = (head[i], head[i + half]);
            head[i] = a * cos[i] + -b * sin[i];
            head[i + half] = b * cos[i + half] + a * sin[i + half];
        }
    }
}

#[inline(always)]
fn silu_mul_body(gate_up: &[f32], width: usize, out: &mut [f32]) {
    for (row, out) in gate_up
        .chunks_exact(2 * width)
        .zip(out.chunks_exact_mut(width))
    {
        let (gate, up) = row.split_at(width);
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g / (1.0 + (-g).exp()) * u;
        }
    }
}
