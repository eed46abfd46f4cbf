//! `hicra device list|check`: which backends this binary has, and whether a device computes
//! what the CPU computes (matmul, one training step, sampler vs scorer log-probs).

use clap::{Args, Subcommand};
use hicra_model::{DeviceSpec, check_device};
use serde_json::json;

use crate::model_arg::{self, DEVICE_HELP};

#[derive(Args, Debug)]
pub struct DeviceArgs {
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// The backends built into this binary and whether their first device answers.
    List,
    /// Compare a device against the CPU: matmul, a training step, sampler vs scorer.
    Check {
        #[arg(help = DEVICE_HELP)]
        device: DeviceSpec,
        /// One JSON object per check instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: DeviceArgs) -> miette::Result<()> {
    match args.command {
        DeviceCommand::List => {
            list();
            Ok(())
        }
        DeviceCommand::Check { device, json } => check(device, json),
    }
}

fn list() {
    let candidates = ["cpu", "cuda:0", "wgpu", "wgpu:cpu"];
    for text in candidates {
        let spec: DeviceSpec = text.parse().expect("a valid device name");
        match spec.open() {
            Ok(device) => println!("{text:<9} ok      {device:?}"),
            Err(e) => println!("{text:<9} absent  {e}"),
        }
    }
}

fn check(spec: DeviceSpec, as_json: bool) -> miette::Result<()> {
    let device = model_arg::open_device(spec)?;
    if !as_json {
        println!(
            "{:<18}  {:>12}  {:>9}  {:>7}  result",
            "check", "max |diff|", "tolerance", "secs"
        );
    }
    let outcomes = check_device(&device);
    for o in &outcomes {
        if as_json {
            println!("{}", json!({"device": spec.to_string(), "check": o}));
        } else {
            let verdict = if o.passed { "pass" } else { "FAIL" };
            println!(
                "{:<18}  {:>12.3e}  {:>9.0e}  {:>7.2}  {verdict}",
                o.name, o.max_abs_diff, o.tolerance, o.secs
            );
        }
    }
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(miette::miette!(
            "device `{spec}` disagrees with the CPU in: {}",
            failed.join(", ")
        ))
    }
}
