//! ggml tensor storage types: codes, names and block geometry.

/// A storage type this crate can dequantize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q8_0,
    Q4K,
    Q6K,
}

/// The names of the types we support, for error messages.
pub const SUPPORTED: &str = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K";

impl GgmlType {
    /// The type with ggml code `code`, or the code's name when it is one we cannot read.
    pub fn from_code(code: u32) -> Result<Self, String> {
        Ok(match code {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            12 => Self::Q4K,
            14 => Self::Q6K,
            30 => Self::BF16,
            other => return Err(unsupported_name(other)),
        })
    }

    /// The name llama.cpp uses (`Q4_1`).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q8_0 => "Q8_0",
            Self::Q4K => "Q4_K",
            Self::Q6K => "Q6_K",
        }
    }

    /// `(values per block, bytes per block)`.
    pub fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 2 + 16),
            Self::Q4_1 => (32, 2 + 2 + 16),
            Self::Q8_0 => (32, 2 + 32),
            Self::Q4K => (256, 2 + 2 + 12 + 128),
            Self::Q6K => (256, 128 + 64 + 16 + 2),
        }
    }

    /// Bytes needed for `n` values, or an explanation when `n` is not a whole number of blocks.
    pub fn byte_size(self, n: u64) -> Result<u64, String> {
        let (per_block, bytes) = self.block();
        if !n.is_multiple_of(per_block as u64) {
            return Err(format!(
                "{n} values are not a whole number of {}-value {} blocks",
                per_block,
                self.name()
            ));
        }
        (n / per_block as u64)
            .checked_mul(bytes as u64)
            .ok_or_else(|| "size overflows".to_string())
    }
}

fn unsupported_name(code: u32) -> String {
    let name = match code {
        6 => "Q5_0",
        7 => "Q5_1",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        13 => "Q5_K",
        15 => "Q8_K",
        16..=23 => "IQ*",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        _ => return format!("type code {code}"),
    };
    name.to_string()
}
