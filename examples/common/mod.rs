//! What the examples share: exiting with a named error, and for the pipeline examples
//! running a validated pipeline, then reading back the `metrics.jsonl` its `sink.metrics`
//! stage wrote and printing a short summary.

// Each example uses the part it needs.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hicra::flow::{Cancel, Pipeline};
use hicra::metrics::report::Series;

/// An example's exit: success, or its error on stderr after the example's name.
pub fn exit<T>(example: &str, outcome: Result<T, String>) -> ExitCode {
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{example}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `out` when given, else [`temp_out_dir`].
pub fn out_dir(out: Option<PathBuf>, example: &str) -> Result<PathBuf, String> {
    match out {
        Some(out) => Ok(out),
        None => temp_out_dir(example),
    }
}

/// A fresh directory under the system's temporary one, kept after the run for inspection.
pub fn temp_out_dir(example: &str) -> Result<PathBuf, String> {
    tempfile::Builder::new()
        .prefix(&format!("hicra-{example}-"))
        .tempdir()
        .map(tempfile::TempDir::keep)
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// Runs `pipeline` into `out_dir` (Ctrl-C is not handled: the process just ends), then prints
/// the steps `metrics.jsonl` holds and the last value of each metric in `show` (the ones the
/// run has); returns every series of `metrics.jsonl`.
pub fn run_and_summarize(
    mut pipeline: Pipeline,
    out_dir: &Path,
    show: &[&str],
) -> Result<Series, String> {
    pipeline.run.out_dir = out_dir.to_path_buf();
    println!(
        "running {} stages into {}",
        pipeline.stages.len(),
        out_dir.display()
    );
    let report = pipeline.run(&Cancel::new()).map_err(|e| e.to_string())?;
    let path = out_dir.join("metrics.jsonl");
    let series = hicra::metrics::read_metrics(&path).map_err(|e| e.to_string())?;
    let steps: BTreeSet<u64> = series
        .values()
        .flatten()
        .map(|(step, _)| *step as u64)
        .collect();
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return Err(format!("{} holds no metrics", path.display()));
    };
    println!(
        "steps: {} ({first}..={last}) in {:.1} s, {} metrics in {}",
        steps.len(),
        report.wall.as_secs_f64(),
        series.len(),
        path.display()
    );
    for name in show {
        if let Some(&(step, value)) = series.get(*name).and_then(|s| s.last()) {
            println!("  {name:<32} {value:>10.4}  (step {step})");
        }
    }
    Ok(series)
}
