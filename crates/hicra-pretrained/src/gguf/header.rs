//! The GGUF header: version, metadata, tensor infos and where tensor data starts.
//!
//! Layout (GGUF v2/v3, little-endian): magic `GGUF`, u32 version, u64 tensor count, u64
//! metadata count, metadata entries (string key, u32 type, value), tensor infos (string name,
//! u32 number of dims, u64 dims with the fastest-varying first, u32 ggml type, u64 offset
//! relative to the data section), then padding to `general.alignment` (default 32) and the data.

use super::ggml_type::{GgmlType, SUPPORTED};
use super::metadata::{Metadata, MetadataValue};
use super::reader::ByteReader;
use crate::LoadError;

const DEFAULT_ALIGNMENT: u64 = 32;
const MAX_DIMS: u32 = 4;

/// Where one tensor lives in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Row-major shape (the reverse of GGUF's fastest-first dims).
    pub shape: Vec<usize>,
    /// Storage type, or the name of an unsupported one.
    pub ggml_type: Result<GgmlType, String>,
    /// Absolute byte range of the tensor's data in the file (empty for unsupported types).
    pub byte_range: std::ops::Range<usize>,
}

impl TensorInfo {
    pub fn num_values(&self) -> usize {
        self.shape.iter().product()
    }

    /// Storage type name as written in the file (`Q4_1`).
    pub fn dtype_name(&self) -> &str {
        match &self.ggml_type {
            Ok(t) => t.name(),
            Err(name) => name,
        }
    }

    /// The supported type, or an error naming the tensor.
    pub fn supported_type(&self) -> Result<GgmlType, LoadError> {
        self.ggml_type
            .clone()
            .map_err(|dtype| LoadError::UnsupportedDtype {
                tensor: self.name.clone(),
                dtype,
                supported: SUPPORTED,
            })
    }
}

/// A parsed GGUF header.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
}

impl GgufHeader {
    /// Parses the header of a whole file held in `bytes`, checking that every tensor's data
    /// lies inside it.
    pub fn parse(bytes: &[u8]) -> Result<Self, LoadError> {
        let mut r = ByteReader::new(bytes);
        let magic: [u8; 4] = r.take(4, "magic")?.try_into().expect("4 bytes");
        if &magic != b"GGUF" {
            return Err(LoadError::BadMagic { found: magic });
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(LoadError::UnsupportedGgufVersion(version));
        }
        let tensor_count = r.count(24, "tensor count")?;
        let kv_count = r.count(13, "metadata count")?;
        let mut metadata = Metadata::default();
        for _ in 0..kv_count {
            let key = r.string("metadata key")?;
            let kind = r.u32("metadata type")?;
            let value = MetadataValue::read(&mut r, kind, 0)?;
            metadata.0.insert(key, value);
        }
        let raw: Vec<_> = (0..tensor_count)
            .map(|_| read_tensor_info(&mut r))
            .collect::<Result<_, _>>()?;
        let alignment = metadata
            .opt_u64("general.alignment")?
            .unwrap_or(DEFAULT_ALIGNMENT);
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(LoadError::metadata(
                "general.alignment",
                format!("{alignment} is not a power of two"),
            ));
        }
        let data_start = (r.position() as u64).next_multiple_of(alignment);
        let tensors = raw
            .into_iter()
            .map(|t| t.locate(data_start, alignment, bytes.len() as u64))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            version,
            metadata,
            tensors,
        })
    }
}

struct RawTensorInfo {
    name: String,
    dims: Vec<u64>,
    code: u32,
    offset: u64,
}

fn read_tensor_info(r: &mut ByteReader<'_>) -> Result<RawTensorInfo, LoadError> {
    let name = r.string("tensor name")?;
    let n_dims = r.u32("tensor dimension count")?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(LoadError::tensor(
            &name,
            format!("has {n_dims} dimensions (1 to {MAX_DIMS} supported)"),
        ));
    }
    let dims = (0..n_dims)
        .map(|_| r.u64("tensor dimension"))
        .collect::<Result<_, _>>()?;
    let code = r.u32("tensor type")?;
    let offset = r.u64("tensor offset")?;
    Ok(RawTensorInfo {
        name,
        dims,
        code,
        offset,
    })
}

impl RawTensorInfo {
    fn locate(
        self,
        data_start: u64,
        alignment: u64,
        file_len: u64,
    ) -> Result<TensorInfo, LoadError> {
        let err = |p: String| LoadError::tensor(&self.name, p);
        let n = self
            .dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= usize::MAX as u64 / 4);
        let n = n.ok_or_else(|| err(format!("dims {:?} are too large", self.dims)))?;
        let shape = self.dims.iter().rev().map(|&d| d as usize).collect();
        let ggml_type = GgmlType::from_code(self.code);
        let byte_range = match ggml_type {
            Err(_) => 0..0,
            Ok(ty) => {
                if !self.offset.is_multiple_of(alignment) {
                    return Err(err(format!(
                        "data offset {} is not aligned to {alignment}",
                        self.offset
                    )));
                }
                let size = ty.byte_size(n).map_err(err)?;
                let start = data_start.checked_add(self.offset);
                let end = start
                    .and_then(|s| s.checked_add(size))
                    .filter(|&e| e <= file_len);
                let (Some(start), Some(end)) = (start, end) else {
                    return Err(LoadError::Truncated {
                        what: format!("tensor {}", self.name),
                        start: data_start.saturating_add(self.offset),
                        end: data_start.saturating_add(self.offset).saturating_add(size),
                        len: file_len,
                    });
                };
                start as usize..end as usize
            }
        };
        Ok(TensorInfo {
            name: self.name,
            shape,
            ggml_type,
            byte_range,
        })
    }
}
