//! GGUF metadata values (every type of the format, arrays included) and typed accessors.

use std::collections::BTreeMap;

use super::reader::ByteReader;
use crate::LoadError;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<MetadataValue>),
}

/// Arrays nest at most this deep (the format allows arrays of arrays; real files use one level).
const MAX_NESTING: usize = 4;

impl MetadataValue {
    /// Reads a value of GGUF type code `kind`.
    pub(crate) fn read(r: &mut ByteReader<'_>, kind: u32, depth: usize) -> Result<Self, LoadError> {
        const W: &str = "metadata value";
        Ok(match kind {
            0 => Self::U8(r.u8(W)?),
            1 => Self::I8(r.u8(W)? as i8),
            2 => Self::U16(r.u16(W)?),
            3 => Self::I16(r.u16(W)? as i16),
            4 => Self::U32(r.u32(W)?),
            5 => Self::I32(r.u32(W)? as i32),
            6 => Self::F32(r.f32(W)?),
            7 => match r.u8(W)? {
                0 => Self::Bool(false),
                1 => Self::Bool(true),
                other => {
                    return Err(LoadError::Corrupt(format!(
                        "boolean metadata value {other}"
                    )));
                }
            },
            8 => Self::String(r.string(W)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(LoadError::Corrupt(
                        "metadata arrays nested too deeply".into(),
                    ));
                }
                let item_kind = r.u32("array item type")?;
                let n = r.count(min_size(item_kind), "array length")?;
                let items = (0..n)
                    .map(|_| Self::read(r, item_kind, depth + 1))
                    .collect::<Result<_, _>>()?;
                Self::Array(items)
            }
            10 => Self::U64(r.u64(W)?),
            11 => Self::I64(r.u64(W)? as i64),
            12 => Self::F64(r.f64(W)?),
            other => {
                return Err(LoadError::Corrupt(format!(
                    "unknown metadata value type {other}"
                )));
            }
        })
    }

    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetadataValue]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Short name of the value's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::U8(_) | Self::U16(_) | Self::U32(_) | Self::U64(_) => "unsigned integer",
            Self::I8(_) | Self::I16(_) | Self::I32(_) | Self::I64(_) => "signed integer",
            Self::F32(_) | Self::F64(_) => "float",
            Self::Bool(_) => "bool",
            Self::String(_) => "string",
            Self::Array(_) => "array",
        }
    }
}

/// Smallest encoded size of one item of type `kind` (for sanity-checking array lengths).
fn min_size(kind: u32) -> u64 {
    match kind {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12,
        _ => 1,
    }
}

/// All metadata of a file, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata(pub BTreeMap<String, MetadataValue>);

impl Metadata {
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.0.get(key)
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        want: &str,
        f: impl Fn(&'a MetadataValue) -> Option<T>,
    ) -> Result<Option<T>, LoadError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| {
                LoadError::metadata(key, format!("expected {want}, found {}", v.type_name()))
            }),
        }
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, LoadError> {
        self.typed(key, "a non-negative integer", MetadataValue::as_u64)
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, LoadError> {
        self.typed(key, "a number", MetadataValue::as_f64)
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, LoadError> {
        self.typed(key, "a string", MetadataValue::as_str)
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, LoadError> {
        self.typed(key, "a bool", |v| match v {
            MetadataValue::Bool(b) => Some(*b),
            _ => None,
        })
    }

    pub fn opt_array(&self, key: &str) -> Result<Option<&[MetadataValue]>, LoadError> {
        self.typed(key, "an array", MetadataValue::as_array)
    }

    pub fn req_u64(&self, key: &str) -> Result<u64, LoadError> {
        self.opt_u64(key)?
            .ok_or_else(|| LoadError::metadata(key, "is missing"))
    }

    /// A required size that must fit in `usize`.
    pub fn req_usize(&self, key: &str) -> Result<usize, LoadError> {
        usize::try_from(self.req_u64(key)?).map_err(|_| LoadError::metadata(key, "is too large"))
    }

    pub fn req_str(&self, key: &str) -> Result<&str, LoadError> {
        self.opt_str(key)?
            .ok_or_else(|| LoadError::metadata(key, "is missing"))
    }

    /// A required array of strings.
    pub fn req_strings(&self, key: &str) -> Result<Vec<&str>, LoadError> {
        let items = self
            .opt_array(key)?
            .ok_or_else(|| LoadError::metadata(key, "is missing"))?;
        items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    LoadError::metadata(key, format!("holds a {}, expected strings", v.type_name()))
                })
            })
            .collect()
    }
}
