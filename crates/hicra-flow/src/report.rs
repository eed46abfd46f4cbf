//! What a run returns: per-stage status and wall time, per-edge counters, or the error that
//! stopped it (always naming the stage id and kind).

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::io::EdgeStats;
use crate::port::{Edge, InputMode};
use crate::stage::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("stage `{id}` ({kind}) failed: {source}")]
    StageFailed {
        id: String,
        kind: String,
        source: BoxError,
    },
    #[error("stage `{id}` ({kind}) panicked: {message}")]
    StagePanicked {
        id: String,
        kind: String,
        message: String,
    },
    #[error("stage `{id}` ({kind}) could not be built: {source}")]
    Build {
        id: String,
        kind: String,
        source: BoxError,
    },
    #[error("could not start the thread of stage `{id}`: {source}")]
    Spawn { id: String, source: std::io::Error },
    #[error("cannot create the output directory `{path}`: {source}")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
    #[error(
        "`run.placement` uses {processes} processes, but this one runs alone: launch it with \
         `mpirun -np {processes} hicra run FILE` (or srun) from a build with `--features mpi`"
    )]
    NeedsCluster { processes: usize },
    #[error("between processes: {0}")]
    Transport(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageStatus {
    Running,
    /// Returned on its own (its inputs closed or it was done).
    Finished,
    /// Stopped because the run was cancelled or its consumers were gone.
    Stopped,
    Failed,
    Panicked,
}

#[derive(Clone, Debug)]
pub struct StageReport {
    pub id: String,
    pub kind: String,
    pub status: StageStatus,
    pub wall: Duration,
}

#[derive(Clone, Debug)]
pub struct EdgeReport {
    /// `stage.port`
    pub from: String,
    pub to: String,
    pub mode: InputMode,
    pub capacity: usize,
    pub messages: u64,
    /// Time the sender spent blocked on a full queue.
    pub blocked: Duration,
    /// Keep-latest edges: values replaced before they were read.
    pub overwritten: u64,
}

impl EdgeReport {
    pub(crate) fn new(from_id: &str, edge: &Edge, to_id: &str, stats: &EdgeStats) -> Self {
        Self {
            from: format!("{from_id}.{}", edge.from_port),
            to: format!("{to_id}.{}", edge.to_port),
            mode: edge.mode,
            capacity: edge.capacity,
            messages: stats.messages.load(Ordering::Relaxed),
            blocked: stats.blocked(),
            overwritten: stats.overwritten.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunReport {
    pub wall: Duration,
    pub stages: Vec<StageReport>,
    pub edges: Vec<EdgeReport>,
}

impl RunReport {
    pub fn edge(&self, from: &str, to: &str) -> Option<&EdgeReport> {
        self.edges.iter().find(|e| e.from == from && e.to == to)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "run finished in {:.2?}", self.wall)?;
        for s in &self.stages {
            writeln!(
                f,
                "  stage {:<20} {:<26} {:?} after {:.2?}",
                s.id, s.kind, s.status, s.wall
            )?;
        }
        for e in &self.edges {
            let mode = match e.mode {
                InputMode::Queue => format!("queue {}", e.capacity),
                InputMode::Latest => format!("latest, {} overwritten", e.overwritten),
            };
            writeln!(
                f,
                "  edge  {} -> {}: {} messages, blocked {:.2?} ({mode})",
                e.from, e.to, e.messages, e.blocked
            )?;
        }
        Ok(())
    }
}
