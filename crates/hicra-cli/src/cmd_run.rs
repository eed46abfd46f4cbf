//! `hicra run`: validate, then run the graph until its sources are exhausted, Ctrl-C or the
//! first error; prints the run summary (stage status, per-edge counters).

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Args;
use hicra_flow::{Cancel, Registry, checkpoint};
use miette::{IntoDiagnostic, WrapErr};
use serde::{Deserialize, Serialize};

use crate::pipeline_args::PipelineArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Output directory (overrides `[run] out_dir`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Resume from a checkpoint: a run directory (its newest checkpoint) or one
    /// `checkpoints/step-N` directory. Without pipeline files, the run's own are used again.
    #[arg(long)]
    resume: Option<PathBuf>,
}

/// `RUN/invocation.json`: the files and overrides a run was started with, so that
/// `hicra run --resume RUN` needs nothing else.
#[derive(Serialize, Deserialize)]
struct Invocation {
    files: Vec<PathBuf>,
    overrides: Vec<String>,
}

const INVOCATION: &str = "invocation.json";

pub fn run(registry: &Registry, mut args: RunArgs) -> miette::Result<()> {
    let resume = match &args.resume {
        Some(path) => {
            let mut inputs = crate::inputs::Inputs::new();
            inputs.dir("--resume", path, Some(crate::inputs::WRITE_RUN));
            inputs.finish()?;
            Some(checkpoint::resolve(path).map_err(|e| miette::miette!("--resume: {e}"))?)
        }
        None => None,
    };
    if let Some(point) = &resume
        && args.pipeline.files.is_empty()
        && args.pipeline.overrides.is_empty()
    {
        let path = point.run_dir.join(INVOCATION);
        let text = std::fs::read_to_string(&path)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read {}", path.display()))?;
        let saved: Invocation = serde_json::from_str(&text).into_diagnostic()?;
        args.pipeline.files = saved.files;
        args.pipeline.overrides = saved.overrides;
    }
    let mut pipeline = args.pipeline.load(registry)?;
    if let Some(out) = args.out {
        pipeline.run.out_dir = out;
    } else if let Some(point) = &resume {
        pipeline.run.out_dir = point.run_dir.clone();
    }
    if let Some(point) = &resume {
        tracing::info!(checkpoint = %point.dir.display(), step = point.step, "resuming");
    }
    pipeline.run.resume = resume;
    let world = pipeline.placement.world;
    if world.rank == 0 {
        save_invocation(&pipeline.run.out_dir, &args.pipeline)?;
    }
    let cancel = interrupt_token();
    tracing::info!(stages = pipeline.stages.len(), out_dir = %pipeline.run.out_dir.display(), "running");
    #[cfg(feature = "mpi")]
    if pipeline.placement.is_distributed() {
        let (report, world) =
            hicra_dist::run(pipeline, &cancel).map_err(|e| miette::miette!("{e}"))?;
        if world.rank == 0 {
            eprint!("{report}");
        }
        return Ok(());
    }
    let report = pipeline.run(&cancel).map_err(|e| miette::miette!("{e}"))?;
    eprint!("{report}");
    Ok(())
}

/// A run's merged pipeline document, read back from `RUN/invocation.json` (the built-in
/// quickstart when the run was started without files), and the directory its relative paths
/// resolve against.
pub fn run_document(run_dir: &std::path::Path) -> miette::Result<hicra_flow::load::Loaded> {
    let path = run_dir.join(INVOCATION);
    let text = std::fs::read_to_string(&path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {} (is it a hicra run?)", path.display()))?;
    let saved: Invocation = serde_json::from_str(&text).into_diagnostic()?;
    let files = if saved.files.is_empty() {
        let file =
            std::env::temp_dir().join(format!("hicra-quickstart-{}.toml", std::process::id()));
        std::fs::write(&file, crate::pipeline_args::QUICKSTART).into_diagnostic()?;
        vec![file]
    } else {
        saved.files
    };
    let loaded = hicra_flow::load::load(&files, &saved.overrides).map_err(|(sources, items)| {
        crate::pipeline_args::render(hicra_flow::Diagnostics { sources, items })
    })?;
    Ok(loaded)
}

fn save_invocation(out_dir: &std::path::Path, args: &PipelineArgs) -> miette::Result<()> {
    let files = args
        .files
        .iter()
        .map(|f| std::path::absolute(f.to_str().unwrap_or_default().trim_start_matches('@')))
        .collect::<Result<Vec<_>, _>>()
        .into_diagnostic()?;
    let invocation = Invocation {
        files,
        overrides: args.overrides.clone(),
    };
    std::fs::create_dir_all(out_dir).into_diagnostic()?;
    let text = serde_json::to_string_pretty(&invocation).into_diagnostic()?;
    std::fs::write(out_dir.join(INVOCATION), text).into_diagnostic()?;
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
