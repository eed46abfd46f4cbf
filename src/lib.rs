//! # hicra
//!
//! Reinforcement learning of language models on reasoning tasks, with hierarchy-aware credit
//! assignment (HICRA, arXiv:2509.03646). This facade re-exports the workspace crates and
//! [`registry`], the set of every stage kind the `hicra` binary knows.

pub use hicra_cli::registry;
pub use hicra_flow as flow;
pub use hicra_messages as messages;
