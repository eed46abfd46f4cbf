//! A TOML value tree that remembers where every key and value came from, across files.
//!
//! Pipelines are merged from several sources (a base file, the file that extends it, `--set`
//! overrides), so spans carry a [`FileId`] and diagnostics can point into the right file.

use std::borrow::Cow;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::source::{FileId, Span};

#[derive(Clone, Debug)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ValueKind {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Value>),
    Table(Table),
}

#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// Keys in file order (so diagnostics and examples read naturally).
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub entries: Vec<(Key, Value)>,
}

impl Table {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| v)
    }

    pub fn get_key(&self, name: &str) -> Option<&Key> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, _)| k)
    }

    pub fn remove(&mut self, name: &str) -> Option<(Key, Value)> {
        let index = self.entries.iter().position(|(k, _)| k.name == name)?;
        Some(self.entries.remove(index))
    }

    /// Inserts or replaces `name`; tables are merged key by key, anything else is replaced.
    pub fn merge_entry(&mut self, key: Key, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| k.name == key.name) {
            Some((_, existing)) => existing.merge(value),
            None => self.entries.push((key, value)),
        }
    }
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ValueKind::String(_) => "string",
            ValueKind::Integer(_) => "integer",
            ValueKind::Float(_) => "float",
            ValueKind::Boolean(_) => "boolean",
            ValueKind::Datetime(_) => "datetime",
            ValueKind::Array(_) => "array",
            ValueKind::Table(_) => "table",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match &self.kind {
            ValueKind::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_table_mut(&mut self) -> Option<&mut Table> {
        match &mut self.kind {
            ValueKind::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Deep merge: `overlay` wins, tables are merged recursively.
    pub fn merge(&mut self, overlay: Value) {
        match (&mut self.kind, overlay.kind) {
            (ValueKind::Table(base), ValueKind::Table(over)) => {
                for (key, value) in over.entries {
                    base.merge_entry(key, value);
                }
            }
            (_, kind) => {
                *self = Value {
                    kind,
                    span: overlay.span,
                }
            }
        }
    }

    /// Parses a TOML document into a spanned table value.
    pub fn parse_document(text: &str, file: FileId) -> Result<Value, (String, Span)> {
        let doc = DeTable::parse(text).map_err(|e| de_error(&e, file))?;
        let span = Span {
            file,
            range: 0..text.len(),
        };
        Ok(Value {
            kind: ValueKind::Table(convert_table(doc.get_ref(), file)),
            span,
        })
    }

    /// Parses a single TOML value, e.g. the right-hand side of `--set key=value`. Bare words
    /// that are not valid TOML are taken as strings, so `--set run.out_dir=runs/x` works.
    pub fn parse_scalar(text: &str, file: FileId) -> Value {
        let span = Span {
            file,
            range: 0..text.len(),
        };
        match DeValue::parse(text) {
            Ok(v) => convert(&v, file),
            Err(_) => Value {
                kind: ValueKind::String(text.to_string()),
                span,
            },
        }
    }
}

fn de_error(e: &toml::de::Error, file: FileId) -> (String, Span) {
    let range = e.span().unwrap_or(0..0);
    (e.message().to_string(), Span { file, range })
}

fn convert_table(table: &DeTable<'_>, file: FileId) -> Table {
    let entries = table
        .iter()
        .map(|(k, v)| {
            let key = Key {
                name: k.get_ref().to_string(),
                span: Span {
                    file,
                    range: k.span(),
                },
            };
            (key, convert(v, file))
        })
        .collect();
    Table { entries }
}

fn convert(v: &Spanned<DeValue<'_>>, file: FileId) -> Value {
    let span = Span {
        file,
        range: v.span(),
    };
    let kind = match v.get_ref() {
        DeValue::String(s) => ValueKind::String(Cow::to_string(s)),
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) => ValueKind::Integer(n),
            Err(_) => ValueKind::String(i.as_str().to_string()),
        },
        DeValue::Float(f) => ValueKind::Float(parse_float(f.as_str())),
        DeValue::Boolean(b) => ValueKind::Boolean(*b),
        DeValue::Datetime(d) => ValueKind::Datetime(d.to_string()),
        DeValue::Array(a) => ValueKind::Array(a.iter().map(|x| convert(x, file)).collect()),
        DeValue::Table(t) => ValueKind::Table(convert_table(t, file)),
    };
    Value { kind, span }
}

fn parse_float(text: &str) -> f64 {
    let clean = text.replace('_', "");
    match clean.as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" | "+nan" | "-nan" => f64::NAN,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Value {
        Value::parse_document(text, 0).unwrap()
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "[stages.a]\nkind = \"x\"\nlr = 1e-3\n";
        let root = doc(text);
        let stages = root
            .as_table()
            .unwrap()
            .get("stages")
            .unwrap()
            .as_table()
            .unwrap();
        let a = stages.get("a").unwrap().as_table().unwrap();
        let key = a.get_key("lr").unwrap();
        assert_eq!(&text[key.span.range.clone()], "lr");
        assert!(matches!(a.get("lr").unwrap().kind, ValueKind::Float(f) if f == 1e-3));
        assert_eq!(&text[a.get("kind").unwrap().span.range.clone()], "\"x\"");
    }

    #[test]
    fn merge_is_deep_and_overlay_wins() {
        let mut base = doc("[a]\nx = 1\ny = 2\n");
        base.merge(doc("[a]\ny = 3\nz = 4\n"));
        let a = base
            .as_table()
            .unwrap()
            .get("a")
            .unwrap()
            .as_table()
            .unwrap();
        let keys: Vec<_> = a.entries.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(keys, ["x", "y", "z"]);
        assert!(matches!(a.get("y").unwrap().kind, ValueKind::Integer(3)));
    }

    #[test]
    fn syntax_errors_carry_a_span() {
        let (msg, span) = Value::parse_document("a = \n", 3).unwrap_err();
        assert!(!msg.is_empty());
        assert_eq!(span.file, 3);
    }

    #[test]
    fn scalars_fall_back_to_strings() {
        assert!(matches!(
            Value::parse_scalar("42", 0).kind,
            ValueKind::Integer(42)
        ));
        assert!(
            matches!(Value::parse_scalar("runs/x", 0).kind, ValueKind::String(ref s) if s == "runs/x")
        );
    }
}
