//! What a running stage sees: typed inboxes, outboxes and keep-latest inputs, plus its context.

use std::any::Any;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, select};

use crate::cancel::Cancel;
use crate::outcome::Stopped;
use crate::port::{Message, PortType, Ports};
use crate::world::{Replica, World};

/// A message in flight: shared so that one output can feed several inputs without copies.
pub type Envelope = Arc<dyn Any + Send + Sync>;

/// Counters of one edge, readable while the graph runs and in the run report.
#[derive(Debug, Default)]
pub struct EdgeStats {
    /// Messages delivered to the edge.
    pub messages: AtomicU64,
    /// Nanoseconds the sender spent blocked because the edge was full (backpressure).
    pub blocked_nanos: AtomicU64,
    /// Keep-latest edges: unread values replaced by a newer one.
    pub overwritten: AtomicU64,
}

impl EdgeStats {
    pub fn blocked(&self) -> Duration {
        Duration::from_nanos(self.blocked_nanos.load(Ordering::Relaxed))
    }
}

/// The sending half of one edge.
pub(crate) struct EdgeSender {
    pub tx: Sender<Envelope>,
    /// For keep-latest edges: a receiver used to drop the unread value before sending.
    pub drain: Option<Receiver<Envelope>>,
    pub stats: Arc<EdgeStats>,
}

/// Receives messages of type `T` from a queue input.
pub struct Inbox<T> {
    rx: Option<Receiver<Envelope>>,
    cancel: Cancel,
    _type: PhantomData<fn() -> T>,
}

impl<T: Message> Inbox<T> {
    pub(crate) fn new(rx: Option<Receiver<Envelope>>, cancel: Cancel) -> Self {
        Self {
            rx,
            cancel,
            _type: PhantomData,
        }
    }

    /// The next message; `None` once every sender has finished or the run is cancelled.
    pub fn recv(&self) -> Option<Arc<T>> {
        let rx = self.rx.as_ref()?;
        select! {
            recv(rx) -> msg => msg.ok().map(downcast::<T>),
            recv(self.cancel.receiver()) -> _ => None,
        }
    }

    /// Like [`recv`](Self::recv) but gives up after `timeout` (returns `Ok(None)` on timeout,
    /// `Err(Stopped)` when closed or cancelled).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Arc<T>>, Stopped> {
        let Some(rx) = self.rx.as_ref() else {
            return Err(Stopped);
        };
        select! {
            recv(rx) -> msg => msg.map(|m| Some(downcast::<T>(m))).map_err(|_| Stopped),
            recv(self.cancel.receiver()) -> _ => Err(Stopped),
            default(timeout) => Ok(None),
        }
    }

    /// A message without waiting, if one is queued.
    pub fn try_recv(&self) -> Option<Arc<T>> {
        self.rx.as_ref()?.try_recv().ok().map(downcast::<T>)
    }

    /// Iterates until the input closes or the run is cancelled.
    pub fn iter(&self) -> impl Iterator<Item = Arc<T>> + '_ {
        std::iter::from_fn(move || self.recv())
    }
}

impl<T: Message + Clone> Inbox<T> {
    /// The next message by value: moved out when this stage is its only reader, cloned otherwise.
    pub fn recv_owned(&self) -> Option<T> {
        self.recv().map(Arc::unwrap_or_clone)
    }
}

/// A keep-latest input: reading never blocks on old values, and the sender never blocks.
pub struct Latest<T> {
    inbox: Inbox<T>,
}

impl<T: Message> Latest<T> {
    pub(crate) fn new(rx: Option<Receiver<Envelope>>, cancel: Cancel) -> Self {
        Self {
            inbox: Inbox::new(rx, cancel),
        }
    }

    /// The newest value sent since the last read, if any; never blocks.
    pub fn try_take(&self) -> Option<Arc<T>> {
        self.inbox.try_recv()
    }

    /// Waits for a value newer than the last one read; `None` when closed or cancelled.
    pub fn wait(&self) -> Option<Arc<T>> {
        self.inbox.recv()
    }

    pub fn is_connected(&self) -> bool {
        self.inbox.rx.is_some()
    }
}

/// Sends messages of type `T` to every edge connected to one output.
pub struct Outbox<T> {
    edges: Vec<EdgeSender>,
    cancel: Cancel,
    _type: PhantomData<fn(T)>,
}

impl<T: Message> Outbox<T> {
    pub(crate) fn new(edges: Vec<EdgeSender>, cancel: Cancel) -> Self {
        Self {
            edges,
            cancel,
            _type: PhantomData,
        }
    }

    pub fn is_connected(&self) -> bool {
        !self.edges.is_empty()
    }

    /// Delivers `msg` to every connected input, blocking while a queue is full. Fails with
    /// [`Stopped`] when the run is cancelled or every consumer has finished.
    pub fn send(&self, msg: T) -> Result<(), Stopped> {
        self.send_envelope(Arc::new(msg))
    }

