//! Converting Q/K projection rows between the two RoPE layouts.
//!
//! llama.cpp's converter reorders, within every head of width `d`, the Hugging Face row
//! `s * d/2 + j` (half `s` in {0, 1}, pair index `j`) to row `2j + s`, so that RoPE's pairs
//! become adjacent (see `permute` in llama.cpp's `convert_hf_to_gguf.py`). [`unpermute_rope`]
//! undoes it; [`permute_rope`] applies it. Both act on the outermost dimension, so they serve
//! weights `[rows, in]` and biases `[rows]` alike.

use crate::{HostTensor, RopeLayout};

/// Why a tensor cannot be re-laid out.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("cannot reorder RoPE rows: {0}")]
pub struct RopeLayoutError(String);

/// GGUF (interleaved) Q/K rows -> Hugging Face rotate-half order. `num_heads` is the number of
/// heads the tensor holds (query heads for Q, key/value heads for K).
pub fn unpermute_rope(
    tensor: &HostTensor,
    num_heads: usize,
) -> Result<HostTensor, RopeLayoutError> {
    reorder(tensor, num_heads, RopeLayout::HalfSplit)
}

/// Hugging Face rotate-half Q/K rows -> GGUF (interleaved) order; the inverse of [`unpermute_rope`].
pub fn permute_rope(tensor: &HostTensor, num_heads: usize) -> Result<HostTensor, RopeLayoutError> {
    reorder(tensor, num_heads, RopeLayout::Interleaved)
}

fn reorder(
    tensor: &HostTensor,
    num_heads: usize,
    target: RopeLayout,
) -> Result<HostTensor, RopeLayoutError> {
    let rows = *tensor
        .shape
        .first()
        .ok_or_else(|| RopeLayoutError("tensor has no dimensions".into()))?;
    if num_heads == 0 || rows % num_heads != 0 || !(rows / num_heads).is_multiple_of(2) {
        return Err(RopeLayoutError(format!(
            "{rows} rows do not split into {num_heads} heads of even width"
        )));
    }
    let row_len = tensor.data.len().checked_div(rows).unwrap_or(0);
    let head_dim = rows / num_heads;
    let half = head_dim / 2;
    let mut data = vec![0.0f32; tensor.data.len()];
    for head in 0..num_heads {
        for j in 0..half {
            for s in 0..2 {
                let interleaved = head * head_dim + 2 * j + s;
                let half_split = head * head_dim + s * half + j;
                let (from, to) = match target {
                    RopeLayout::HalfSplit => (interleaved, half_split),
                    RopeLayout::Interleaved => (half_split, interleaved),
                };
                data[to * row_len..(to + 1) * row_len]
                    .copy_from_slice(&tensor.data[from * row_len..(from + 1) * row_len]);
            }
        }
    }
    Ok(HostTensor {
        shape: tensor.shape.clone(),
        data,
        dtype: tensor.dtype.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_head_of_four_moves_rows_as_llama_cpp_does() {
        // HF rows [a0 a1 | b0 b1] (halves) become GGUF rows [a0 b0 a1 b1].
        let hf = HostTensor::new(vec![4], vec![10.0, 11.0, 20.0, 21.0], "F32").unwrap();
        let gguf = permute_rope(&hf, 1).unwrap();
        assert_eq!(gguf.data, vec![10.0, 20.0, 11.0, 21.0]);
        assert_eq!(unpermute_rope(&gguf, 1).unwrap(), hf);
    }

    #[test]
    fn odd_head_width_is_rejected() {
        let t = HostTensor::new(vec![6, 1], vec![0.0; 6], "F32").unwrap();
        assert!(unpermute_rope(&t, 2).is_err());
        assert!(unpermute_rope(&t, 4).is_err());
    }

    proptest! {
        #[test]
        fn unpermute_inverts_permute(heads in 1usize..4, half in 1usize..4, cols in 1usize..4, seed in 0u32..1000) {
            let rows = heads * half * 2;
            let data: Vec<f32> = (0..rows * cols).map(|i| (i as u32 * 7 + seed) as f32).collect();
            let t = HostTensor::new(vec![rows, cols], data, "F32").unwrap();
            let there = permute_rope(&t, heads).unwrap();
            prop_assert_eq!(unpermute_rope(&there, heads).unwrap(), t);
        }
    }
}
