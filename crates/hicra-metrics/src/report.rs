//! `hicra report DIR`: reads `DIR/metrics.jsonl` and draws the curves as PNG charts.
//!
//! `report.png` is a grid with one chart per metric, the paper's main curves first (reward,
//! accuracy, entropy of planning vs execution tokens, semantic entropy, planning ratio), then
//! the rest alphabetically. Text is drawn with an embedded DejaVu Sans Mono, so the plots look
//! the same on every machine, fonts installed or not.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::png_canvas::draw_png;

/// Shown first, in this order, when present.
const MAIN_CURVES: [&str; 12] = [
    "reward/mean",
    "accuracy/train",
    "accuracy/eval",
    "response_length/mean",
    "entropy/all",
    "entropy/planning",
    "entropy/execution",
    "semantic_entropy",
    "planning_ratio",
    "pg_clipfrac",
    "grad_norm",
    "kl",
];
const COLUMNS: usize = 3;
const CELL: (u32, u32) = (480, 300);
const MAX_CHARTS: usize = 30;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a JSON object of metrics: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0} holds no metrics to plot")]
    Empty(PathBuf),
    /// A rollout or mining file of the run could not be read (the message names it).
    #[error("{0}")]
    RunFile(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drawing failed: {0}")]
    Draw(String),
}

/// Series by metric name: (step, value) pairs in file order.
pub type Series = BTreeMap<String, Vec<(f64, f64)>>;

/// Reads `metrics.jsonl`; a line that is not a JSON object is an error naming the line.
pub fn read_metrics(path: &Path) -> Result<Series, ReportError> {
    let file = std::fs::File::open(path).map_err(|source| ReportError::Read {
        path: path.into(),
        source,
    })?;
    let mut series = Series::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| ReportError::Read {
            path: path.into(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let parse_error = |reason: String| ReportError::Parse {
            path: path.into(),
            line: index + 1,
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| parse_error(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| parse_error("expected an object".into()))?;
        let step = object
            .get("step")
            .and_then(|s| s.as_f64())
            .ok_or_else(|| parse_error("no numeric `step`".into()))?;
        for (name, v) in object.iter().filter(|(k, _)| k.as_str() != "step") {
            if let Some(v) = v.as_f64().filter(|v| v.is_finite()) {
                series.entry(name.clone()).or_default().push((step, v));
            }
        }
    }
    Ok(series)
}

/// Reads `DIR/metrics.jsonl`, which must hold at least one metric.
pub fn read_run_metrics(dir: &Path) -> Result<Series, ReportError> {
    let jsonl = dir.join("metrics.jsonl");
    let series = read_metrics(&jsonl)?;
    if series.is_empty() {
        return Err(ReportError::Empty(jsonl));
    }
    Ok(series)
}

/// Writes `DIR/report.png`; returns its path and the metrics drawn.
pub fn write_report(dir: &Path) -> Result<(PathBuf, Vec<String>), ReportError> {
    draw_report(dir, &read_run_metrics(dir)?)
}

/// Draws `series` (a run's metrics) as `DIR/report.png`; returns its path and the metrics drawn.
pub fn draw_report(dir: &Path, series: &Series) -> Result<(PathBuf, Vec<String>), ReportError> {
    let names = chart_order(series);
    register_font();
    let out = dir.join("report.png");
    let rows = names.len().div_ceil(COLUMNS);
    let size = (CELL.0 * COLUMNS as u32, CELL.1 * rows as u32);
    draw_png(&out, size, |root| {
        for (area, name) in root.split_evenly((rows, COLUMNS)).iter().zip(&names) {
            draw_chart(area, name, &series[name])?;
        }
        Ok(())
    })
    .map_err(ReportError::Draw)?;
    Ok((out, names))
}

/// Where a metric comes in the charts: the main curves in their order, then the rest
/// (sorted by name by the caller's stable sort).
pub(crate) fn main_curve_rank(name: &str) -> usize {
    MAIN_CURVES
        .iter()
        .position(|n| *n == name)
        .unwrap_or(MAIN_CURVES.len())
}

fn chart_order(series: &Series) -> Vec<String> {
    let mut names: Vec<String> = MAIN_CURVES
        .iter()
        .filter(|n| series.contains_key(**n))
        .map(|n| n.to_string())
        .collect();
    names.extend(
        series
            .keys()
            .filter(|k| !MAIN_CURVES.contains(&k.as_str()))
            .cloned(),
    );
    names.truncate(MAX_CHARTS);
    names
}

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    name: &str,
    points: &[(f64, f64)],
) -> Result<(), String> {
    let (x0, x1) = bounds(points.iter().map(|p| p.0));
    let (y0, y1) = bounds(points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption(name, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(draw_error)?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))
        .map_err(draw_error)?;
    Ok(())
}

/// A non-empty range around the values (a flat series gets a small margin).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else if lo != 0.0 {
        lo.abs() * 0.05
    } else {
        0.05
    };
    (lo - pad, hi + pad)
}

fn draw_error<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Registers the bundled font as `sans-serif` (charts look the same with no fonts installed).
pub fn register_font() {
    static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_drawn_from_metrics_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<String> = (0..20)
            .map(|s| {
                format!(
                    "{{\"step\":{s},\"reward/mean\":{},\"zeta\":1.0,\"lr\":null}}",
                    s as f64 / 20.0
                )
            })
            .collect();
        std::fs::write(dir.path().join("metrics.jsonl"), lines.join("\n")).unwrap();
        let (png, names) = write_report(dir.path()).unwrap();
        assert_eq!(names, ["reward/mean", "zeta"]);
        let bytes = std::fs::read(png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metrics.jsonl"),
            "{\"step\":0,\"x\":1}\n[1,2]\n",
        )
        .unwrap();
        let err = write_report(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("metrics.jsonl:2: not a JSON object of metrics: expected an object"),
            "{err}"
        );
    }
}
