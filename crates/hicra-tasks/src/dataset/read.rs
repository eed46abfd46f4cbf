//! Reading a dataset file into JSON objects, one per row, each with its line (JSONL) or row
//! (Parquet) number so a bad row can be reported where it is.

use std::fs::File;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The file formats a dataset can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One JSON object per line (blank lines ignored).
    Jsonl,
    /// Apache Parquet (flat schema; snappy or uncompressed pages).
    Parquet,
}

impl FileFormat {
    /// The format a file name implies (`.jsonl`, `.json`, `.parquet`, `.pq`).
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "json" | "ndjson" => Some(Self::Jsonl),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }

    /// How a row is located in messages: `line 7` or `row 7`.
    pub fn row_word(self) -> &'static str {
        match self {
            Self::Jsonl => "line",
            Self::Parquet => "row",
        }
    }
}

/// One row: its 1-based line (JSONL) or row (Parquet) number and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub number: usize,
    pub fields: Map<String, Value>,
}

/// A row that could not be read, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub number: usize,
    pub reason: String,
}

/// Everything read from one file.
#[derive(Debug, Default)]
pub struct Table {
    pub rows: Vec<Row>,
    pub bad: Vec<BadRow>,
}

impl Table {
    fn push(&mut self, number: usize, value: Result<Value, String>) {
        match value {
            Ok(Value::Object(fields)) => self.rows.push(Row { number, fields }),
            Ok(other) => self.bad.push(BadRow {
                number,
                reason: format!("expected a JSON object, found {}", kind_of(&other)),
            }),
            Err(reason) => self.bad.push(BadRow { number, reason }),
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads every row of `path`. A file that cannot be opened or is not in `format` at all is an
/// error; a row that cannot be read is recorded in [`Table::bad`] and reading goes on.
pub fn read(path: &Path, format: FileFormat) -> Result<Table, String> {
    match format {
        FileFormat::Jsonl => read_jsonl(path),
        FileFormat::Parquet => read_parquet(path),
    }
}

fn read_jsonl(path: &Path) -> Result<Table, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut table = Table::default();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value = std::str::from_utf8(line)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| {
                serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}"))
            });
        table.push(i + 1, value);
    }
    Ok(table)
}

fn read_parquet(path: &Path) -> Result<Table, String> {
    use parquet::file::reader::SerializedFileReader;
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| format!("{} is not a readable Parquet file: {e}", path.display()))?;
    let mut table = Table::default();
    for (i, row) in reader.into_iter().enumerate() {
        let value = row
            .map(|row| row.to_json_value())
            .map_err(|e| format!("unreadable Parquet row: {e}"));
        table.push(i + 1, value);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn jsonl_rows_keep_their_line_numbers_and_bad_lines_are_kept_aside() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(
            file,
            "{{\"q\": \"a\"}}\n\n{{\"q\": \r\n[1]\n\u{ff}\n{{\"q\": \"b\"}}\r\n"
        )
        .unwrap();
        let table = read(file.path(), FileFormat::Jsonl).unwrap();
        let numbers: Vec<usize> = table.rows.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [1, 6]);
        let bad: Vec<(usize, bool)> = table
            .bad
            .iter()
            .map(|b| (b.number, b.reason.is_empty()))
            .collect();
        assert_eq!(bad, [(3, false), (4, false), (5, false)]);
        assert!(table.bad[1].reason.contains("an array"));
    }

    #[test]
    fn formats_come_from_extensions_and_missing_files_are_errors() {
        assert_eq!(
            FileFormat::from_path(Path::new("a/train.JSONL")),
            Some(FileFormat::Jsonl)
        );
        assert_eq!(
            FileFormat::from_path(Path::new("x.parquet")),
            Some(FileFormat::Parquet)
        );
        assert_eq!(FileFormat::from_path(Path::new("x.csv")), None);
        let err = read(Path::new("/nonexistent/x.jsonl"), FileFormat::Jsonl).unwrap_err();
        assert!(err.contains("/nonexistent/x.jsonl"), "{err}");
        let text = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(text.path(), "not parquet").unwrap();
        assert!(read(text.path(), FileFormat::Parquet).is_err());
    }
}
