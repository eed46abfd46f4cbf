//! # hicra-flow: the dataflow core
//!
//! A hicra training run is a graph of **stages** joined by **bounded channels**, described in a
//! TOML pipeline file. This crate knows nothing about language models; it provides the contract
//! every stage follows and the machinery that reads, checks and runs a graph of them.
//!
//! **Describing a stage.** A stage is a config struct ([`StageConfig`]: serde,
//! `deny_unknown_fields`, documented defaults) named by `KIND = "family.name"`. It declares its
//! named, typed [`Ports`] and builds the running [`Stage`]. Family crates call
//! [`Registry::register`] for each of theirs, so the core never changes when a stage is added.
//!
//! **Reading a pipeline.** Files are parsed into a spanned [`Value`] tree (so every key and
//! value remembers its file, line and column), merged (`extends = [...]`, extra files, `--set
//! dotted.key=value` overrides), then split into a `[run]` table and one table per stage. A
//! pipeline may also be built in code from typed configs ([`PipelineBuilder`]) and is checked
//! by the same validation.
//!
//! **Validating.** Before any thread starts, every stage's parameters are deserialized with
//! span-aware errors, every edge is checked (dangling stage, unknown port, port type, required
//! input left unconnected) and the graph is ordered with petgraph: a cycle is legal only when it
//! passes through a keep-latest input (the weights edge back to the sampler). All problems are
//! returned at once as [`Diagnostics`]. Stages check the files they name as part of this
//! ([`files`]: missing, not a regular file, unreadable, each with its own words).
//!
//! **Map-like stages** (verifiers, taggers, reward shaping, credit: a batch in, the same batch
//! out) give a per-message step to [`map::MapLoop`], which owns their loop: receiving, the
//! metrics record, a shadow stage's names, sending.
//!
//! **Running.** One named thread per stage inside a tracing span. Queue edges are bounded
//! crossbeam channels (backpressure); keep-latest edges never block their sender. When a source
//! returns, its senders drop and shutdown cascades downstream. The first error, a panic or
//! Ctrl-C cancels every stage (blocked channel operations wake at once), all threads are
//! joined, and the error names the stage id and kind. Per-edge counters feed the run summary.

pub mod builder;
pub mod cancel;
pub mod checkpoint;
pub mod de;
pub mod diagnostic;
pub mod fields;
pub mod files;
pub mod io;
pub mod load;
pub mod map;
pub mod outcome;
pub mod pipeline;
pub mod placement;
pub mod port;
pub mod registry;
pub mod remote;
pub mod report;
mod runtime;
pub mod source;
pub mod spec;
pub mod stage;
pub mod testing;
mod validate;
pub mod value;
mod wiring;
pub mod world;

pub use builder::PipelineBuilder;
pub use cancel::Cancel;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use io::{EdgeStats, Envelope, Inbox, Latest, Outbox, StageContext};
pub use pipeline::Pipeline;
pub use placement::Placement;
pub use port::{Edge, InputMode, InputPort, Message, OutputPort, PortType, Ports};
pub use registry::{KindInfo, PlannedStage, Registry};
pub use remote::{Cluster, ExportEnd, ImportEnd, RemoteEdge};
pub use report::{EdgeReport, RunError, RunReport, StageReport, StageStatus};
pub use source::{Sources, Span};
pub use stage::{
    BoxError, BuildContext, Invalid, RunSettings, Stage, StageConfig, StageResult, Stopped,
    derive_seed, refuse,
};
pub use value::Value;
pub use world::{Collective, Replica, Replication, World};
