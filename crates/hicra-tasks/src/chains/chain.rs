//! The chain itself: a start number, its operations and the value after each, with the two
//! ways of writing it ([`ChainStyle`]) as a question and as a worked solution, and its
//! `meta.chain` JSON form. Judging a response's steps against a chain lives in `truth`.

use serde::Deserialize;
use serde_json::{Value, json};

/// How problems and worked solutions are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainStyle {
    /// `7 +5 *2 -3`, solved as `7+5=12` lines and `\boxed{21}` (character-level policies).
    #[default]
    Compact,
    /// `Start with 7. Add 5, then ...`, solved as `7 + 5 = 12` lines (instruction-tuned models).
    Words,
}

/// One problem: a start number, the operations in order, and the value after each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub start: i64,
    /// `(operator, operand)`, operator among `+ - *`.
    pub ops: Vec<(char, i64)>,
    /// `values[0] == start`, `values[i + 1]` = `values[i] ops[i]`.
    pub values: Vec<i64>,
}

/// `a op b`; `None` for an unknown operator or an overflow.
pub fn apply(op: char, a: i64, b: i64) -> Option<i64> {
    match op {
        '+' => a.checked_add(b),
        '-' => a.checked_sub(b),
        '*' => a.checked_mul(b),
        _ => None,
    }
}

impl Chain {
    /// The chain from `start` through `ops`; `None` when an operator is unknown or a value
    /// overflows.
    pub fn new(start: i64, ops: Vec<(char, i64)>) -> Option<Self> {
        let mut values = Vec::with_capacity(ops.len() + 1);
        values.push(start);
        for &(op, b) in &ops {
            values.push(apply(op, *values.last()?, b)?);
        }
        Some(Self { start, ops, values })
    }

    /// The final value.
    pub fn answer(&self) -> i64 {
        *self.values.last().unwrap_or(&self.start)
    }

    /// The `meta.chain` form: `{"start": 7, "ops": [["+", 5], ...], "values": [7, 12, ...]}`.
    pub fn to_json(&self) -> Value {
        let ops: Vec<Value> = self
            .ops
            .iter()
            .map(|&(op, b)| json!([op.to_string(), b]))
            .collect();
        json!({ "start": self.start, "ops": ops, "values": self.values })
    }

    /// A chain read back from its `meta.chain` form; `None` unless it is well formed and its
    /// values follow from its start and operations.
    pub fn from_json(value: &Value) -> Option<Self> {
        let start = value.get("start")?.as_i64()?;
        let mut ops = Vec::new();
        for op in value.get("ops")?.as_array()? {
            let pair = op.as_array()?;
            let [symbol, operand] = pair.as_slice() else {
                return None;
            };
            let mut chars = symbol.as_str()?.chars();
            let (Some(symbol), None) = (chars.next(), chars.next()) else {
                return None;
            };
            ops.push((symbol, operand.as_i64()?));
        }
        let chain = Self::new(start, ops)?;
        let values: Option<Vec<i64>> = value
            .get("values")?
            .as_array()?
            .iter()
            .map(Value::as_i64)
            .collect();
        (values? == chain.values).then_some(chain)
    }

    /// The question in `style`.
    pub fn question(&self, style: ChainStyle) -> String {
        match style {
            ChainStyle::Compact => {
                let mut text = self.start.to_string();
                for (op, b) in &self.ops {
                    text.push_str(&format!(" {op}{b}"));
                }
                text
            }
            ChainStyle::Words => {
                let phrases: Vec<String> = self
                    .ops
                    .iter()
                    .enumerate()
                    .map(|(i, &(op, b))| {
                        let phrase = match op {
                            '+' => format!("add {b}"),
                            '-' => format!("subtract {b}"),
                            _ => format!("multiply by {b}"),
                        };
                        if i == 0 {
                            let mut c = phrase.chars();
                            c.next()
                                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                                .unwrap_or_default()
                        } else {
                            phrase
                        }
                    })
                    .collect();
                format!(
                    "Start with {}. {}. What is the result?",
                    self.start,
                    phrases.join(", then ")
                )
            }
        }
    }

    /// A worked solution in `style` in which step `i`'s result is off by `slips[i]` (missing
    /// entries are 0) and later steps carry on from the written values. Its last line boxes the
    /// final written value.
    pub fn solution(&self, style: ChainStyle, slips: &[i64]) -> String {
        let mut lines = Vec::with_capacity(self.ops.len() + 1);
        let mut value = self.start;
        for (i, &(op, b)) in self.ops.iter().enumerate() {
            let next = apply(op, value, b)
                .and_then(|v| v.checked_add(slips.get(i).copied().unwrap_or(0)))
                .unwrap_or(value);
            lines.push(match style {
                ChainStyle::Compact => format!("{value}{op}{b}={next}"),
                ChainStyle::Words => format!("{value} {op} {b} = {next}"),
            });
            value = next;
        }
        lines.push(match style {
            ChainStyle::Compact => format!("\\boxed{{{value}}}"),
            ChainStyle::Words => format!("The answer is \\boxed{{{value}}}."),
        });
        lines.join("\n")
    }
}
