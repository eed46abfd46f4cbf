//! Reading JSON-lines input for the per-family tools (`credit`, `tag`, `verify`): from a file
//! or `-` for stdin (a path checked first: missing or not a regular file), every bad line
//! reported with its number.

use std::io::BufRead;
use std::path::Path;

use crate::inputs::Inputs;

/// Each non-empty line parsed as a JSON object, with its 1-based line number.
pub fn read_objects(
    path: &Path,
) -> miette::Result<Vec<(usize, serde_json::Map<String, serde_json::Value>)>> {
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        // a missing path, a device or a FIFO named as such (a FIFO is never opened)
        let mut inputs = Inputs::new();
        inputs.file("--input", path, None);
        inputs.finish()?;
        let file = std::fs::File::open(path)
            .map_err(|e| miette::miette!("cannot read {}: {e}", path.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut out = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| miette::miette!("{}:{}: {e}", path.display(), index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| miette::miette!("{}:{}: invalid JSON: {e}", path.display(), index + 1))?;
        match value {
            serde_json::Value::Object(map) => out.push((index + 1, map)),
            _ => miette::bail!("{}:{}: expected a JSON object", path.display(), index + 1),
        }
    }
    Ok(out)
}
