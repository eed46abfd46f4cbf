//! Where a copy of a stage runs: the processes of a run ([`World`]), how a stage placed on
//! several of them shares the work ([`Replication`]), and one copy's place among its replicas
//! ([`Replica`], agreeing with the others through a [`Collective`]). Plain values that the
//! running stage, the placement plan and the transport all read.

use std::sync::Arc;

/// The processes of a run: this one's rank and how many there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct World {
    pub rank: usize,
    pub size: usize,
}

impl Default for World {
    fn default() -> Self {
        Self { rank: 0, size: 1 }
    }
}

impl World {
    /// The rank and size a launcher gave this process (Open MPI, MPICH/PMI, Slurm), else one
    /// process. Reading them needs no MPI library, so any build validates a placement; outside
    /// a launcher `HICRA_WORLD_SIZE=N` validates as rank 0 of N (`HICRA_WORLD_SIZE=3 hicra
    /// validate FILE`).
    pub fn from_env() -> Self {
        let read = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok()?.trim().parse::<usize>().ok())
        };
        let size = read(&["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"]);
        let rank = read(&["OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"]);
        match (rank, size) {
            (Some(rank), Some(size)) if rank < size => Self { rank, size },
            _ => match read(&["HICRA_WORLD_SIZE"]) {
                Some(size) if size > 0 => Self { rank: 0, size },
                _ => Self::default(),
            },
        }
    }
}

/// How a stage placed on several ranks shares the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// One copy only (most stages).
    Single,
    /// Data-parallel replicas: every replica reads every message (each takes its own shard
    /// and they agree through a [`Collective`]); only the first replica's outputs are
    /// sent on.
    Mirror,
    /// Independent replicas: each queue message goes to one replica (whichever asks first),
    /// keep-latest values to all; every replica's outputs are sent on.
    Share,
}

/// Operations every replica of a data-parallel stage calls together, in the same order.
pub trait Collective: Send + Sync {
    /// Replaces `values` by their element-wise sum over the replicas.
    fn sum_f32(&self, values: &mut [f32]);
    /// Replaces `values` by their element-wise maximum over the replicas.
    fn max_f64(&self, values: &mut [f64]);
    /// Replaces `values` on every replica by the lead replica's.
    fn broadcast_f32(&self, values: &mut [f32]);
    /// Bytes this collective has moved from this process so far (sent, approximately).
    fn bytes_sent(&self) -> u64;
}

/// A stage's place among its replicas, given to it in its [`crate::StageContext`].
#[derive(Clone)]
pub struct Replica {
    /// 0 for the lead replica (the one whose outputs are sent on).
    pub index: usize,
    pub count: usize,
    /// For data-parallel replicas: the operations they agree through.
    pub collective: Option<Arc<dyn Collective>>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replica {} of {}", self.index, self.count)
    }
}
