//! `hicra run`: validate, then run the graph until its sources are exhausted, Ctrl-C or the
//! first error; prints the run summary (stage status, per-edge counters).

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Args;
use hicra_flow::{Cancel, Registry};

use crate::pipeline_args::PipelineArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Output directory (overrides `[run] out_dir`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Resume from a checkpoint directory written by an earlier run.
    #[arg(long)]
    resume: Option<PathBuf>,
}

pub fn run(registry: &Registry, args: RunArgs) -> miette::Result<()> {
    let mut pipeline = args.pipeline.load(registry)?;
    if let Some(out) = args.out {
        pipeline.run.out_dir = out;
    }
    pipeline.run.resume_from = args.resume;
    let cancel = interrupt_token();
    tracing::info!(stages = pipeline.stages.len(), out_dir = %pipeline.run.out_dir.display(), "running");
    let report = pipeline.run(&cancel).map_err(|e| miette::miette!("{e}"))?;
    eprint!("{report}");
    Ok(())
}

/// A token cancelled by Ctrl-C; a second Ctrl-C exits at once.
fn interrupt_token() -> Cancel {
    static TOKEN: OnceLock<Cancel> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let cancel = Cancel::new();
            let handler = cancel.clone();
            let installed = ctrlc::set_handler(move || {
                if handler.is_cancelled() {
                    std::process::exit(130);
                }
                eprintln!("interrupted: stopping every stage (Ctrl-C again to exit now)");
                handler.cancel();
            });
            if let Err(e) = installed {
                tracing::warn!("cannot install the Ctrl-C handler: {e}");
            }
            cancel
        })
        .clone()
}
