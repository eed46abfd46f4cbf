//! Runs a validated pipeline: one named thread per stage, bounded channels between them,
//! cancellation on the first failure, every thread joined before returning.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select, unbounded};

use crate::cancel::Cancel;
use crate::io::StageContext;
use crate::pipeline::Pipeline;
use crate::remote::{Cluster, ImportEnd};
use crate::report::{EdgeReport, RunError, RunReport, StageReport, StageStatus};
use crate::stage::{BoxError, BuildContext, Stage, Stopped, derive_seed};
use crate::wiring::Wiring;
use crate::world::Replica;

/// How long to wait, after cancelling, before naming the stages that have not stopped yet.
const STRAGGLER_WARNING: Duration = Duration::from_secs(5);

enum Outcome {
    Finished,
    Stopped,
    Failed(BoxError),
    Panicked(String),
}

impl Pipeline {
    /// Runs the graph to completion. Cancelling `cancel` (e.g. from a Ctrl-C handler) stops
    /// every stage promptly and makes the run return [`RunError::Interrupted`].
    pub fn run(self, cancel: &Cancel) -> Result<RunReport, RunError> {
        self.run_on(cancel, None)
    }

    /// Runs this process's share of the graph: the stages `[run.placement]` puts on its rank,
    /// with the edges that cross ranks carried by `cluster` (required when the placement
    /// uses several ranks). Every rank calls this with the same pipeline.
    pub fn run_on(
        self,
        cancel: &Cancel,
        cluster: Option<&dyn Cluster>,
    ) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let world = cluster.map(|c| c.world()).unwrap_or_default();
        if self.placement.is_distributed() && cluster.is_none() {
            return Err(RunError::NeedsCluster {
                processes: self.placement.world.size.max(
                    self.placement
                        .ranks
                        .iter()
                        .flatten()
                        .max()
                        .map_or(1, |m| m + 1),
                ),
            });
        }
        let out_dir = self.run.out_dir.clone();
        std::fs::create_dir_all(&out_dir).map_err(|source| RunError::OutDir {
            path: out_dir.clone(),
            source,
        })?;
        let mut wiring = self.wire(world.rank);
        if let Some(cluster) = cluster {
            check_carried(cluster, &wiring)?;
        }

        let ids: Vec<String> = self.stages.iter().map(|s| s.id.clone()).collect();
        let mut built: Vec<(usize, Box<dyn Stage>)> = Vec::with_capacity(self.stages.len());
        let mut meta = Vec::with_capacity(self.stages.len());
        for (index, stage) in self.stages.into_iter().enumerate() {
            if self.placement.replica_on(index, world.rank).is_none() {
                continue;
            }
            let ctx = BuildContext {
                id: stage.id.clone(),
                run: self.run.clone(),
            };
            // a panic while building (loading a model, reading a file) is an error naming
            // the stage, as a panic while running is
            let config = stage.config;
            let outcome =
                catch_unwind(AssertUnwindSafe(|| config.build(&ctx))).unwrap_or_else(|payload| {
                    Err(format!(
                        "panicked while building: {}",
                        panic_message(payload.as_ref())
                    )
                    .into())
                });
            let running = outcome.map_err(|source| RunError::Build {
                id: stage.id.clone(),
                kind: stage.kind.clone(),
                source,
            })?;
            built.push((index, running));
            meta.push((stage.id, stage.kind, stage.ports));
        }
        let consumer_done: BTreeMap<usize, Cancel> =
            built.iter().map(|(i, _)| (*i, Cancel::new())).collect();
        let mut transport = Vec::new();
        if let Some(cluster) = cluster {
            let failed = |source: BoxError| RunError::Transport(source.to_string());
            for (edge, end) in wiring.exports.drain(..) {
                transport.push(cluster.export(&edge, end, cancel.clone()).map_err(failed)?);
            }
            for import in wiring.imports.drain(..) {
                let end = ImportEnd::new(
                    import.sender,
                    cancel.clone(),
                    consumer_done[&import.to_stage].clone(),
                );
                transport.push(
                    cluster
                        .import(&import.edge, import.from_rank, end, cancel.clone())
                        .map_err(failed)?,
                );
            }
        }