    /// Sends an already shared message (the type is checked by the caller).
    pub(crate) fn send_envelope(&self, envelope: Envelope) -> Result<(), Stopped> {
        if self.edges.is_empty() {
            return Ok(());
        }
        let mut delivered = 0;
        for edge in &self.edges {
            if self.deliver(edge, envelope.clone())? {
                delivered += 1;
            }
        }
        if delivered == 0 { Err(Stopped) } else { Ok(()) }
    }

    /// Returns whether the edge took the message (`false`: its consumer is gone).
    fn deliver(&self, edge: &EdgeSender, envelope: Envelope) -> Result<bool, Stopped> {
        if self.cancel.is_cancelled() {
            return Err(Stopped);
        }
        let envelope = match edge.tx.try_send(envelope) {
            Ok(()) => return Ok(edge.count()),
            Err(TrySendError::Disconnected(_)) => return Ok(false),
            Err(TrySendError::Full(envelope)) => envelope,
        };
        if let Some(drain) = &edge.drain {
            // Keep-latest: replace the unread value. A concurrent reader may take it first,
            // in which case the retry simply succeeds.
            if drain.try_recv().is_ok() {
                edge.stats.overwritten.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(edge.tx.try_send(envelope).is_ok() && edge.count());
        }
        let start = Instant::now();
        let result = select! {
            send(edge.tx, envelope) -> sent => Ok(sent.is_ok() && edge.count()),
            recv(self.cancel.receiver()) -> _ => Err(Stopped),
        };
        let waited = start.elapsed().as_nanos() as u64;
        edge.stats
            .blocked_nanos
            .fetch_add(waited, Ordering::Relaxed);
        result
    }
}

impl EdgeSender {
    fn count(&self) -> bool {
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        true
    }
}

fn downcast<T: Message>(envelope: Envelope) -> Arc<T> {
    envelope
        .downcast::<T>()
        .unwrap_or_else(|_| unreachable!("port types are checked before the graph runs"))
}

/// Everything a running stage receives from the runtime.
pub struct StageContext {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) seed: u64,
    pub(crate) out_dir: PathBuf,
    pub(crate) cancel: Cancel,
    pub(crate) ports: Ports,
    pub(crate) inputs: BTreeMap<String, Receiver<Envelope>>,
    pub(crate) outputs: BTreeMap<String, Vec<EdgeSender>>,
    pub(crate) world: World,
    pub(crate) replica: Option<Replica>,
}

impl StageContext {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// This stage's seed, derived from the run seed and the stage id.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The processes of the run (one unless launched with `mpirun`/`srun`).
    pub fn world(&self) -> World {
        self.world
    }

    /// This stage's place among its replicas, when `[run.placement]` puts it on several ranks.
    pub fn replica(&self) -> Option<&Replica> {
        self.replica.as_ref()
    }

    /// Whether this copy of the stage is the one that writes files and whose outputs go on
    /// (always, unless it is a non-lead data-parallel replica).
    pub fn is_lead(&self) -> bool {
        self.replica.as_ref().is_none_or(|r| r.index == 0)
    }

    /// The run's output directory (created before stages start).
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// For long computations between channel operations: `?` it regularly so that a failure
    /// elsewhere or Ctrl-C stops this stage within a second.
    pub fn check_cancelled(&self) -> Result<(), Stopped> {
        if self.is_cancelled() {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    /// A clone of the run's cancellation token, for worker threads a stage spawns itself.
    pub fn cancel_token(&self) -> Cancel {
        self.cancel.clone()
    }

    /// Takes the queue input `port` (an unconnected optional input reads as closed).
    pub fn input<T: Message>(&mut self, port: &str) -> Inbox<T> {
        self.check_input::<T>(port);
        Inbox::new(self.inputs.remove(port), self.cancel.clone())
    }

    /// Takes the keep-latest input `port`.
    pub fn latest<T: Message>(&mut self, port: &str) -> Latest<T> {
        self.check_input::<T>(port);
        Latest::new(self.inputs.remove(port), self.cancel.clone())
    }

    /// Takes the output `port` (unconnected outputs accept and discard messages).
    pub fn output<T: Message>(&mut self, port: &str) -> Outbox<T> {
        let declared = self.ports.find_output(port).map(|p| p.ty);
        self.check_declared::<T>("output", port, declared);
        Outbox::new(
            self.outputs.remove(port).unwrap_or_default(),
            self.cancel.clone(),
        )
    }

    fn check_input<T: Message>(&self, port: &str) {
        let declared = self.ports.find_input(port).map(|p| p.ty);
        self.check_declared::<T>("input", port, declared);
    }

    /// Asking for an undeclared port, or with another type, is a bug in the stage: it panics,
    /// and the runtime reports the panic with the stage's id and kind.
    fn check_declared<T: Message>(&self, what: &str, port: &str, declared: Option<PortType>) {
        match declared {
            None => panic!("stage `{}` asked for undeclared {what} `{port}`", self.id),
            Some(ty) if ty != PortType::of::<T>() => panic!(
                "stage `{}` reads {what} `{port}` as {:?} but declared it as {ty:?}",
                self.id,
                PortType::of::<T>()
            ),
            Some(_) => {}
        }
    }
}
