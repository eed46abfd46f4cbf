//! `hicra report DIR`: PNG charts of a run's `metrics.jsonl`.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The run directory (holding `metrics.jsonl`).
    dir: PathBuf,
}

pub fn run(args: ReportArgs) -> miette::Result<()> {
    let (png, names) =
        hicra_metrics::write_report(&args.dir).map_err(|e| miette::miette!("{e}"))?;
    println!(
        "{} ({} charts: {})",
        png.display(),
        names.len(),
        names.join(", ")
    );
    Ok(())
}
