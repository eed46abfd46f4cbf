//! Rollouts on disk: `sink.rollouts` ([`sink`]) writes chosen rollouts of chosen steps as
//! JSON lines under `RUN/rollouts/`, [`files`] names and reads them back (for `hicra report`,
//! `hicra mine` and anyone with `jq`).

pub mod files;
pub mod sink;

pub use files::{
    RolloutFile, RolloutFileError, read_all, read_json_lines, read_rollouts, rollout_files,
};
pub use sink::{RolloutSink, RolloutSinkConfig};
