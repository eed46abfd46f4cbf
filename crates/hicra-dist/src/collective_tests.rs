//! Chunked collectives against one call per buffer. The MPI test relaunches this test binary
//! under `mpirun -np 3` (Open MPI, as the distributed tests of the `hicra` binary need); each
//! rank then runs the same test function, which sees [`RANK_ENV`] and does the collectives.

use std::process::Command;

use mpi::Threading;
use mpi::traits::*;

use super::*;

/// Set on the ranks that `mpirun` starts: the test then runs its rank's share.
const RANK_ENV: &str = "HICRA_DIST_COLLECTIVE_RANK_TEST";
/// What each rank prints when every comparison held.
const AGREED: &str = "chunked collectives equal one call";

#[test]
fn chunks_cover_the_buffer_in_order() {
    let all = |len, chunk| chunks(len, chunk).collect::<Vec<_>>();
    assert!(all(0, 7).is_empty());
    assert_eq!(all(7, 7), vec![0..7]);
    assert_eq!(all(15, 7), vec![0..7, 7..14, 14..15]);
    assert_eq!(all(5, usize::MAX), vec![0..5]);
    // 2^31 elements (beyond MPI's int count) go in pieces an int counts
    let big = 1usize << 31;
    let pieces = all(big, CHUNK);
    assert_eq!(pieces.len(), big / CHUNK);
    assert!(pieces.iter().all(|r| r.len() <= CHUNK));
    assert_eq!((pieces[0].start, pieces.last().unwrap().end), (0, big));
}

#[test]
fn chunked_collectives_equal_one_call_under_mpirun() {
    if std::env::var_os(RANK_ENV).is_some() {
        return on_rank();
    }
    let this_test = "collective::tests::chunked_collectives_equal_one_call_under_mpirun";
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "3"])
        .arg(std::env::current_exe().unwrap())
        .args([this_test, "--exact", "--nocapture", "--test-threads=1"])
        .env(RANK_ENV, "1")
        // containers often forbid the cross-process memory copies Open MPI tries first
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .output()
        .expect("mpirun (Open MPI) runs the collective tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches(AGREED).count(), 3, "{stdout}\n{stderr}");
}

/// One rank's share; a failed comparison stops the whole job at once (unwinding would
/// finalise MPI and wait for the other ranks, which wait in the next collective).
fn on_rank() {
    let (universe, _) = mpi::initialize_with_threading(Threading::Multiple).unwrap();
    let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compare(&universe)));
    if compared.is_err() {
        universe.world().abort(1);
    }
}

/// Every collective with 7 elements per call equals the same with one call, and both equal
/// the exact result (integers and halves: sums are exact in any order).
fn compare(universe: &mpi::environment::Universe) {
    let chunked = MpiCollective {
        chunk: 7,
        ..MpiCollective::new(Comm(universe.world()))
    };
    let whole = MpiCollective {
        chunk: usize::MAX,
        ..MpiCollective::new(Comm(universe.world()))
    };
    let rank = universe.world().rank() as usize;
    let size = universe.world().size() as usize;
    for len in [0, 1, 6, 7, 8, 100] {
        let mine: Vec<f32> = (0..len)
            .map(|i| ((rank + 1) * i) as f32 + 0.5 * rank as f32)
            .collect();
        let (mut a, mut b) = (mine.clone(), mine.clone());
        chunked.sum_f32(&mut a);
        whole.sum_f32(&mut b);
        let ranks_sum = (size * (size + 1) / 2) as f32;
        let halves = 0.5 * (size * (size - 1) / 2) as f32;
        let exact: Vec<f32> = (0..len).map(|i| i as f32 * ranks_sum + halves).collect();
        assert_eq!((&a, &b), (&exact, &exact), "sum of {len} on rank {rank}");

        // the largest value of element i is on rank i % size
        let mine: Vec<f64> = (0..len)
            .map(|i| {
                i as f64
                    + if i % size == rank {
                        1000.0
                    } else {
                        -(rank as f64)
                    }
            })
            .collect();
        let (mut a, mut b) = (mine.clone(), mine.clone());
        chunked.max_f64(&mut a);
        whole.max_f64(&mut b);
        let exact: Vec<f64> = (0..len).map(|i| i as f64 + 1000.0).collect();
        assert_eq!((&a, &b), (&exact, &exact), "max of {len} on rank {rank}");

        let mine: Vec<f32> = (0..len).map(|i| (i * 10 + rank) as f32).collect();
        let (mut a, mut b) = (mine.clone(), mine);
        chunked.broadcast_f32(&mut a);
        whole.broadcast_f32(&mut b);
        let exact: Vec<f32> = (0..len).map(|i| (i * 10) as f32).collect();
        assert_eq!(
            (&a, &b),
            (&exact, &exact),
            "broadcast of {len} on rank {rank}"
        );
    }
    assert_eq!(chunked.bytes_sent(), whole.bytes_sent());
    println!("rank {rank}: {AGREED}");
}
