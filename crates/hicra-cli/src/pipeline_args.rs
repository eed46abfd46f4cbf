//! The arguments shared by every command that reads a pipeline, and turning its diagnostics
//! into miette reports.

use std::path::PathBuf;

use clap::Args;
use hicra_flow::{Diagnostics, Pipeline, Registry};

/// The pipeline every `hicra run` without a file runs: the README's main job.
pub const QUICKSTART: &str = include_str!("../../../pipelines/quickstart.toml");

#[derive(Args, Debug)]
pub struct PipelineArgs {
    /// Pipeline files, merged in order (later files override; a leading `@` is accepted).
    pub files: Vec<PathBuf>,
    /// Override one value: `--set stages.learner.learning_rate=1e-5` (repeatable).
    #[arg(long = "set", value_name = "DOTTED.KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl PipelineArgs {
    /// Loads and validates; every problem becomes one miette report.
    pub fn load(&self, registry: &Registry) -> miette::Result<Pipeline> {
        let result = if self.files.is_empty() {
            let name = "<built-in quickstart.toml>";
            if self.overrides.is_empty() {
                Pipeline::from_str(registry, name, QUICKSTART)
            } else {
                let file = std::env::temp_dir()
                    .join(format!("hicra-quickstart-{}.toml", std::process::id()));
                std::fs::write(&file, QUICKSTART)
                    .map_err(|e| miette::miette!("cannot write {}: {e}", file.display()))?;
                Pipeline::from_files(registry, &[file], &self.overrides)
            }
        } else {
            Pipeline::from_files(registry, &self.files, &self.overrides)
        };
        result.map_err(render)
    }
}

/// All diagnostics as one report: each problem rendered with its snippet, then a count.
pub fn render(diagnostics: Diagnostics) -> miette::Report {
    let count = diagnostics.items.len();
    for report in diagnostics.reports() {
        eprintln!("{report:?}");
    }
    let noun = if count == 1 { "problem" } else { "problems" };
    miette::miette!("the pipeline has {count} {noun}; nothing was run")
}
