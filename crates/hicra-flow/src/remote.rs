//! The seam between the flow core and a transport between processes (`hicra-dist` supplies
//! one over MPI). The core plans which edges cross ranks ([`RemoteEdge`]) and hands the
//! transport their local ends: on the sending rank an [`ExportEnd`] to read messages from, on
//! the receiving rank an [`ImportEnd`] to deliver them to, with the bounded / keep-latest
//! semantics of the local edge. Replicated stages agree through a [`Collective`]. Nothing
//! here knows MPI.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::cancel::Cancel;
use crate::io::{EdgeSender, Envelope, Outbox};
use crate::outcome::{BoxError, Stopped};
use crate::port::PortType;
use crate::world::{Collective, World};

/// An edge whose messages travel between processes, as seen identically by every rank.
#[derive(Clone, Debug)]
pub struct RemoteEdge {
    /// The edge's index in the pipeline (the same on every rank, so it can tag messages).
    pub index: usize,
    /// `from.port -> to.port`, for messages.
    pub name: String,
    pub ty: PortType,
    /// A keep-latest edge: values are pushed to every receiver, newest wins.
    pub latest: bool,
    /// A queue edge into [`crate::Replication::Share`] replicas: each message goes to one of
    /// `to_ranks` (the first that asks); otherwise every one of them gets every message.
    pub share: bool,
    /// The ranks whose copy of the sending stage sends on this edge.
    pub from_ranks: Vec<usize>,
    /// The ranks this edge reaches through the transport from a sending rank (a receiver on
    /// the sender's own rank is wired directly unless `share`).
    pub to_ranks: Vec<usize>,
}

/// What the transport thread of a sending rank reads: the messages the local stage sent.
pub struct ExportEnd {
    pub(crate) rx: Receiver<Envelope>,
}

impl ExportEnd {
    /// The next message, `Ok(None)` after `timeout` without one, `Err(Stopped)` once the
    /// sending stage has finished and everything it sent was read.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Envelope>, Stopped> {
        match self.rx.recv_timeout(timeout) {
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Stopped),
        }
    }

    /// Keep-latest edges: the newest message waiting, older ones dropped.
    pub fn newest(&self, first: Envelope) -> Envelope {
        self.rx.try_iter().last().unwrap_or(first)
    }
}

/// What the transport thread of a receiving rank delivers to: the local stage's input.
pub struct ImportEnd {
    pub(crate) outbox: Outbox<()>,
    /// Cancelled when the receiving stage has returned (nothing will read any more).
    pub(crate) consumer_done: Cancel,
}

impl ImportEnd {
    pub(crate) fn new(sender: EdgeSender, cancel: Cancel, consumer_done: Cancel) -> Self {
        Self {
            outbox: Outbox::new(vec![sender], cancel),
            consumer_done,
        }
    }

    /// Delivers one message: blocks while a queue input is full, replaces the unread value
    /// of a keep-latest one. `Err(Stopped)`: the receiving stage is gone or the run stops.
    pub fn deliver(&self, message: Envelope) -> Result<(), Stopped> {
        if self.consumer_done.is_cancelled() {
            return Err(Stopped);
        }
        self.outbox.send_envelope(message)
    }

    /// Whether the receiving stage has returned: the transport may stop asking for more.
    pub fn consumer_done(&self) -> bool {
        self.consumer_done.is_cancelled()
    }
}

/// A transport thread: `Err` names what failed (a message that could not be decoded, a
/// peer that broke the protocol); the run then stops with that error.
pub type TransportThread = JoinHandle<Result<(), String>>;

/// What a transport between processes provides to [`crate::Pipeline::run_on`].
pub trait Cluster: Send + Sync {
    /// This process and how many there are.
    fn world(&self) -> World;

    /// Whether messages of `ty` can be encoded for the wire (checked for every remote edge
    /// before any stage is built).
    fn can_carry(&self, ty: &PortType) -> bool;

    /// Starts the thread that sends what `end` yields to the edge's `to_ranks`.
    fn export(
        &self,
        edge: &RemoteEdge,
        end: ExportEnd,
        cancel: Cancel,
    ) -> Result<TransportThread, BoxError>;

    /// Starts the thread that receives the edge's messages from `from_rank` into `end`.
    fn import(
        &self,
        edge: &RemoteEdge,
        from_rank: usize,
        end: ImportEnd,
        cancel: Cancel,
    ) -> Result<TransportThread, BoxError>;

    /// The collective joining the replicas of the stage at `stage` (an index into the
    /// pipeline's stages), when it is a data-parallel stage on several ranks.
    fn collective(&self, stage: usize) -> Option<Arc<dyn Collective>>;
}
