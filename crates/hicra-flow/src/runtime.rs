//! Runs a validated pipeline: one named thread per stage, bounded channels between them,
//! cancellation on the first failure, every thread joined before returning.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select, unbounded};

use crate::cancel::Cancel;
use crate::io::{EdgeSender, EdgeStats, Envelope, StageContext};
use crate::pipeline::Pipeline;
use crate::port::InputMode;
use crate::report::{EdgeReport, RunError, RunReport, StageReport, StageStatus};
use crate::stage::{BoxError, BuildContext, Stage, Stopped, derive_seed};

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
        let started = Instant::now();
        let out_dir = self.run.out_dir.clone();
        std::fs::create_dir_all(&out_dir).map_err(|source| RunError::OutDir {
            path: out_dir.clone(),
            source,
        })?;
        let (mut inputs, mut outputs, edge_stats) = self.wire();

        let mut built: Vec<Box<dyn Stage>> = Vec::with_capacity(self.stages.len());
        let mut meta = Vec::with_capacity(self.stages.len());
        for stage in self.stages {
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
            built.push(running);
            meta.push((stage.id, stage.kind, stage.ports));
        }

        let (done_tx, done_rx) = unbounded::<(usize, Outcome, Duration)>();
        let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(built.len());
        for (index, (stage, (id, kind, ports))) in
            built.into_iter().zip(meta.iter().cloned()).enumerate()
        {
            let ctx = StageContext {
                seed: derive_seed(self.run.seed, &id),
                out_dir: out_dir.clone(),
                cancel: cancel.clone(),
                inputs: inputs.remove(&index).unwrap_or_default(),
                outputs: outputs.remove(&index).unwrap_or_default(),
                ports,
                id: id.clone(),
                kind: kind.clone(),
            };
            let done = done_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("stage:{id}"))
                .spawn(move || run_stage(index, stage, ctx, &done));
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

        let (statuses, first_error) = supervise(&done_rx, cancel, &meta);
        for handle in handles {
            let _ = handle.join();
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
            .zip(edge_stats)
            .map(|(e, stats)| {
                EdgeReport::new(&meta[e.from_stage].0, e, &meta[e.to_stage].0, &stats)
            })
            .collect();
        Ok(RunReport {
            wall: started.elapsed(),
            stages,
            edges,
        })
    }

    /// Creates one channel per connected input and one sender per edge.
    #[allow(clippy::type_complexity)]
    fn wire(
        &self,
    ) -> (
        BTreeMap<usize, BTreeMap<String, Receiver<Envelope>>>,
        BTreeMap<usize, BTreeMap<String, Vec<EdgeSender>>>,
        Vec<Arc<EdgeStats>>,
    ) {
        let mut channels: BTreeMap<(usize, String), (Sender<Envelope>, Receiver<Envelope>)> =
            BTreeMap::new();
        for e in &self.edges {
            let key = (e.to_stage, e.to_port.clone());
            if !channels.contains_key(&key) {
                let capacity = self
                    .edges
                    .iter()
                    .filter(|o| o.to_stage == e.to_stage && o.to_port == e.to_port)
                    .map(|o| o.capacity)
                    .max()
                    .unwrap_or(1);
                channels.insert(key, bounded(capacity));
            }
        }
        let mut outputs: BTreeMap<usize, BTreeMap<String, Vec<EdgeSender>>> = BTreeMap::new();
        let mut stats = Vec::with_capacity(self.edges.len());
        for e in &self.edges {
            let (tx, rx) = &channels[&(e.to_stage, e.to_port.clone())];
            let edge_stats = Arc::new(EdgeStats::default());
            stats.push(edge_stats.clone());
            let drain = (e.mode == InputMode::Latest).then(|| rx.clone());
            let sender = EdgeSender {
                tx: tx.clone(),
                drain,
                stats: edge_stats,
            };
            outputs
                .entry(e.from_stage)
                .or_default()
                .entry(e.from_port.clone())
                .or_default()
                .push(sender);
        }
        let mut inputs: BTreeMap<usize, BTreeMap<String, Receiver<Envelope>>> = BTreeMap::new();
        for ((stage, port), (_tx, rx)) in channels {
            inputs.entry(stage).or_default().insert(port, rx);
        }
        (inputs, outputs, stats)
    }
}

fn run_stage(
    index: usize,
    stage: Box<dyn Stage>,
    mut ctx: StageContext,
    done: &Sender<(usize, Outcome, Duration)>,
) {
    let span = tracing::info_span!("stage", id = %ctx.id, kind = %ctx.kind);
    let _entered = span.enter();
    let started = Instant::now();
    tracing::debug!("started");
    let result = catch_unwind(AssertUnwindSafe(|| stage.run(&mut ctx)));
    let cancelled = ctx.cancel.is_cancelled();
    // Dropping the context closes this stage's outputs: downstream sees end-of-stream.
    drop(ctx);
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
