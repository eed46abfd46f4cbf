//! TensorBoard event files, written directly: TFRecord framing around hand-encoded `Event`
//! protobufs with scalar summaries, so `tensorboard --logdir RUN_DIR` shows every metric.
//!
//! Format facts (from TensorFlow's `event.proto`, `summary.proto` and `record_writer.cc`):
//! a record is `u64 length (LE) | u32 masked_crc32c(length) | data | u32 masked_crc32c(data)`,
//! where `masked(crc) = rotate_right(crc, 15) + 0xa282ead8`. `Event` has `wall_time` (double,
//! field 1), `step` (int64, field 2), `file_version` (string, field 3), `summary` (field 5);
//! `Summary.value` (field 1) holds `Value { tag: string = 1, simple_value: float = 2 }`.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends scalar events to one `events.out.tfevents.*` file.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir` and writes the version header event.
    pub fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let path = dir.join(format!(
            "events.out.tfevents.{}.hicra.{}",
            now.as_secs(),
            std::process::id()
        ));
        let mut writer = Self {
            out: BufWriter::new(File::create(&path)?),
            path,
        };
        let mut header = Vec::new();
        put_double(&mut header, 1, wall_time());
        put_bytes(&mut header, 3, b"brain.Event:2");
        writer.write_record(&header)?;
        writer.out.flush()?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One event holding every `(tag, value)` of a step. Non-finite values are skipped.
    pub fn write_scalars<'a>(
        &mut self,
        step: u64,
        scalars: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> io::Result<()> {
        let mut summary = Vec::new();
        for (tag, value) in scalars.into_iter().filter(|(_, v)| v.is_finite()) {
            let mut entry = Vec::new();
            put_bytes(&mut entry, 1, tag.as_bytes());
            put_float(&mut entry, 2, value as f32);
            put_bytes(&mut summary, 1, &entry);
        }
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_varint_field(&mut event, 2, step);
        put_bytes(&mut event, 5, &summary);
        self.write_record(&event)?;
        self.out.flush()
    }

    fn write_record(&mut self, data: &[u8]) -> io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())
    }
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field << 3));
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_varint(out, u64::from(field << 3 | 1));
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_float(out: &mut Vec<u8>, field: u32, v: f32) {
    put_varint(out, u64::from(field << 3 | 5));
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A decoded scalar event, for tests and tools.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarEvent {
    pub step: u64,
    pub tag: String,
    pub value: f32,
}

/// Reads back every scalar of an event file, checking both CRCs of every record.
pub fn read_scalars(path: &Path) -> io::Result<Vec<ScalarEvent>> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut scalars = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let header = data
            .get(at..at + 12)
            .ok_or_else(|| bad("truncated record header"))?;
        let len = u64::from_le_bytes(header[..8].try_into().unwrap()) as usize;
        if masked_crc(&header[..8]) != u32::from_le_bytes(header[8..12].try_into().unwrap()) {
            return Err(bad("length CRC mismatch"));
        }
        let body = data
            .get(at + 12..at + 12 + len)
            .ok_or_else(|| bad("truncated record"))?;
        let crc = data
            .get(at + 12 + len..at + 16 + len)
            .ok_or_else(|| bad("truncated CRC"))?;
        if masked_crc(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
            return Err(bad("data CRC mismatch"));
        }
        decode_event(body, &mut scalars).ok_or_else(|| bad("malformed event"))?;
        at += 16 + len;
    }
    Ok(scalars)
}

/// Protobuf fields of one message: (field number, wire value).
fn fields(mut bytes: &[u8]) -> Option<Vec<(u32, Field<'_>)>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = take_varint(&mut bytes)?;
        let field = match key & 7 {
            0 => Field::Varint(take_varint(&mut bytes)?),
            1 => Field::Fixed64(u64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?)),
            2 => {
                let len = take_varint(&mut bytes)? as usize;
                Field::Bytes(take(&mut bytes, len)?)
            }
            5 => Field::Fixed32(u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?)),
            _ => return None,
        };
        out.push(((key >> 3) as u32, field));
    }
    Some(out)
}

enum Field<'a> {
    Varint(u64),
    #[allow(dead_code)] // decoded to skip it; no field we read is a fixed64 but wall_time
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = (bytes.get(..n)?, bytes.get(n..)?);
    *bytes = tail;
    Some(head)
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *take(bytes, 1)?.first()?;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn decode_event(body: &[u8], scalars: &mut Vec<ScalarEvent>) -> Option<()> {
    let event = fields(body)?;
    let step = event.iter().find_map(|(n, f)| match (n, f) {
        (2, Field::Varint(s)) => Some(*s),
        _ => None,
    });
    for (n, f) in &event {
        let (5, Field::Bytes(summary)) = (n, f) else {
            continue;
        };
        for (_, value) in fields(summary)?.iter().filter(|(n, _)| *n == 1) {
            let Field::Bytes(value) = value else {
                return None;
            };
            let mut tag = None;
            let mut number = None;
            for (n, f) in fields(value)? {
                match (n, f) {
                    (1, Field::Bytes(t)) => tag = Some(String::from_utf8_lossy(t).into_owned()),
                    (2, Field::Fixed32(bits)) => number = Some(f32::from_bits(bits)),
                    _ => {}
                }
            }
            scalars.push(ScalarEvent {
                step: step.unwrap_or(0),
                tag: tag?,
                value: number?,
            });
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_masking_matches_tensorflow_for_a_known_value() {
        // crc32c("123456789") = 0xE3069283 is the standard CRC-32C check value.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xE306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn scalars_round_trip_with_checked_framing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.write_scalars(0, [("reward/mean", 0.25), ("nan", f64::NAN)])
            .unwrap();
        w.write_scalars(300, [("reward/mean", 0.75), ("accuracy/train", 1.0)])
            .unwrap();
        let got = read_scalars(w.path()).unwrap();
        let expected = [
            ScalarEvent {
                step: 0,
                tag: "reward/mean".into(),
                value: 0.25,
            },
            ScalarEvent {
                step: 300,
                tag: "reward/mean".into(),
                value: 0.75,
            },
            ScalarEvent {
                step: 300,
                tag: "accuracy/train".into(),
                value: 1.0,
            },
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn a_corrupted_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.write_scalars(1, [("x", 1.0)]).unwrap();
        let mut bytes = std::fs::read(w.path()).unwrap();
        let last = bytes.len() - 6;
        bytes[last] ^= 0xff;
        std::fs::write(w.path(), &bytes).unwrap();
        assert!(read_scalars(w.path()).is_err());
    }
}
