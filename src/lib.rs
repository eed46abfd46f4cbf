//! # hicra
//!
//! Reinforcement learning of language models on reasoning tasks, with hierarchy-aware credit
//! assignment (HICRA, arXiv:2509.03646). This facade re-exports the workspace crates (the
//! dataflow core, the messages on its edges, and the stage families: credit, tasks, model,
//! train, metrics) and [`registry`], the set of every stage kind the `hicra` binary knows;
//! `examples/` shows them used as a library.

pub use hicra_cli::registry;
pub use hicra_credit as credit;
pub use hicra_flow as flow;
pub use hicra_messages as messages;
pub use hicra_metrics as metrics;
pub use hicra_model as model;
pub use hicra_tasks as tasks;
pub use hicra_train as train;
