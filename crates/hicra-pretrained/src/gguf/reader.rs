//! A little-endian cursor over file bytes in which every read is bounds-checked.

use crate::LoadError;

/// Reads GGUF primitives from a byte slice; running past the end is [`LoadError::Truncated`].
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Current offset from the start of the file.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], LoadError> {
        let end = (self.pos as u64)
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len() as u64);
        let Some(end) = end else {
            return Err(LoadError::Truncated {
                what: what.to_string(),
                start: self.pos as u64,
                end: (self.pos as u64).saturating_add(n),
                len: self.bytes.len() as u64,
            });
        };
        let slice = &self.bytes[self.pos..end as usize];
        self.pos = end as usize;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LoadError> {
        Ok(self
            .take(N as u64, what)?
            .try_into()
            .expect("take returned N bytes"))
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, LoadError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16, LoadError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32, LoadError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64, LoadError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn f32(&mut self, what: &str) -> Result<f32, LoadError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &str) -> Result<f64, LoadError> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes.
    pub fn string(&mut self, what: &str) -> Result<String, LoadError> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| LoadError::Corrupt(format!("{what} is not valid UTF-8")))
    }

    /// A count that must be satisfiable by the remaining bytes at `min_item_bytes` each, so a
    /// corrupt count cannot make us allocate or loop for long.
    pub fn count(&mut self, min_item_bytes: u64, what: &str) -> Result<usize, LoadError> {
        let n = self.u64(what)?;
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes.max(1)) > remaining {
            return Err(LoadError::Corrupt(format!(
                "{what} is {n}, more than the {remaining} remaining bytes can hold"
            )));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_stops_at_the_end() {
        let bytes = [1, 0, 0, 0, 2, 0];
        let mut r = ByteReader::new(&bytes);
        assert_eq!(r.u32("a").unwrap(), 1);
        assert!(matches!(
            r.u32("b"),
            Err(LoadError::Truncated {
                start: 4,
                end: 8,
                len: 6,
                ..
            })
        ));
        assert_eq!(r.u16("c").unwrap(), 2);
    }

    #[test]
    fn absurd_lengths_are_errors_not_allocations() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend([0; 8]);
        assert!(ByteReader::new(&bytes).string("s").is_err());
        assert!(ByteReader::new(&bytes).count(1, "n").is_err());
    }
}
