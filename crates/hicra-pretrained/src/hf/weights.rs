//! Tensors of a Hugging Face checkpoint: `model.safetensors` or the shards listed by
//! `model.safetensors.index.json`, converted from F32/F16/BF16 to f32.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::{HostTensor, LoadError};

const SINGLE: &str = "model.safetensors";
const INDEX: &str = "model.safetensors.index.json";

/// Every tensor of the checkpoint in `dir`, by name.
pub fn read_weights(dir: &Path) -> Result<BTreeMap<String, HostTensor>, LoadError> {
    let mut tensors = BTreeMap::new();
    for file in shard_files(dir)? {
        read_shard(&dir.join(file), &mut tensors)?;
    }
    Ok(tensors)
}

fn shard_files(dir: &Path) -> Result<BTreeSet<String>, LoadError> {
    if dir.join(SINGLE).is_file() {
        return Ok(BTreeSet::from([SINGLE.to_string()]));
    }
    let index_path = dir.join(INDEX);
    if !index_path.is_file() {
        return Err(LoadError::MissingFile {
            path: dir.join(SINGLE),
        });
    }
    let text = std::fs::read_to_string(&index_path).map_err(|e| LoadError::io(&index_path, e))?;
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let index: Index = serde_json::from_str(&text).map_err(|source| LoadError::Json {
        path: index_path.clone(),
        source,
    })?;
    let files: BTreeSet<String> = index.weight_map.into_values().collect();
    if let Some(bad) = files
        .iter()
        .find(|f| f.contains('/') || f.contains('\\') || f.starts_with('.'))
    {
        return Err(LoadError::Corrupt(format!(
            "{INDEX} names shard {bad:?} outside the directory"
        )));
    }
    Ok(files)
}

fn read_shard(path: &Path, out: &mut BTreeMap<String, HostTensor>) -> Result<(), LoadError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::MissingFile {
            path: path.to_path_buf(),
        },
        _ => LoadError::io(path, e),
    })?;
    // SAFETY: read-only mapping of a model file that is not modified while loading.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LoadError::io(path, e))?;
    let st = SafeTensors::deserialize(&map)
        .map_err(|e| LoadError::Corrupt(format!("{}: {e}", path.display())))?;
    for (name, view) in st.iter() {
        if name.ends_with("rotary_emb.inv_freq") {
            continue; // recomputed from rope_theta
        }
        let (data, dtype) = match view.dtype() {
            Dtype::F32 => (
                convert(view.data(), 4, |b| {
                    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
                }),
                "F32",
            ),
            Dtype::F16 => (
                convert(view.data(), 2, |b| {
                    f16::from_le_bytes([b[0], b[1]]).to_f32()
                }),
                "F16",
            ),
            Dtype::BF16 => (
                convert(view.data(), 2, |b| {
                    bf16::from_le_bytes([b[0], b[1]]).to_f32()
                }),
                "BF16",
            ),
            other => {
                return Err(LoadError::UnsupportedDtype {
                    tensor: name.to_string(),
                    dtype: format!("{other:?}"),
                    supported: "F32, F16, BF16",
                });
            }
        };
        let tensor = HostTensor::new(view.shape().to_vec(), data, dtype)
            .map_err(|p| LoadError::tensor(name, p))?;
        if out.insert(name.to_string(), tensor).is_some() {
            return Err(LoadError::tensor(name, "appears in two shards"));
        }
    }
    Ok(())
}

fn convert(bytes: &[u8], width: usize, f: impl Fn(&[u8]) -> f32) -> Vec<f32> {
    bytes.chunks_exact(width).map(f).collect()
}
