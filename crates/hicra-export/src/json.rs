//! JSON as the Hugging Face files are written: pretty-printed, a newline at the end, and
//! `f32` hyper-parameters in their shortest decimal form.

use std::path::Path;

use serde_json::Value;

use crate::ExportError;

/// Writes `value` to `path`, pretty-printed and ending in a newline.
pub fn write_json(path: &Path, value: &Value) -> Result<(), ExportError> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    std::fs::write(path, text).map_err(|e| ExportError::io(path, e))
}

/// `x` as JSON with its shortest f32 spelling (`1e-5`, not `9.99999974e-6`).
pub fn json_f32(x: f32) -> Value {
    Value::from(x.to_string().parse::<f64>().unwrap_or(f64::from(x)))
}
