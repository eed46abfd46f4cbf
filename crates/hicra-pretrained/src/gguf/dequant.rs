//! Dequantization of ggml blocks to f32.
//!
//! Block layouts and formulas follow ggml's reference C implementation (`ggml-quants.c`,
//! `dequantize_row_*`); all scales are little-endian f16.
//! - Q8_0: 32 values = f16 `d`, 32 × i8 `q`; `x = d·q`.
//! - Q4_0: 32 values = f16 `d`, 16 bytes; low nibbles are values 0..16, high nibbles 16..32;
//!   `x = d·(q − 8)`.
//! - Q4_1: as Q4_0 with an f16 minimum `m` after `d`; `x = d·q + m`.
//! - Q4_K: 256 values = f16 `d`, f16 `dmin`, 12 bytes of 6-bit scales/mins for 8 sub-blocks,
//!   128 bytes of nibbles; `x = d·sc·q − dmin·m`.
//! - Q6_K: 256 values = 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 × i8 scales, f16 `d`;
//!   `x = d·sc·(q − 32)`.

use half::{bf16, f16};

use super::ggml_type::GgmlType;

/// Dequantizes `bytes`, which must be exactly `ty.byte_size(n)` long, into `n` values.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    let (per_block, block_bytes) = ty.block();
    debug_assert_eq!(bytes.len(), n / per_block * block_bytes);
    let mut out = Vec::with_capacity(n);
    for block in bytes.chunks_exact(block_bytes) {
        match ty {
            GgmlType::F32 => out.push(f32::from_le_bytes(block.try_into().expect("4 bytes"))),
            GgmlType::F16 => out.push(half_at(block, 0)),
            GgmlType::BF16 => out.push(bf16::from_le_bytes([block[0], block[1]]).to_f32()),
            GgmlType::Q8_0 => q8_0(block, &mut out),
            GgmlType::Q4_0 => q4(
                half_at(block, 0),
                -8.0 * half_at(block, 0),
                &block[2..],
                &mut out,
            ),
            GgmlType::Q4_1 => q4(half_at(block, 0), half_at(block, 2), &block[4..], &mut out),
            GgmlType::Q4K => q4_k(block, &mut out),
            GgmlType::Q6K => q6_k(block, &mut out),
        }
    }
    out
}

fn half_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

fn q8_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half_at(block, 0);
    out.extend(block[2..].iter().map(|&q| d * f32::from(q as i8)));
}

/// 32 four-bit values `x = scale·q + offset` (Q4_0 passes `offset = −8·scale`).
fn q4(scale: f32, offset: f32, nibbles: &[u8], out: &mut Vec<f32>) {
    out.extend(
        nibbles
            .iter()
            .map(|&b| scale * f32::from(b & 0x0F) + offset),
    );
    out.extend(nibbles.iter().map(|&b| scale * f32::from(b >> 4) + offset));
}

/// Scale and minimum of sub-block `j` (0..8) from the 12 packed 6-bit bytes of a Q4_K block.
fn q4_k_scale_min(j: usize, packed: &[u8]) -> (f32, f32) {
    let (sc, m) = if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        (
            (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4),
            (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
        )
    };
    (f32::from(sc), f32::from(m))
}

fn q4_k(block: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (half_at(block, 0), half_at(block, 2));
    let packed = &block[4..16];
    for (chunk, nibbles) in block[16..].chunks_exact(32).enumerate() {
        let (sc_lo, m_lo) = q4_k_scale_min(2 * chunk, packed);
        let (sc_hi, m_hi) = q4_k_scale_min(2 * chunk + 1, packed);
        out.extend(
            nibbles
                .iter()
                .map(|&b| d * sc_lo * f32::from(b & 0x0F) - dmin * m_lo),
        );
        out.extend(
            nibbles
                .iter()
                .map(|&b| d * sc_hi * f32::from(b >> 4) - dmin * m_hi),
        );
    }
}

fn q6_k(block: &[u8], out: &mut Vec<f32>) {
    let (ql, qh, scales) = (&block[..128], &block[128..192], &block[192..208]);
    let d = half_at(block, 208);
    for half in 0..2 {
        let (ql, qh, sc) = (&ql[64 * half..], &qh[32 * half..], &scales[8 * half..]);
        let mut values = [0f32; 128];
        for l in 0..32 {
            let is = l / 16;
            let quads = [
                (ql[l] & 0x0F) | ((qh[l] & 3) << 4),
                (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4),
                (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
            ];
            for (k, q) in quads.into_iter().enumerate() {
                let scale = f32::from(sc[is + 2 * k] as i8);
                values[l + 32 * k] = d * scale * f32::from(q as i8 - 32);
            }
        }
        out.extend_from_slice(&values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn q4_1_hand_computed_block() {
        let mut block = Vec::new();
        block.extend(f16_bytes(0.5));
        block.extend(f16_bytes(-1.0));
        block.extend((0..16u8).map(|i| (15 - i) << 4 | i));
        let x = dequantize(GgmlType::Q4_1, &block, 32);
        assert_eq!(x[0], -1.0); // q=0
        assert_eq!(x[15], 0.5 * 15.0 - 1.0);
        assert_eq!(x[16], 0.5 * 15.0 - 1.0); // high nibble of byte 0 is 15
        assert_eq!(x[31], -1.0);
    }

    #[test]
    fn q4_0_and_q8_0_are_centred() {
        let mut q4 = f16_bytes(2.0).to_vec();
        q4.extend([0x88u8; 16]);
        assert!(
            dequantize(GgmlType::Q4_0, &q4, 32)
                .iter()
                .all(|&v| v == 0.0)
        );
        let mut q8 = f16_bytes(0.25).to_vec();
        q8.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let x = dequantize(GgmlType::Q8_0, &q8, 32);
        assert_eq!((x[0], x[16], x[31]), (-4.0, 0.0, 3.75));
    }
}
