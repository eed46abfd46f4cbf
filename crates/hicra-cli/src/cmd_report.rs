//! `hicra report DIR`: PNG charts of a run's `metrics.jsonl` and a self-contained web page of
//! the whole run (curves with shadow assigners overlaid, step tables, rollouts token by token,
//! mined strategic grams).

use std::path::PathBuf;

use clap::Args;

use crate::inputs::{Inputs, WRITE_RUN};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The run directory (holding `metrics.jsonl`, and `rollouts/` and `mined_grams.jsonl`
    /// when the pipeline wrote them).
    dir: PathBuf,
}

pub fn run(args: ReportArgs) -> miette::Result<()> {
    let mut inputs = Inputs::new();
    inputs.dir("DIR", &args.dir, Some(WRITE_RUN));
    inputs.finish()?;
    let report_error = |e: hicra_metrics::report::ReportError| miette::miette!("{e}");
    let series = hicra_metrics::read_run_metrics(&args.dir).map_err(report_error)?;
    let (png, names) = hicra_metrics::draw_report(&args.dir, &series).map_err(report_error)?;
    println!(
        "{} ({} charts: {})",
        png.display(),
        names.len(),
        names.join(", ")
    );
    let html = hicra_metrics::write_html_page(&args.dir, series).map_err(report_error)?;
    let mut parts = vec![format!("{} charts", html.charts)];
    if html.overlaid > 0 {
        parts.push(format!(
            "{} metrics overlaid on their main chart",
            html.overlaid
        ));
    }
    parts.push(format!(
        "{} rollouts of {} written batches",
        html.rollouts, html.rollout_batches
    ));
    let left_out = html.left_out;
    if left_out.records + left_out.files > 0 {
        parts.push(format!(
            "left out to keep the page small: {} rollouts, {} batches",
            left_out.records, left_out.files
        ));
    }
    if html.minings > 0 {
        parts.push(format!("{} strategic-gram minings", html.minings));
    }
    println!("{} ({})", html.path.display(), parts.join(", "));
    Ok(())
}
