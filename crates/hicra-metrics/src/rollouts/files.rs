//! Where `sink.rollouts` puts its files and how they are read back.
//!
//! `RUN/rollouts/step-00000040.jsonl` holds the chosen rollouts of training step 40,
//! `RUN/rollouts/eval-00000040.jsonl` those of the evaluation at policy version 40; one
//! [`RolloutRecord`] per line.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use hicra_messages::RolloutRecord;
use serde::de::DeserializeOwned;

/// The folder of a run that holds its rollouts.
pub const ROLLOUTS_DIR: &str = "rollouts";

/// Reading rollout files failed.
#[derive(Debug, thiserror::Error)]
pub enum RolloutFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not {what}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        what: &'static str,
        reason: String,
    },
}

/// The file name of one batch's rollouts.
pub fn file_name(step: u64, eval: bool) -> String {
    let family = if eval { "eval" } else { "step" };
    format!("{family}-{step:08}.jsonl")
}

/// One file of rollouts: its step, whether it is an evaluation batch, its path.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutFile {
    pub step: u64,
    pub eval: bool,
    pub path: PathBuf,
}

/// The rollout files in `dir` (a run's `rollouts/` folder), by step, training before
/// evaluation at equal steps; other files are ignored. A missing folder holds none.
pub fn rollout_files(dir: &Path) -> Result<Vec<RolloutFile>, RolloutFileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RolloutFileError::Read {
                path: dir.into(),
                source,
            });
        }
    };
    let mut files: Vec<RolloutFile> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".jsonl")?;
            let (eval, digits) = match stem.split_once('-')? {
                ("step", d) => (false, d),
                ("eval", d) => (true, d),
                _ => return None,
            };
            Some(RolloutFile {
                step: digits.parse().ok()?,
                eval,
                path: e.path(),
            })
        })
        .collect();
    files.sort_by_key(|f| (f.step, f.eval));
    Ok(files)
}

/// The records of one rollout file; see [`read_json_lines`].
pub fn read_rollouts(path: &Path) -> Result<Vec<RolloutRecord>, RolloutFileError> {
    read_json_lines(path, "a rollout record")
}

/// One value per non-empty line of a JSON-lines file a run writes; a bad line is an error
/// naming it and `what` it should have been (a last line cut short by an interrupted run is
/// skipped).
pub fn read_json_lines<T: DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<Vec<T>, RolloutFileError> {
    let read_error = |source| RolloutFileError::Read {
        path: path.into(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    let mut values = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(value) => values.push(value),
            Err(_) if index + 1 == lines.len() && !line.ends_with('}') => break,
            Err(e) => {
                return Err(RolloutFileError::Parse {
                    path: path.into(),
                    line: index + 1,
                    what,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(values)
}

/// Every record under `path`: a rollout file, or a folder of them (a run's `rollouts/`, or a
/// run directory holding one).
pub fn read_all(path: &Path) -> Result<Vec<RolloutRecord>, RolloutFileError> {
    if path.is_file() {
        return read_rollouts(path);
    }
    let dir = if path.join(ROLLOUTS_DIR).is_dir() {
        path.join(ROLLOUTS_DIR)
    } else {
        path.to_path_buf()
    };
    let mut records = Vec::new();
    for file in rollout_files(&dir)? {
        records.extend(read_rollouts(&file.path)?);
    }
    Ok(records)
}
