//! The stage contract: a serde config that declares its ports and builds a running stage.

use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::io::StageContext;
use crate::port::Ports;

// what a stage returns and refuses, a layer below, so that channels and file checks share it
pub use crate::outcome::{BoxError, Invalid, StageResult, Stopped, refuse};

/// Settings shared by every stage of a run (the pipeline's `[run]` table).
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Base seed; each stage derives its own with [`BuildContext::stage_seed`].
    pub seed: u64,
    /// Default capacity of every queue edge.
    pub channel_capacity: usize,
    /// Where stages write their artifacts (metrics, checkpoints, plots).
    pub out_dir: PathBuf,
    /// Directory of the pipeline file, for resolving relative paths in stage parameters.
    pub base_dir: PathBuf,
    /// The checkpoint a resumed run starts from (`hicra run --resume DIR`), if any.
    pub resume: Option<crate::checkpoint::ResumePoint>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            seed: 0,
            channel_capacity: 4,
            out_dir: PathBuf::from("runs/default"),
            base_dir: PathBuf::from("."),
            resume: None,
        }
    }
}

/// Passed to [`StageConfig::build`].
#[derive(Clone, Debug)]
pub struct BuildContext {
    /// The stage's id (its table name under `[stages]`).
    pub id: String,
    pub run: RunSettings,
}

impl BuildContext {
    /// A seed for this stage, derived from the run seed and the stage id (stable across runs).
    pub fn stage_seed(&self) -> u64 {
        derive_seed(self.run.seed, &self.id)
    }

    /// Training steps already done when this run resumes from a checkpoint (0 otherwise).
    pub fn resume_step(&self) -> u64 {
        self.run.resume.as_ref().map_or(0, |r| r.step)
    }

    /// `RUN/state/ID.json`: where a stage keeps the little state it needs to resume (most
    /// stages need none: they are deterministic given the seed and the step).
    pub fn state_path(&self) -> PathBuf {
        self.run
            .out_dir
            .join("state")
            .join(format!("{}.json", self.id))
    }

    /// Resolves a path given in the pipeline file relative to that file's directory.
    pub fn resolve_path(&self, path: &std::path::Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.run.base_dir.join(path)
        }
    }
}

/// FNV-1a of the id mixed into the seed with SplitMix64: cheap, stable, well spread.
pub fn derive_seed(seed: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The TOML side of a stage: parameters (serde, `deny_unknown_fields`, the defaults in one
/// `#[serde(default)]` + `impl Default`), its ports, and how to build the running stage.
pub trait StageConfig: DeserializeOwned + std::fmt::Debug + Send + 'static {
    /// `family.name`, the value of `kind = "..."` that selects this stage.
    const KIND: &'static str;
    /// One line for `hicra stages`.
    const SUMMARY: &'static str;
    /// A complete `[stages.<id>]` table showing every parameter with its default; printed by
    /// `hicra stages` and held by a test to the config's own defaults (every key written
    /// must parse to the value its absence gives), so it can never go stale.
    const EXAMPLE: &'static str;

    /// Ports may depend on the configuration (e.g. an optional reference-model input).
    fn ports(&self) -> Ports;

    /// Every parameter value this stage would refuse (ranges, files that must exist, values
    /// that contradict each other), found without building anything: `hicra validate` and
    /// `hicra run` report them all, each at the value's `FILE:LINE:COL`, before any stage is
    /// built. Loading models and opening devices stay in [`build`](Self::build).
    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        Vec::new()
    }

    /// Whether the stage, as configured, would run forever unless its outputs are consumed
    /// (an endless source): validation refuses one whose outputs lead nowhere.
    fn endless(&self) -> bool {
        false
    }

    /// How copies of this stage on several ranks (`[run.placement]`) share the work; a stage
    /// that cannot be replicated keeps the default, and validation refuses placing it on more
    /// than one rank.
    fn replication(&self) -> crate::world::Replication {
        crate::world::Replication::Single
    }

    /// Builds the running stage (refusing, too, what [`check`](Self::check) refuses: see
    /// [`refuse`]).
    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError>;
}

/// A running stage. `run` owns its thread: it takes its inputs and outputs from the context,
/// loops until its inputs close, and returns. Keep the logic in a pure `step` method so it can
/// be unit-tested without threads, and `run` a thin loop around it: for a map-like stage (a
/// batch in, the same batch out) that loop is [`crate::map::MapLoop`].
pub trait Stage: Send + 'static {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_seeds_differ_by_id_and_are_stable() {
        assert_ne!(derive_seed(1, "sampler"), derive_seed(1, "learner"));
        assert_ne!(derive_seed(1, "sampler"), derive_seed(2, "sampler"));
        assert_eq!(derive_seed(7, "x"), derive_seed(7, "x"));
    }
}
