//! hicra's integration tests: one binary, a module per area.

mod cli;
mod devices;
mod diagnostics;
#[cfg(feature = "mpi")]
mod distributed;
mod docs;
mod eval_cli;
mod experiment;
mod export_cli;
mod export_peft;
mod inputs_cli;
mod model_cli;
mod pipelines;
mod process_supervision;
mod resume;
mod stages;
mod tasks_cli;
mod validate_edits;
