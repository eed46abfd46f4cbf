//! The two threads of a remote edge, as MPI point-to-point messages tagged by the edge.
//!
//! Queue edges are **pulled**: the receiving rank's thread asks for one message (`REQUEST`)
//! only once it has delivered the previous one into its bounded local input, and the sending
//! rank's thread answers the first asker with the next message (`DATA`). So the edge stays
//! bounded (the local channels plus one message in flight), `share` edges balance themselves
//! over replicas (whoever is free asks), and every send is already awaited, never left to
//! block. Keep-latest edges are **pushed** to every receiver, whose thread always listens and
//! overwrites its unread value. `EOS` ends an edge; a receiver whose stage has returned says
//! `BYE` and reads until the `EOS` that acknowledges it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hicra_flow::{Cancel, ExportEnd, ImportEnd, RemoteEdge};
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::codec::{Decoder, Encoder};

const REQUEST: u8 = 1;
const BYE: u8 = 2;
const DATA: u8 = 3;
const EOS: u8 = 4;

/// How long a thread sleeps between polls for a message (with a check for cancellation).
const POLL: Duration = Duration::from_micros(200);
/// How long a sending thread waits for its stage's next message before polling again.
const WAIT_LOCAL: Duration = Duration::from_millis(20);

/// The world communicator, shared by the transport threads. Open MPI was initialised with
/// `MPI_THREAD_MULTIPLE`, so any thread may use it at any time.
pub struct Comm(pub SimpleCommunicator);
// SAFETY: MPI_THREAD_MULTIPLE is checked at initialisation (see `MpiCluster::init`).
unsafe impl Send for Comm {}
unsafe impl Sync for Comm {}

/// Tags of an edge: receivers ask on one, senders answer on the other.
fn tags(edge: &RemoteEdge) -> (i32, i32) {
    let base = 2 * edge.index as i32 + 16;
    (base, base + 1)
}

struct Wire {
    comm: Arc<Comm>,
    sent: Arc<AtomicU64>,
}

impl Wire {
    fn send(&self, to: usize, tag: i32, kind: u8, payload: &[u8]) {
        // the kind goes last, so that the receiver takes it off without moving the payload
        let mut bytes = Vec::with_capacity(1 + payload.len());
        bytes.extend_from_slice(payload);
        bytes.push(kind);
        self.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.comm
            .0
            .process_at_rank(to as i32)
            .send_with_tag(&bytes[..], tag);
    }

    /// A message from `from` (any rank when `None`) on `tag`, if one has arrived.
    fn poll(&self, from: Option<usize>, tag: i32) -> Option<(usize, u8, Vec<u8>)> {
        let probed = match from {
            Some(r) => self
                .comm
                .0
                .process_at_rank(r as i32)
                .immediate_matched_probe_with_tag(tag),
            None => self
                .comm
                .0
                .any_process()
                .immediate_matched_probe_with_tag(tag),
        };
        let (mut bytes, status) = probed?.matched_receive_vec::<u8>();
        let kind = bytes.pop().unwrap_or(0);
        Some((status.source_rank() as usize, kind, bytes))
    }

