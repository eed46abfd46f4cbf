//! The channels of one process: for every edge, what this rank sends directly, what it hands
//! to a transport to send to other ranks, and what it receives from them. In a one-process
//! run every edge is direct.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::io::{EdgeSender, EdgeStats, Envelope};
use crate::pipeline::Pipeline;
use crate::port::InputMode;
use crate::remote::{ExportEnd, RemoteEdge};
use crate::world::Replication;

/// One edge's messages coming from another rank into a local stage's input.
pub(crate) struct Import {
    pub edge: RemoteEdge,
    pub from_rank: usize,
    pub to_stage: usize,
    pub sender: EdgeSender,
}

/// The wiring of rank `rank`.
#[derive(Default)]
pub(crate) struct Wiring {
    pub inputs: BTreeMap<usize, BTreeMap<String, Receiver<Envelope>>>,
    pub outputs: BTreeMap<usize, BTreeMap<String, Vec<EdgeSender>>>,
    /// Per pipeline edge: its counters on this rank.
    pub stats: Vec<Arc<EdgeStats>>,
    pub exports: Vec<(RemoteEdge, ExportEnd)>,
    pub imports: Vec<Import>,
}

impl Pipeline {
    /// Creates one channel per input of a stage on `rank`, one direct sender per edge between
    /// local stages, and the transport ends of edges that cross ranks.
    pub(crate) fn wire(&self, rank: usize) -> Wiring {
        let p = &self.placement;
        let local = |stage: usize| p.ranks[stage].contains(&rank);
        let mut channels: BTreeMap<(usize, String), (Sender<Envelope>, Receiver<Envelope>)> =
            BTreeMap::new();
        for e in self.edges.iter().filter(|e| local(e.to_stage)) {
            channels
                .entry((e.to_stage, e.to_port.clone()))
                .or_insert_with(|| {
                    let capacity = self
                        .edges
                        .iter()
                        .filter(|o| o.to_stage == e.to_stage && o.to_port == e.to_port)
                        .map(|o| o.capacity)
                        .max()
                        .unwrap_or(1);
                    bounded(capacity)
                });
        }
        let mut w = Wiring::default();
        for (index, e) in self.edges.iter().enumerate() {
            let stats = Arc::new(EdgeStats::default());
            w.stats.push(stats.clone());
            let latest = e.mode == InputMode::Latest;
            let share = !latest && p.replication[e.to_stage] == Replication::Share;
            let senders = p.sending_ranks(e.from_stage);
            let receivers = &p.ranks[e.to_stage];
            let remote = |from: usize| RemoteEdge {
                index,
                name: format!(
                    "{}.{} -> {}.{}",
                    self.stages[e.from_stage].id,
                    e.from_port,
                    self.stages[e.to_stage].id,
                    e.to_port
                ),
                ty: e.ty,
                latest,
                share,
                from_ranks: senders.to_vec(),
                to_ranks: receivers
                    .iter()
                    .copied()
                    .filter(|&r| share || r != from)
                    .collect(),
            };
            let mut outs = Vec::new();
            if senders.contains(&rank) {
                if let Some((tx, rx)) = channels.get(&(e.to_stage, e.to_port.clone()))
                    && !share
                {
                    outs.push(EdgeSender {
                        tx: tx.clone(),
                        drain: latest.then(|| rx.clone()),
                        stats: stats.clone(),
                    });
                }
                let edge = remote(rank);
                if !edge.to_ranks.is_empty() {
                    let (tx, rx) = bounded(if latest { 1 } else { e.capacity });
                    outs.push(EdgeSender {
                        tx,
                        drain: latest.then(|| rx.clone()),
                        stats: stats.clone(),
                    });
                    w.exports.push((edge, ExportEnd { rx }));
                }
            }
            if !outs.is_empty() {
                w.outputs
                    .entry(e.from_stage)
                    .or_default()
                    .entry(e.from_port.clone())
                    .or_default()
                    .extend(outs);
            }
            if let Some((tx, rx)) = channels.get(&(e.to_stage, e.to_port.clone())) {
                for &from in senders.iter().filter(|&&s| share || s != rank) {
                    w.imports.push(Import {
                        edge: remote(from),
                        from_rank: from,
                        to_stage: e.to_stage,
                        sender: EdgeSender {
                            tx: tx.clone(),
                            drain: latest.then(|| rx.clone()),
                            stats: stats.clone(),
                        },
                    });
                }
            }
        }
        for ((stage, port), (_tx, rx)) in channels {
            w.inputs.entry(stage).or_default().insert(port, rx);
        }
        w
    }
}
