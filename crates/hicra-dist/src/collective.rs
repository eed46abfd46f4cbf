//! The collective of data-parallel replicas: an MPI communicator holding just their ranks
//! (split from the world at start-up), all-reduce for gradients and figures, broadcast from
//! the lead for weights.
//!
//! MPI counts elements in a C `int`, so one call carries at most 2^31 - 1 of them; a flat
//! gradient or weight buffer of a multi-billion-parameter model is larger. Every collective
//! is therefore issued in chunks of at most [`CHUNK`] elements, in order, on every rank alike
//! (each chunk is its own collective call, so the ranks stay matched). The all-reduce needs a
//! send buffer apart from the receive one (rsmpi has no `MPI_IN_PLACE`): a copy of one chunk
//! at a time, never of the whole buffer.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use hicra_flow::Collective;
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::traits::*;

use crate::transport::Comm;

/// Most elements one MPI call carries: 2^26 (256 MiB of `f32`), well under both MPI's `int`
/// count and the 2^30 this crate promises, and small enough that the all-reduce's copy of one
/// chunk is a bounded cost; at these sizes a call is bandwidth-bound, so the extra calls are
/// free.
pub(crate) const CHUNK: usize = 1 << 26;
const _: () = assert!(CHUNK <= 1 << 30);

pub struct MpiCollective {
    pub(crate) comm: Comm,
    pub(crate) sent: AtomicU64,
    /// Elements per MPI call: [`CHUNK`], smaller in tests.
    pub(crate) chunk: usize,
}

impl MpiCollective {
    pub(crate) fn new(comm: Comm) -> Self {
        Self {
            comm,
            sent: AtomicU64::new(0),
            chunk: CHUNK,
        }
    }

    fn count(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `values` replaced by their reduction under `op` over the replicas, chunk by chunk.
    fn all_reduce<T: Equivalence + Copy>(&self, values: &mut [T], op: SystemOperation) {
        self.count(std::mem::size_of_val(values));
        let mut local = Vec::with_capacity(values.len().min(self.chunk));
        for range in chunks(values.len(), self.chunk) {
            local.clear();
            local.extend_from_slice(&values[range.clone()]);
            self.comm
                .0
                .all_reduce_into(&local[..], &mut values[range], op);
        }
    }
}

/// `0..len` as consecutive ranges of at most `chunk` elements (none when `len` is 0).
fn chunks(len: usize, chunk: usize) -> impl Iterator<Item = Range<usize>> {
    assert!(chunk > 0, "a chunk holds at least one element");
    (0..len)
        .step_by(chunk)
        .map(move |start| start..start.saturating_add(chunk).min(len))
}

impl Collective for MpiCollective {
    fn sum_f32(&self, values: &mut [f32]) {
        self.all_reduce(values, SystemOperation::sum());
    }

    fn max_f64(&self, values: &mut [f64]) {
        self.all_reduce(values, SystemOperation::max());
    }

    fn broadcast_f32(&self, values: &mut [f32]) {
        if self.comm.0.rank() == 0 {
            self.count(4 * values.len() * (self.comm.0.size() as usize - 1));
        }
        let root = self.comm.0.process_at_rank(0);
        for range in chunks(values.len(), self.chunk) {
            root.broadcast_into(&mut values[range]);
        }
    }

    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[path = "collective_tests.rs"]
mod tests;
