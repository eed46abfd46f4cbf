//! `hicra device list|check`: which backends this binary has, and whether a device computes
//! what the CPU computes (matmul, one training step, sampler vs scorer log-probs).

use clap::{Args, Subcommand};
use hicra_model::{DeviceSpec, Precision, check_device};
use serde_json::json;

use crate::model_arg::{self, DEVICE_HELP, DTYPE_HELP};

#[derive(Args, Debug)]
pub struct DeviceArgs {
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// The backends built into this binary, whether their first device answers, and the
    /// precisions it computes in.
    List,
    /// Compare a device against the CPU: matmul, a training step, sampler vs scorer.
    Check {
        #[arg(help = DEVICE_HELP)]
        device: DeviceSpec,
        #[arg(long, default_value = "f32", help = DTYPE_HELP)]
        dtype: Precision,
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
        DeviceCommand::Check {
            device,
            dtype,
            json,
        } => check(device, dtype, json),
    }
}

fn list() {
    let candidates = ["cpu", "cuda:0", "wgpu", "wgpu:cpu"];
    for text in candidates {
        let spec: DeviceSpec = text.parse().expect("a valid device name");
        match spec.open() {
            Ok(device) => {
                let dtypes: Vec<String> = Precision::supported_by(&device)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                println!("{text:<9} ok      {device:?} [{}]", dtypes.join(" "));
            }
            Err(e) => println!("{text:<9} absent  {e}"),
        }
    }
}

fn check(spec: DeviceSpec, precision: Precision, as_json: bool) -> miette::Result<()> {
    let device = model_arg::open_device_in(spec, precision)?;
    if !as_json {
        println!(
            "{:<18}  {:>12}  {:>9}  {:>7}  result",
            "check", "max |diff|", "tolerance", "secs"
        );
    }
    let outcomes = check_device(&device, precision);
    for o in &outcomes {
        if as_json {
            let row =
                json!({"device": spec.to_string(), "dtype": precision.to_string(), "check": o});
            println!("{row}");
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
            "device `{spec}` ({precision}) disagrees with the CPU in: {}",
            failed.join(", ")
        ))
    }
}
