//! `hicra experiment FILE.toml`: every (arm, seed) of an experiment as a `hicra run`, then the
//! summary with intervals and seed-paired comparisons (see [`hicra_experiment`]).

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// The experiment file (`[experiment]` and `[arms.NAME]` tables).
    file: PathBuf,
    /// Output directory (default: `runs/experiments/NAME`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs at once (default: the file's `parallel`).
    #[arg(long)]
    parallel: Option<usize>,
    /// Finish an experiment started before: runs that ended well are skipped.
    #[arg(long)]
    resume: bool,
}

pub fn run(args: ExperimentArgs) -> miette::Result<()> {
    let mut inputs = crate::inputs::Inputs::new();
    inputs.file("FILE", &args.file, None);
    inputs.finish()?;
    let spec = hicra_experiment::Spec::read(&args.file).map_err(|e| miette::miette!("{e}"))?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs/experiments").join(&spec.name));
    let hicra = std::env::current_exe()
        .map_err(|e| miette::miette!("cannot find the hicra executable: {e}"))?;
    let options = hicra_experiment::Options {
        hicra,
        out,
        parallel: args.parallel,
        resume: args.resume,
    };
    let report = hicra_experiment::run(&spec, &options, &|line| eprintln!("{line}"))
        .map_err(|e| miette::miette!("{e}"))?;
    print!("{}", report.summary.markdown());
    for f in &report.files {
        eprintln!("wrote {}", f.display());
    }
    match report.failed() {
        0 => Ok(()),
        n => Err(miette::miette!(
            "{n} of {} runs failed (see their log.txt); the summary covers the others",
            report.outcomes.len()
        )),
    }
}
