//! Storage types of exported weights and their byte encodings (little-endian throughout).

use half::{bf16, f16};

/// The type weight matrices are stored in. Hugging Face exports store every tensor in it;
/// GGUF exports store matrices in it and 1-D tensors (norms, biases) in F32, as llama.cpp's
/// converter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportDtype {
    F32,
    F16,
    Bf16,
    /// GGUF only: blocks of 32 values as one f16 scale and 32 signed bytes.
    Q8_0,
}

impl std::str::FromStr for ExportDtype {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::Bf16),
            "q8_0" => Ok(Self::Q8_0),
            other => Err(format!("unknown dtype `{other}` (f32, f16, bf16, q8_0)")),
        }
    }
}

impl ExportDtype {
    /// transformers' `torch_dtype` name.
    pub fn torch_name(self) -> Option<&'static str> {
        match self {
            Self::F32 => Some("float32"),
            Self::F16 => Some("float16"),
            Self::Bf16 => Some("bfloat16"),
            Self::Q8_0 => None,
        }
    }

    /// Values encoded as this type: 4, 2 or 2 bytes each, or Q8_0 blocks (`values.len()` a
    /// multiple of 32).
    pub fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            Self::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::F16 => values
                .iter()
                .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                .collect(),
            Self::Bf16 => values
                .iter()
                .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                .collect(),
            Self::Q8_0 => quantize_q8_0(values),
        }
    }
}

/// Values per Q8_0 block.
pub const Q8_0_BLOCK: usize = 32;

/// ggml's Q8_0: per block of 32, scale `d = max|x| / 127` (stored f16) and `q = round(x / d)`.
fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    assert!(
        values.len().is_multiple_of(Q8_0_BLOCK),
        "Q8_0 needs whole blocks"
    );
    let mut out = Vec::with_capacity(values.len() / Q8_0_BLOCK * 34);
    for block in values.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend(f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|&v| (v * inverse).round() as i8 as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_reads_back_through_the_loaders_dequantizer() {
        let values: Vec<f32> = (0..64).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
        let bytes = ExportDtype::Q8_0.encode(&values);
        assert_eq!(bytes.len(), 2 * 34);
        let back =
            hicra_pretrained::gguf::dequantize(hicra_pretrained::gguf::GgmlType::Q8_0, &bytes, 64);
        for (a, b) in values.iter().zip(&back) {
            assert!((a - b).abs() <= 3.0 / 127.0, "{a} vs {b}");
        }
        let zeros = ExportDtype::Q8_0.encode(&[0.0; 32]);
        assert!(zeros[2..].iter().all(|&b| b == 0));
    }

    #[test]
    fn half_types_are_two_bytes() {
        assert_eq!(ExportDtype::F16.encode(&[1.0]), f16::ONE.to_le_bytes());
        assert_eq!(ExportDtype::Bf16.encode(&[1.0, 2.0]).len(), 4);
        assert_eq!(ExportDtype::F32.encode(&[1.0]), 1f32.to_le_bytes());
    }
}
