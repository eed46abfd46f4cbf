//! [`MpiCluster`]: the [`Cluster`] of a run launched by `mpirun`/`srun`: MPI initialised
//! with `MPI_THREAD_MULTIPLE`, one communicator per data-parallel stage, one transport thread
//! per end of a remote edge.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hicra_flow::{
    BoxError, Cancel, Cluster, Collective, ExportEnd, ImportEnd, Placement, PortType, RemoteEdge,
    Replication, World, remote::TransportThread,
};
use mpi::Threading;
use mpi::environment::Universe;
use mpi::topology::Color;
use mpi::traits::*;

use crate::codec;
use crate::collective::MpiCollective;
use crate::transport::{self, Comm};

pub struct MpiCluster {
    world: World,
    comm: Arc<Comm>,
    collectives: BTreeMap<usize, Arc<MpiCollective>>,
    /// Bytes this process has sent on remote edges.
    sent: Arc<AtomicU64>,
    // dropped last: finalises MPI
    _universe: Universe,
}

impl MpiCluster {
    /// Initialises MPI (once per process) and the communicators of `placement`'s
    /// data-parallel stages. Every rank calls this with the same placement.
    pub fn init(placement: &Placement) -> Result<Self, String> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Multiple)
            .ok_or("MPI was already initialised in this process")?;
        if threading != Threading::Multiple {
            return Err(format!(
                "this MPI library gives threads {threading:?} support; hicra's stages run in \
                 threads and need MPI_THREAD_MULTIPLE (Open MPI >= 3 provides it)"
            ));
        }
        let comm = universe.world();
        let world = World {
            rank: comm.rank() as usize,
            size: comm.size() as usize,
        };
        if world.size != placement.world.size {
            return Err(format!(
                "MPI has {} processes but the pipeline was checked for {}: the launcher's \
                 environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE or SLURM_NTASKS) disagrees",
                world.size, placement.world.size
            ));
        }
        let mut collectives = BTreeMap::new();
        for (stage, ranks) in placement.ranks.iter().enumerate() {
            if placement.replication[stage] != Replication::Mirror || ranks.len() < 2 {
                continue;
            }
            // a collective call on every rank, in stage order; members ordered as placed
            let member = ranks.iter().position(|&r| r == world.rank);
            let color = match member {
                Some(_) => Color::with_value(0),
                None => Color::undefined(),
            };
            let key = member.unwrap_or(0) as i32;
            if let Some(sub) = comm.split_by_color_with_key(color, key) {
                collectives.insert(stage, Arc::new(MpiCollective::new(Comm(sub))));
            }
        }
        Ok(Self {
            world,
            comm: Arc::new(Comm(comm)),
            collectives,
            sent: Arc::new(AtomicU64::new(0)),
            _universe: universe,
        })
    }

    /// Bytes sent on remote edges and by collectives from this process so far.
    pub fn bytes_sent(&self) -> (u64, u64) {
        let collectives = self.collectives.values().map(|c| c.bytes_sent()).sum();
        (self.sent.load(Ordering::Relaxed), collectives)
    }

    /// Stops every process of the job at once (after an error on this one).
    pub fn abort(&self, code: i32) -> ! {
        self.comm.0.abort(code)
    }
}

fn spawn(
    name: String,
    work: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<TransportThread, BoxError> {
    Ok(std::thread::Builder::new().name(name).spawn(work)?)
}

impl Cluster for MpiCluster {
    fn world(&self) -> World {
        self.world
    }

    fn can_carry(&self, ty: &PortType) -> bool {
        codec::encoder(ty).is_some()
    }

    fn export(
        &self,
        edge: &RemoteEdge,
        end: ExportEnd,
        cancel: Cancel,
    ) -> Result<TransportThread, BoxError> {
        let encoder = codec::encoder(&edge.ty).ok_or("no codec")?;
        let (comm, sent, edge) = (self.comm.clone(), self.sent.clone(), edge.clone());
        spawn(format!("send:{}", edge.index), move || {
            transport::export(comm, sent, edge, end, encoder, cancel)
        })
    }

    fn import(
        &self,
        edge: &RemoteEdge,
        from_rank: usize,
        end: ImportEnd,
        cancel: Cancel,
    ) -> Result<TransportThread, BoxError> {
        let decoder = codec::decoder(&edge.ty).ok_or("no codec")?;
        let (comm, sent, edge) = (self.comm.clone(), self.sent.clone(), edge.clone());
        spawn(format!("recv:{}", edge.index), move || {
            transport::import(comm, sent, edge, from_rank, end, decoder, cancel)
        })
    }

    fn collective(&self, stage: usize) -> Option<Arc<dyn Collective>> {
        self.collectives
            .get(&stage)
            .map(|c| c.clone() as Arc<dyn Collective>)
    }
}
