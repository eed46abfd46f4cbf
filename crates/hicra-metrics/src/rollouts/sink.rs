//! `sink.rollouts`: every `every_steps` training steps (and at every evaluation), the batch's
//! rollouts, all or a seeded sample, become one JSON-lines file of [`RolloutRecord`]s under
//! `RUN/rollouts/`, within a disk budget.

use std::io::Write;
use std::path::{Path, PathBuf};

use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult,
    derive_seed, refuse,
};
use hicra_messages::{RolloutBatch, RolloutRecord};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::files::{ROLLOUTS_DIR, file_name};

/// Parameters of `sink.rollouts`.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSinkConfig {
    /// Write the training batches of steps 0, N, 2N, ... (0 = no training batches).
    pub every_steps: u64,
    /// Rollouts kept per written batch, chosen at random (seeded by the run seed and the
    /// step; kept in batch order); 0 = all of them.
    pub sample: usize,
    /// Also write every evaluation batch (held-out prompts) that arrives.
    pub eval: bool,
    /// Disk budget of the whole folder, in MiB: a file that would pass it is not written (a
    /// warning says so once), so a long run never fills the disk.
    pub max_megabytes: f64,
    /// Folder inside the run directory.
    pub dir: String,
}

impl Default for RolloutSinkConfig {
    fn default() -> Self {
        Self {
            every_steps: 10,
            sample: 0,
            eval: true,
            max_megabytes: 256.0,
            dir: ROLLOUTS_DIR.into(),
        }
    }
}

impl StageConfig for RolloutSinkConfig {
    const KIND: &'static str = "sink.rollouts";
    const SUMMARY: &'static str = "writes sampled rollouts (text, tokens, reward, per-token advantage, masks, entropy) as JSON lines under RUN/rollouts/";
    const EXAMPLE: &'static str = r#"[stages.rollouts]
kind = "sink.rollouts"
inputs = { rollouts = ["credit.rollouts", "eval_verifier.rollouts"] }
every_steps = 10
sample = 0
eval = true
max_megabytes = 256.0
dir = "rollouts"
"#;

    fn ports(&self) -> Ports {
        Ports::new().fan_in::<RolloutBatch>(
            "rollouts",
            "credited training batches and verified evaluation batches",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if !(self.max_megabytes.is_finite() && self.max_megabytes > 0.0) {
            problems.push(Invalid::new(
                "max_megabytes",
                format!("max_megabytes must be positive, got {}", self.max_megabytes),
            ));
        }
        let dir = Path::new(&self.dir);
        if self.dir.is_empty() || dir.is_absolute() || self.dir.contains("..") {
            problems.push(
                Invalid::new(
                    "dir",
                    format!("`{}` is not a folder inside the run", self.dir),
                )
                .help("give a relative name such as \"rollouts\""),
            );
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let dir = ctx.run.out_dir.join(&self.dir);
        Ok(Box::new(RolloutSink {
            budget: (self.max_megabytes * 1024.0 * 1024.0) as u64,
            config: self,
            seed: ctx.stage_seed(),
            used: folder_bytes(&dir),
            dir,
            over_budget: false,
        }))
    }
}

pub struct RolloutSink {
    config: RolloutSinkConfig,
    seed: u64,
    dir: PathBuf,
    budget: u64,
    /// Bytes already in the folder (files of an earlier, resumed run included).
    used: u64,
    over_budget: bool,
}

impl RolloutSink {
    /// Whether `batch` is one to write.
    pub fn wanted(&self, batch: &RolloutBatch) -> bool {
        if batch.eval {
            self.config.eval
        } else {
            self.config.every_steps > 0 && batch.step.is_multiple_of(self.config.every_steps)
        }
    }

    /// The records kept of `batch`: all, or `sample` of them drawn with the step's seed.
    pub fn records(&self, batch: &RolloutBatch) -> Vec<RolloutRecord> {
        let all: Vec<RolloutRecord> = batch
            .groups
            .iter()
            .flat_map(|g| (0..g.rollouts.len()).map(move |i| RolloutRecord::new(batch, g, i)))
            .collect();
        if self.config.sample == 0 || self.config.sample >= all.len() {
            return all;
        }
        let tag = format!(
            "{}-{}",
            if batch.eval { "eval" } else { "step" },
            batch.step
        );
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &tag));
        let mut chosen = sample(&mut rng, all.len(), self.config.sample).into_vec();
        chosen.sort_unstable();
        let mut all: Vec<Option<RolloutRecord>> = all.into_iter().map(Some).collect();
        chosen.into_iter().filter_map(|i| all[i].take()).collect()
    }

    /// Writes the batch's file if it is wanted and fits the budget; returns its path.
    pub fn write(&mut self, batch: &RolloutBatch) -> Result<Option<PathBuf>, BoxError> {
        if !self.wanted(batch) {
            return Ok(None);
        }
        let mut text = Vec::new();
        for record in self.records(batch) {
            serde_json::to_writer(&mut text, &record)?;
            text.push(b'\n');
        }
        let path = self.dir.join(file_name(batch.step, batch.eval));
        let replaced = std::fs::metadata(&path).map_or(0, |m| m.len());
        let after = self.used - replaced.min(self.used) + text.len() as u64;
        if after > self.budget {
            if !self.over_budget {
                tracing::warn!(
                    budget_mib = self.config.max_megabytes,
                    step = batch.step,
                    "sink.rollouts: the disk budget is reached; no more rollout files are written"
                );
                self.over_budget = true;
            }
            return Ok(None);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let mut file = std::fs::File::create(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        file.write_all(&text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        self.used = after;
        Ok(Some(path))
    }
}

impl Stage for RolloutSink {
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let input = ctx.input::<RolloutBatch>("rollouts");
        while let Some(batch) = input.recv() {
            self.write(&batch)?;
        }
        Ok(())
    }
}

/// Bytes of the files directly in `dir` (0 when it does not exist).
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    })
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
