//! `hicra validate` and `hicra graph`.

use clap::{Args, ValueEnum};
use hicra_flow::Registry;

use crate::pipeline_args::PipelineArgs;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
}

pub fn validate(registry: &Registry, args: ValidateArgs) -> miette::Result<()> {
    let p = args.pipeline.load(registry)?;
    println!("ok: {} stages, {} edges", p.stages.len(), p.edges.len());
    Ok(())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GraphFormat {
    Text,
    Dot,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: GraphFormat,
}

pub fn graph(registry: &Registry, args: GraphArgs) -> miette::Result<()> {
    let p = args.pipeline.load(registry)?;
    match args.format {
        GraphFormat::Text => print!("{}", p.to_text()),
        GraphFormat::Dot => print!("{}", p.to_dot()),
    }
    Ok(())
}
