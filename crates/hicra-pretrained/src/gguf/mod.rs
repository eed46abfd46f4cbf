//! GGUF checkpoints (llama.cpp's format): memory-mapped, parsed with every offset checked,
//! tensors dequantized to f32 under Hugging Face names.

mod config;
mod dequant;
mod ggml_type;
mod header;
mod metadata;
mod names;
mod reader;
mod vocab;

pub use config::{config_from_metadata, special_tokens};
pub use dequant::dequantize;
pub use ggml_type::GgmlType;
pub use header::{GgufHeader, TensorInfo};
pub use metadata::{Metadata, MetadataValue};
pub use names::{gguf_name, hf_name};
pub use vocab::{pre_tokenizer_name, tokenizer_from_metadata};

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use crate::{HostTensor, LoadError, Pretrained};

/// An open GGUF file: the mapping and its parsed header.
pub struct GgufFile {
    map: memmap2::Mmap,
    pub header: GgufHeader,
}

impl GgufFile {
    /// Maps and parses `path`.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let file = File::open(path).map_err(|e| LoadError::io(path, e))?;
        // SAFETY: the mapping is read-only; like every mmap reader we rely on the file not being
        // truncated or rewritten while it is open (the usual contract for model files).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LoadError::io(path, e))?;
        let header = GgufHeader::parse(&map)?;
        Ok(Self { map, header })
    }

    /// Dequantizes one tensor (its bytes were bounds-checked when the header was parsed).
    pub fn tensor(&self, info: &TensorInfo) -> Result<HostTensor, LoadError> {
        let ty = info.supported_type()?;
        let data = dequantize(ty, &self.map[info.byte_range.clone()], info.num_values());
        HostTensor::new(info.shape.clone(), data, ty.name())
            .map_err(|p| LoadError::tensor(&info.name, p))
    }
}

/// Loads a GGUF file: config, f32 tensors under HF names (Q/K rows kept in GGUF order, see
/// [`crate::RopeLayout`]), tokenizer and chat template.
pub fn load(path: &Path) -> Result<Pretrained, LoadError> {
    let file = GgufFile::open(path)?;
    let metadata = &file.header.metadata;
    let config = config_from_metadata(metadata, &file.header.tensors)?;
    let mut tensors = BTreeMap::new();
    for info in &file.header.tensors {
        let name = hf_name(&info.name)?;
        let tensor = file.tensor(info)?;
        tensor.check_finite(&info.name)?;
        if tensors.insert(name, tensor).is_some() {
            return Err(LoadError::tensor(&info.name, "appears twice"));
        }
    }
    let tokenizer = tokenizer_from_metadata(metadata, special_tokens(metadata)?)?;
    let jinja = metadata.opt_str("tokenizer.chat_template")?;
    Ok(Pretrained::of_checkpoint(config, tensors, tokenizer, jinja))
}
