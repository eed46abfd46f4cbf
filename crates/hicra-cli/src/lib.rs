//! hicra-cli: the `hicra` command line (work in progress).

use std::process::ExitCode;

use hicra_flow::Registry;

/// Every stage kind the `hicra` binary knows.
pub fn registry() -> Registry {
    Registry::new()
}

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
