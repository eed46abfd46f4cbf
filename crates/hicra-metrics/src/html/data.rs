//! What the page shows, gathered from a run directory into one JSON value.
//!
//! Metrics come from `metrics.jsonl`, rollouts from `rollouts/` (what `sink.rollouts`
//! wrote), strategic-gram minings from `mined_grams.jsonl`, the command line from
//! `invocation.json`. Rollouts are the bulk: each file keeps at most
//! [`ROLLOUTS_PER_FILE`] records (whole groups, in prompt order), and when the run's files
//! hold more than [`TOKEN_BUDGET`] tokens, evenly spaced files are kept (the first and last
//! always) so the page stays small enough for a browser; what was left out is counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hicra_messages::{FinishReason, RolloutRecord};
use serde::Serialize;
use serde_json::Value;

use super::overlay::{Chart, charts};
use crate::report::{ReportError, Series, main_curve_rank};
use crate::rollouts::files::ROLLOUTS_DIR;
use crate::rollouts::{read_json_lines, read_rollouts, rollout_files};

/// Records kept from one rollout file.
pub const ROLLOUTS_PER_FILE: usize = 64;
/// Response tokens kept over the whole page.
pub const TOKEN_BUDGET: usize = 400_000;

/// The page's data and what was left out.
#[derive(Serialize)]
pub struct PageData {
    pub run: String,
    pub invocation: Option<Value>,
    pub charts: Vec<Chart>,
    pub series: Series,
    pub rollouts: Vec<RolloutStep>,
    pub mined: Vec<Value>,
    pub left_out: LeftOut,
}

/// Rollouts the page does not show, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LeftOut {
    /// Records past [`ROLLOUTS_PER_FILE`] in a file.
    pub records: usize,
    /// Whole files over [`TOKEN_BUDGET`].
    pub files: usize,
}

/// One written batch of rollouts.
#[derive(Serialize)]
pub struct RolloutStep {
    pub step: u64,
    pub eval: bool,
    /// Records the file holds (the page may show fewer).
    pub total: usize,
    pub records: Vec<PageRollout>,
}

/// A rollout as the page draws it: short keys, figures rounded, masks as 0/1 strings.
#[derive(Serialize)]
pub struct PageRollout {
    pub prompt_id: String,
    pub question: String,
    pub gold: String,
    pub sample: usize,
    pub reward: Option<f64>,
    pub correct: Option<bool>,
    pub answer: Option<String>,
    pub finish: Option<FinishReason>,
    pub tokens: Vec<String>,
    pub ids: Vec<u32>,
    pub advantages: Vec<f64>,
    pub entropies: Vec<f64>,
    pub logprobs: Vec<f64>,
    pub masks: BTreeMap<String, String>,
}

impl PageRollout {
    fn new(r: RolloutRecord) -> Self {
        let round = |v: &[f32]| -> Vec<f64> {
            v.iter()
                .map(|&x| ((x as f64) * 1e4).round() / 1e4)
                .collect()
        };
        Self {
            advantages: round(&r.advantages),
            entropies: round(&r.entropies),
            logprobs: round(&r.logprobs),
            masks: r
                .masks
                .iter()
                .map(|(k, m)| {
                    (
                        k.clone(),
                        m.iter().map(|&b| if b != 0 { '1' } else { '0' }).collect(),
                    )
                })
                .collect(),
            finish: r.finish,
            prompt_id: r.prompt_id,
            question: r.question,
            gold: r.gold,
            sample: r.sample,
            reward: r.reward,
            correct: r.correct,
            answer: r.answer,
            tokens: r.tokens,
            ids: r.token_ids,
        }
    }
}

/// Everything the page of the run in `dir` shows; `series` is its `metrics.jsonl`.
pub fn gather(dir: &Path, series: Series) -> Result<PageData, ReportError> {
    let names: BTreeSet<String> = series.keys().cloned().collect();
    let (rollouts, left_out) = rollouts(&dir.join(ROLLOUTS_DIR))?;
    Ok(PageData {
        run: run_name(dir),
        invocation: read_json(&dir.join("invocation.json"))?,
        charts: charts(&names, main_curve_rank),
        series,
        rollouts,
        mined: minings(&dir.join("mined_grams.jsonl"))?,
        left_out,
    })
}

fn run_name(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

fn rollouts(dir: &Path) -> Result<(Vec<RolloutStep>, LeftOut), ReportError> {
    let files = rollout_files(dir).map_err(run_file_error)?;
    let mut left_out = LeftOut::default();
    let mut steps = Vec::new();
    for file in &files {
        let mut records = read_rollouts(&file.path).map_err(run_file_error)?;
        let total = records.len();
        records.sort_by(|a, b| (&a.prompt_id, a.sample).cmp(&(&b.prompt_id, b.sample)));
        records.truncate(ROLLOUTS_PER_FILE);
        left_out.records += total - records.len();
        steps.push(RolloutStep {
            step: file.step,
            eval: file.eval,
            total,
            records: records.into_iter().map(PageRollout::new).collect(),
        });
    }
    let tokens: Vec<usize> = steps
        .iter()
        .map(|s| s.records.iter().map(|r| r.tokens.len()).sum())
        .collect();
    let keep = spread_within(&tokens, TOKEN_BUDGET);
    left_out.files = steps.len() - keep.len();
    let steps = steps
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, s)| s)
        .collect();
    Ok((steps, left_out))
}

/// Indices of `sizes` to keep so their sum stays within `budget`: all when they fit, else
/// the most evenly spaced subset that fits (first and last first).
pub fn spread_within(sizes: &[usize], budget: usize) -> BTreeSet<usize> {
    let total: usize = sizes.iter().sum();
    if total <= budget {
        return (0..sizes.len()).collect();
    }
    let spread = |count: usize| -> BTreeSet<usize> {
        match count {
            1 => BTreeSet::from([0]),
            _ => (0..count)
                .map(|k| k * (sizes.len() - 1) / (count - 1))
                .collect(),
        }
    };
    // From as many as the mean size allows, plus one (spread files may be smaller than the
    // mean), down to the first count that fits.
    let first_guess = (budget * sizes.len() / total.max(1) + 1).min(sizes.len() - 1);
    (1..=first_guess)
        .rev()
        .map(spread)
        .find(|picked| picked.iter().map(|&i| sizes[i]).sum::<usize>() <= budget)
        .unwrap_or_default()
}

fn run_file_error(e: crate::rollouts::RolloutFileError) -> ReportError {
    ReportError::RunFile(e.to_string())
}

fn read_json(path: &Path) -> Result<Option<Value>, ReportError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ReportError::Parse {
                path: path.into(),
                line: e.line(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReportError::Read {
            path: path.into(),
            source,
        }),
    }
}

/// The lines `tagger.mined_grams` wrote, as they are (none when it did not run).
fn minings(path: &Path) -> Result<Vec<Value>, ReportError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_json_lines(path, "a mining record").map_err(run_file_error)
}
