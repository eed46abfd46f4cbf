//! The GGUF v3 container: header, typed key/value metadata, tensor infos, then the tensor
//! data, each piece aligned to 32 bytes (`general.alignment`'s default). Little-endian.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::ExportError;

/// GGUF's alignment of the data section and of every tensor in it.
pub const ALIGNMENT: u64 = 32;

/// A metadata value of one of the types exports need.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strings(Vec<String>),
    I32s(Vec<i32>),
}

impl Value {
    /// gguf's type codes.
    fn code(&self) -> u32 {
        match self {
            Self::U32(_) => 4,
            Self::I32(_) => 5,
            Self::F32(_) => 6,
            Self::Bool(_) => 7,
            Self::Str(_) => 8,
            Self::Strings(_) | Self::I32s(_) => 9,
        }
    }
}

/// One tensor: name, row-major shape, ggml type code and its encoded bytes.
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub ggml_type: u32,
    pub data: Vec<u8>,
}

/// Writes a complete GGUF file.
pub fn write(
    path: &Path,
    metadata: &[(String, Value)],
    tensors: &[Tensor],
) -> Result<(), ExportError> {
    let io = |e| ExportError::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = Counted {
        inner: BufWriter::new(file),
        written: 0,
    };
    w.bytes(b"GGUF").map_err(io)?;
    w.u32(3).map_err(io)?;
    w.u64(tensors.len() as u64).map_err(io)?;
    w.u64(metadata.len() as u64).map_err(io)?;
    for (key, value) in metadata {
        w.string(key).map_err(io)?;
        w.u32(value.code()).map_err(io)?;
        w.value(value).map_err(io)?;
    }
    let mut offset = 0u64;
    for t in tensors {
        w.string(&t.name).map_err(io)?;
        w.u32(t.shape.len() as u32).map_err(io)?;
        for &d in t.shape.iter().rev() {
            w.u64(d as u64).map_err(io)?; // fastest-varying first
        }
        w.u32(t.ggml_type).map_err(io)?;
        w.u64(offset).map_err(io)?;
        offset = (offset + t.data.len() as u64).next_multiple_of(ALIGNMENT);
    }
    for t in tensors {
        w.pad().map_err(io)?;
        w.bytes(&t.data).map_err(io)?;
    }
    w.inner.flush().map_err(io)?;
    w.inner
        .into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)
}

struct Counted<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Counted<W> {
    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.written += b.len() as u64;
        self.inner.write_all(b)
    }
    fn u32(&mut self, v: u32) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.u64(s.len() as u64)?;
        self.bytes(s.as_bytes())
    }
    fn pad(&mut self) -> std::io::Result<()> {
        let to = self.written.next_multiple_of(ALIGNMENT);
        let zeros = vec![0u8; (to - self.written) as usize];
        self.bytes(&zeros)
    }
    fn value(&mut self, v: &Value) -> std::io::Result<()> {
        match v {
            Value::U32(x) => self.u32(*x),
            Value::I32(x) => self.bytes(&x.to_le_bytes()),
            Value::F32(x) => self.bytes(&x.to_le_bytes()),
            Value::Bool(x) => self.bytes(&[u8::from(*x)]),
            Value::Str(s) => self.string(s),
            Value::Strings(items) => {
                self.u32(Value::Str(String::new()).code())?;
                self.u64(items.len() as u64)?;
                items.iter().try_for_each(|s| self.string(s))
            }
            Value::I32s(items) => {
                self.u32(Value::I32(0).code())?;
                self.u64(items.len() as u64)?;
                items.iter().try_for_each(|x| self.bytes(&x.to_le_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaders_parser_reads_what_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gguf");
        let metadata = vec![
            (
                "general.architecture".to_string(),
                Value::Str("llama".into()),
            ),
            ("a.count".to_string(), Value::U32(7)),
            ("a.eps".to_string(), Value::F32(1e-5)),
            ("a.flag".to_string(), Value::Bool(true)),
            (
                "a.words".to_string(),
                Value::Strings(vec!["x".into(), "yz".into()]),
            ),
            ("a.empty".to_string(), Value::Strings(vec![])),
            ("a.types".to_string(), Value::I32s(vec![1, 3])),
        ];
        let tensors = vec![
            Tensor {
                name: "v".into(),
                shape: vec![3],
                ggml_type: 0,
                data: [1f32, 2.0, 3.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            },
            Tensor {
                name: "m".into(),
                shape: vec![2, 1],
                ggml_type: 0,
                data: [4f32, 5.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
            },
        ];
        write(&path, &metadata, &tensors).unwrap();
        let file = hicra_pretrained::gguf::GgufFile::open(&path).unwrap();
        let md = &file.header.metadata;
        assert_eq!(md.req_u64("a.count").unwrap(), 7);
        assert_eq!(md.opt_f64("a.eps").unwrap(), Some(f64::from(1e-5f32)));
        assert_eq!(md.opt_bool("a.flag").unwrap(), Some(true));
        assert_eq!(md.req_strings("a.words").unwrap(), vec!["x", "yz"]);
        assert!(md.req_strings("a.empty").unwrap().is_empty());
        let infos = &file.header.tensors;
        assert_eq!(infos[1].shape, vec![2, 1]);
        assert_eq!(file.tensor(&infos[0]).unwrap().data, vec![1.0, 2.0, 3.0]);
        assert_eq!(file.tensor(&infos[1]).unwrap().data, vec![4.0, 5.0]);
    }
}
