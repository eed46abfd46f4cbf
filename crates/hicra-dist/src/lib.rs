//! # hicra-dist: one pipeline over many processes, on MPI
//!
//! `mpirun -np N hicra run FILE` (or `srun`) starts N copies of hicra; each reads the same
//! pipeline, and `[run.placement]` says which ranks run which stage (everything else on rank
//! 0). This crate is what makes those copies one run, with Open MPI (or any MPI with
//! `MPI_THREAD_MULTIPLE`) as the engine; there is no transport of our own.
//!
//! **Edges between ranks.** The flow core plans the graph on every rank alike and hands this
//! crate the local ends of each edge that crosses ranks ([`hicra_flow::remote`]). A thread
//! per end carries it as MPI messages tagged by the edge: queue edges are pulled by their
//! receiver one message at a time, so they stay bounded and replicas sharing prompts take
//! whole groups as they become free; keep-latest edges (the weights) are pushed to every
//! receiver, newest wins. Messages travel as bytes ([`codec`]): the serde messages as JSON,
//! the weights as raw `f32` values with their architecture (and, once, the tokenizer), never
//! as pointers.
//!
//! **Data-parallel learners.** Replicas of a learner share a communicator split from the
//! world; they sum gradients with `MPI_Allreduce`, start from the lead's weights by
//! `MPI_Bcast`, and compare checksums of their weights (see `hicra_train::learner`). Only the
//! lead's outputs (weights, metrics) go on, and only it writes checkpoints.
//!
//! **Faults.** An error on any rank is printed with the rank and stage, then the job is
//! aborted (`MPI_Abort`): no rank waits forever for a peer that is gone. A rank that dies is
//! reported by `mpirun` with its rank number; each rank logs at start which stages it runs.
//!
//! Entry point: [`run`].

mod cluster;
pub mod codec;
mod collective;
mod transport;

pub use cluster::MpiCluster;

use hicra_flow::{Cancel, Pipeline, RunError, RunReport};

/// Runs this process's share of `pipeline` in an MPI job. Returns the report of this rank;
/// on an error it names the rank, then aborts the whole job (it does not return).
pub fn run(pipeline: Pipeline, cancel: &Cancel) -> Result<(RunReport, World), RunError> {
    let cluster = match MpiCluster::init(&pipeline.placement) {
        Ok(cluster) => cluster,
        Err(message) => return Err(RunError::Transport(message)),
    };
    let world = hicra_flow::Cluster::world(&cluster);
    let here: Vec<String> = pipeline
        .stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let replica = pipeline.placement.replica_on(i, world.rank)?;
            let count = pipeline.placement.ranks[i].len();
            Some(match count {
                1 => s.id.clone(),
                _ => format!("{} (replica {} of {count})", s.id, replica + 1),
            })
        })
        .collect();
    say(format!(
        "hicra: rank {} of {} (pid {}) runs {}",
        world.rank,
        world.size,
        std::process::id(),
        if here.is_empty() {
            "no stage".to_string()
        } else {
            here.join(", ")
        }
    ));
    match pipeline.run_on(cancel, Some(&cluster)) {
        Ok(report) => {
            let (edges, collectives) = cluster.bytes_sent();
            tracing::info!(
                rank = world.rank,
                edge_mib = edges as f64 / (1024.0 * 1024.0),
                collective_mib = collectives as f64 / (1024.0 * 1024.0),
                "sent"
            );
            Ok((report, world))
        }
        Err(RunError::Interrupted) => Err(RunError::Interrupted),
        Err(error) => {
            say(format!(
                "hicra: rank {} of {} failed: {error}; stopping every rank",
                world.rank, world.size
            ));
            cluster.abort(1)
        }
    }
}

pub use hicra_flow::World;

/// Writes `line` and a newline to stderr in one `write`. Every rank shares mpirun's stderr, and
/// `eprintln!` writes a formatted line piece by piece, so two ranks' lines would interleave
/// mid-word ("rank rank 0 of 3 ... 1 of 3"); one write of a short line to a pipe stays whole.
fn say(mut line: String) {
    use std::io::Write;
    line.push('\n');
    // nothing sensible is left to do when stderr is gone
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
