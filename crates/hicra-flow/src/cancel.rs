//! A cancellation token that wakes every blocked channel operation at once.
//!
//! Cancelling drops the only sender of a zero-message channel, so every `select!` that also
//! waits on its receiver returns immediately: no polling, no timeouts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

#[derive(Clone)]
pub struct Cancel {
    inner: Arc<Inner>,
}

struct Inner {
    flag: AtomicBool,
    sender: Mutex<Option<Sender<()>>>,
    receiver: Receiver<()>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    pub fn new() -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(0);
        let inner = Inner {
            flag: AtomicBool::new(false),
            sender: Mutex::new(Some(sender)),
            receiver,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn cancel(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        self.inner
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Becomes ready (disconnected) when the token is cancelled; for use in `select!`.
    pub fn receiver(&self) -> &Receiver<()> {
        &self.inner.receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn cancel_wakes_a_blocked_select() {
        let cancel = Cancel::new();
        let (_tx, rx) = crossbeam_channel::bounded::<u8>(1);
        let c2 = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            c2.cancel();
        });
        let start = Instant::now();
        crossbeam_channel::select! {
            recv(rx) -> _ => panic!("no message was sent"),
            recv(cancel.receiver()) -> _ => {}
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(cancel.is_cancelled());
        t.join().unwrap();
    }
}
