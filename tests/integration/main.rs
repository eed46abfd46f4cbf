//! hicra's integration tests: one binary, a module per area.

mod cli;
mod diagnostics;
mod pipelines;
mod stages;
