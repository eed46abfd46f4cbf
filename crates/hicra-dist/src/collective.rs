//! The collective of data-parallel replicas: an MPI communicator holding just their ranks
//! (split from the world at start-up), all-reduce for gradients and figures, broadcast from
//! the lead for weights.

use std::sync::atomic::{AtomicU64, Ordering};

use hicra_flow::Collective;
use mpi::collective::SystemOperation;
use mpi::traits::*;

use crate::transport::Comm;

pub struct MpiCollective {
    pub(crate) comm: Comm,
    pub(crate) sent: AtomicU64,
}

impl MpiCollective {
    fn count(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl Collective for MpiCollective {
    fn sum_f32(&self, values: &mut [f32]) {
        let local = values.to_vec();
        self.count(4 * values.len());
        self.comm
            .0
            .all_reduce_into(&local[..], values, SystemOperation::sum());
    }

    fn max_f64(&self, values: &mut [f64]) {
        let local = values.to_vec();
        self.count(8 * values.len());
        self.comm
            .0
            .all_reduce_into(&local[..], values, SystemOperation::max());
    }

    fn broadcast_f32(&self, values: &mut [f32]) {
        if self.comm.0.rank() == 0 {
            self.count(4 * values.len() * (self.comm.0.size() as usize - 1));
        }
        self.comm.0.process_at_rank(0).broadcast_into(values);
    }

    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}