        let (done_tx, done_rx) = unbounded::<(usize, Outcome, Duration)>();
        let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(built.len());
        for (slot, ((index, stage), (id, kind, ports))) in
            built.into_iter().zip(meta.iter().cloned()).enumerate()
        {
            let replica = self.placement.replica_on(index, world.rank).and_then(|r| {
                let count = self.placement.ranks[index].len();
                (count > 1).then(|| Replica {
                    index: r,
                    count,
                    collective: cluster.and_then(|c| c.collective(index)),
                })
            });
            let ctx = StageContext {
                seed: derive_seed(self.run.seed, &id),
                out_dir: out_dir.clone(),
                cancel: cancel.clone(),
                inputs: wiring.inputs.remove(&index).unwrap_or_default(),
                outputs: wiring.outputs.remove(&index).unwrap_or_default(),
                ports,
                id: id.clone(),
                kind: kind.clone(),
                world,
                replica,
            };
            let done = done_tx.clone();
            let finished = consumer_done[&index].clone();
            let spawned = std::thread::Builder::new()
                .name(format!("stage:{id}"))
                .spawn(move || run_stage(slot, stage, ctx, &done, &finished));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    cancel.cancel();
                    handles.into_iter().for_each(|h| drop(h.join()));
                    return Err(RunError::Spawn { id, source: e });
                }
            }
        }
        drop(done_tx);
        // outputs and inputs of stages not on this rank are not used here
        drop(wiring.outputs);
        drop(wiring.inputs);

        let (statuses, mut first_error) = supervise(&done_rx, cancel, &meta);
        for handle in handles {
            let _ = handle.join();
        }
        for thread in transport {
            let outcome = thread
                .join()
                .unwrap_or_else(|p| Err(panic_message(p.as_ref())));
            if let (Err(message), None) = (outcome, &first_error) {
                first_error = Some(RunError::Transport(message));
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        let stages = meta
            .iter()
            .zip(statuses)
            .map(|((id, kind, _), (status, wall))| StageReport {
                id: id.clone(),
                kind: kind.clone(),
                status,
                wall,
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .zip(wiring.stats)
            .filter(|(e, _)| {
                self.placement
                    .sending_ranks(e.from_stage)
                    .contains(&world.rank)
                    || self.placement.ranks[e.to_stage].contains(&world.rank)
            })
            .map(|(e, stats)| EdgeReport::new(&ids[e.from_stage], e, &ids[e.to_stage], &stats))
            .collect();
        Ok(RunReport {
            wall: started.elapsed(),
            stages,
            edges,
        })
    }
}

/// Every edge that crosses ranks must carry a type the transport can encode.
fn check_carried(cluster: &dyn Cluster, wiring: &Wiring) -> Result<(), RunError> {
    let edges = wiring
        .exports
        .iter()
        .map(|(e, _)| e)
        .chain(wiring.imports.iter().map(|i| &i.edge));
    let mut refused: Vec<String> = edges
        .filter(|e| !cluster.can_carry(&e.ty))
        .map(|e| format!("{} ({:?})", e.name, e.ty))
        .collect();
    refused.dedup();
    if refused.is_empty() {
        return Ok(());
    }
    Err(RunError::Transport(format!(
        "these edges cross ranks but their messages cannot be sent between processes: {}; \
         place both ends of each on the same rank",
        refused.join(", ")
    )))
}

fn run_stage(
    index: usize,
    stage: Box<dyn Stage>,
    mut ctx: StageContext,
    done: &Sender<(usize, Outcome, Duration)>,
    finished: &Cancel,
) {
    let span = tracing::info_span!("stage", id = %ctx.id, kind = %ctx.kind);
    let _entered = span.enter();
    let started = Instant::now();
    tracing::debug!("started");
    let result = catch_unwind(AssertUnwindSafe(|| stage.run(&mut ctx)));
    let cancelled = ctx.cancel.is_cancelled();
    // Dropping the context closes this stage's outputs: downstream sees end-of-stream.
    drop(ctx);
    finished.cancel();
    let outcome = match result {
        Ok(Ok(())) => Outcome::Finished,
        Ok(Err(e)) if e.is::<Stopped>() || cancelled => Outcome::Stopped,
        Ok(Err(e)) => Outcome::Failed(e),
        Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
    };
    tracing::debug!(elapsed = ?started.elapsed(), "finished");
    let _ = done.send((index, outcome, started.elapsed()));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Collects every stage's outcome; the first failure cancels the rest.
fn supervise(
    done: &Receiver<(usize, Outcome, Duration)>,
    cancel: &Cancel,
    meta: &[(String, String, crate::port::Ports)],
) -> (Vec<(StageStatus, Duration)>, Option<RunError>) {
    let mut statuses = vec![(StageStatus::Running, Duration::ZERO); meta.len()];
    let mut first_error: Option<RunError> = None;
    let mut remaining = meta.len();
    let mut cancelled_by_us = false;
    while remaining > 0 {
        let message = if cancel.is_cancelled() {
            match done.recv_timeout(STRAGGLER_WARNING) {
                Ok(m) => Some(m),
                Err(_) => {
                    let waiting: Vec<&str> = statuses
                        .iter()
                        .zip(meta)
                        .filter(|((s, _), _)| *s == StageStatus::Running)
                        .map(|(_, (id, _, _))| id.as_str())
                        .collect();
                    tracing::warn!(?waiting, "stages have not stopped yet after cancellation");
                    None
                }
            }
        } else {
            select! {
                recv(done) -> m => m.ok(),
                recv(cancel.receiver()) -> _ => None,
            }
        };
        let Some((index, outcome, wall)) = message else {
            continue;
        };
        remaining -= 1;
        let (id, kind, _) = &meta[index];
        let (status, error) = match outcome {
            Outcome::Finished => (StageStatus::Finished, None),
            Outcome::Stopped => (StageStatus::Stopped, None),
            Outcome::Failed(source) => (
                StageStatus::Failed,
                Some(RunError::StageFailed {
                    id: id.clone(),
                    kind: kind.clone(),
                    source,
                }),
            ),
            Outcome::Panicked(message) => (
                StageStatus::Panicked,
                Some(RunError::StagePanicked {
                    id: id.clone(),
                    kind: kind.clone(),
                    message,
                }),
            ),
        };
        statuses[index] = (status, wall);
        if let Some(error) = error {
            if first_error.is_none() {
                tracing::error!(stage = %id, kind = %kind, "{error}; stopping the pipeline");
                first_error = Some(error);
                cancelled_by_us = !cancel.is_cancelled();
                cancel.cancel();
            } else {
                tracing::warn!(stage = %id, "also failed after cancellation: {error}");
            }
        }
    }
    // Cancelled from outside (Ctrl-C) and no stage failed: the run was interrupted, even if
    // every stage then stopped cleanly.
    if cancel.is_cancelled() && !cancelled_by_us && first_error.is_none() {
        first_error = Some(RunError::Interrupted);
    }
    (statuses, first_error)
}