    /// Waits for a message; `None` when the run is cancelled first.
    fn wait(&self, from: Option<usize>, tag: i32, cancel: &Cancel) -> Option<(usize, u8, Vec<u8>)> {
        loop {
            if let Some(m) = self.poll(from, tag) {
                return Some(m);
            }
            if cancel.is_cancelled() {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The sending side of `edge` on this rank.
pub fn export(
    comm: Arc<Comm>,
    sent: Arc<AtomicU64>,
    edge: RemoteEdge,
    end: ExportEnd,
    encoder: Box<dyn Encoder>,
    cancel: Cancel,
) -> Result<(), String> {
    let mut sender = Sender {
        wire: Wire { comm, sent },
        tags: tags(&edge),
        remaining: edge.to_ranks.clone(),
        encoder,
        end,
        cancel,
    };
    let finished = match (edge.latest, edge.share) {
        (true, _) => sender.push_newest(),
        (false, true) => sender.send_to_first_asker(),
        (false, false) => sender.send_to_every_receiver(),
    }
    .map_err(|e| format!("{}: {e}", edge.name))?;
    if finished {
        // the sending stage has finished: the edge ends for every receiver still listening
        for &to in &sender.remaining {
            sender.wire.send(to, sender.tags.1, EOS, &[]);
        }
    }
    Ok(())
}

struct Sender {
    wire: Wire,
    /// (receivers ask, senders answer)
    tags: (i32, i32),
    remaining: Vec<usize>,
    encoder: Box<dyn Encoder>,
    end: ExportEnd,
    cancel: Cancel,
}

/// `Ok(true)`: the local stage finished (send EOS); `Ok(false)`: stop now (cancelled, or no
/// receiver left).
type Outcome = Result<bool, String>;

impl Sender {
    fn goodbye(&mut self, from: usize) {
        self.wire.send(from, self.tags.1, EOS, &[]);
        self.remaining.retain(|&r| r != from);
    }

    /// The stage's next message; `Ok(None)`: it has finished; `Err(())`: cancelled.
    fn next_local(&self) -> Result<Option<hicra_flow::Envelope>, ()> {
        loop {
            match self.end.recv_timeout(WAIT_LOCAL) {
                Ok(Some(m)) => return Ok(Some(m)),
                Ok(None) if self.cancel.is_cancelled() => return Err(()),
                Ok(None) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    /// Keep-latest: goodbyes first, then the newest value to everyone still listening.
    fn push_newest(&mut self) -> Outcome {
        while !self.remaining.is_empty() && !self.cancel.is_cancelled() {
            while let Some((from, kind, _)) = self.wire.poll(None, self.tags.0) {
                if kind == BYE {
                    self.goodbye(from);
                }
            }
            match self.end.recv_timeout(WAIT_LOCAL) {
                Ok(None) => {}
                Ok(Some(first)) => {
                    let bytes = self.encoder.encode(&self.end.newest(first))?;
                    for &to in &self.remaining {
                        self.wire.send(to, self.tags.1, DATA, &bytes);
                    }
                }
                Err(_) => return Ok(true),
            }
        }
        Ok(false)
    }

    /// Replicas sharing a queue: each message to the first receiver that asks.
    fn send_to_first_asker(&mut self) -> Outcome {
        while !self.remaining.is_empty() {
            let Some((from, kind, _)) = self.wire.wait(None, self.tags.0, &self.cancel) else {
                return Ok(false);
            };
            if !self.remaining.contains(&from) {
                continue;
            }
            if kind == BYE {
                self.goodbye(from);
                continue;
            }
            match self.next_local() {
                Ok(Some(m)) => {
                    let bytes = self.encoder.encode(&m)?;
                    self.wire.send(from, self.tags.1, DATA, &bytes);
                }
                Ok(None) => return Ok(true),
                Err(()) => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Every receiver reads every message (data-parallel replicas, or one receiver): each
    /// message goes to each receiver once it has asked.
    fn send_to_every_receiver(&mut self) -> Outcome {
        while !self.remaining.is_empty() {
            let message = match self.next_local() {
                Ok(Some(m)) => m,
                Ok(None) => return Ok(true),
                Err(()) => return Ok(false),
            };
            let bytes = self.encoder.encode(&message)?;
            for to in self.remaining.clone() {
                let Some((_, kind, _)) = self.wire.wait(Some(to), self.tags.0, &self.cancel) else {
                    return Ok(false);
                };
                if kind == BYE {
                    self.goodbye(to);
                } else {
                    self.wire.send(to, self.tags.1, DATA, &bytes);
                }
            }
        }
        Ok(false)
    }
}

/// The receiving side of `edge` on this rank, for the copy of its sender on `from`.
pub fn import(
    comm: Arc<Comm>,
    sent: Arc<AtomicU64>,
    edge: RemoteEdge,
    from: usize,
    end: ImportEnd,
    mut decoder: Box<dyn Decoder>,
    cancel: Cancel,
) -> Result<(), String> {
    let wire = Wire { comm, sent };
    let (ask, answer) = tags(&edge);
    let fail = |e: String| format!("{} (from rank {from}): {e}", edge.name);
    let leave = |wire: &Wire| {
        // say goodbye, then read (and drop) until the sender's acknowledgement
        wire.send(from, ask, BYE, &[]);
        while let Some((_, kind, _)) = wire.wait(Some(from), answer, &cancel) {
            if kind == EOS {
                break;
            }
        }
    };
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        if end.consumer_done() {
            leave(&wire);
            return Ok(());
        }
        if !edge.latest {
            wire.send(from, ask, REQUEST, &[]);
        }
        // wait for the answer, giving up if the receiving stage returns meanwhile
        let (kind, bytes) = loop {
            if let Some((_, kind, bytes)) = wire.poll(Some(from), answer) {
                break (kind, bytes);
            }
            if cancel.is_cancelled() {
                return Ok(());
            }
            if end.consumer_done() {
                leave(&wire);
                return Ok(());
            }
            std::thread::sleep(POLL);
        };
        match kind {
            EOS => return Ok(()),
            DATA => {
                let message = decoder.decode(&bytes).map_err(fail)?;
                if end.deliver(message).is_err() {
                    if !cancel.is_cancelled() {
                        leave(&wire);
                    }
                    return Ok(());
                }
            }
            other => return Err(fail(format!("unexpected message kind {other}"))),
        }
    }
}
