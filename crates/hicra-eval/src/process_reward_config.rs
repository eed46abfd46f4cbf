//! `reward.process`'s configuration and the stage that loads its source of step scores (see
//! the [parent module](super)).

use std::path::PathBuf;

use hicra_flow::files::{self, Wanted};
use hicra_flow::map::{self, MapLoop, Reporting};
use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult, refuse,
};
use hicra_messages::RolloutBatch;
use hicra_model::DeviceSpec;
use serde::Deserialize;

use super::{MonteCarlo, MonteCarloConfig, ProcessReward};
use crate::prm::{Aggregate, PrmScorer, prm_dir};

/// How a PRM is made: the help line of a missing or unusable `prm`.
pub const MAKE_PRM: &str = "a process reward model is trained by `hicra prm train` or a \
    `learner.prm` stage (docs/process-supervision.md)";

/// Where step scores come from, as a help line for a stage that names neither or both.
pub const SOURCES: &str = "`prm = \"DIR\"` scores steps with a process reward model (`hicra prm \
    train` or a `learner.prm` stage makes one); `montecarlo = { model = \"RUN\", completions = 8 }` \
    with the share of a fixed policy's completions of each step that are correct \
    (docs/process-supervision.md)";

/// `reward.process`: step scores from a process reward model or Monte-Carlo completions.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessRewardConfig {
    /// The process reward model: its directory (holding `prm.json`) or a run directory holding
    /// one (a `learner.prm` run keeps it in `prm/`), as `hicra eval --scorers prm:PATH` takes;
    /// relative to the working directory, like the runs it comes from (`learner.prm`'s
    /// `labels`, a learner's `model.checkpoint`). This or `montecarlo` is required.
    pub prm: PathBuf,
    /// Monte-Carlo step scores from a fixed completer policy instead of a PRM.
    pub montecarlo: Option<MonteCarloConfig>,
    /// Positions of the PRM's (or the completer's) RoPE tables: the longest prompt + response
    /// (tokens) it reads. Default 1024.
    pub max_seq_len: usize,
    /// Responses per PRM forward pass, or whose step prefixes are completed in one draw.
    /// Default 16.
    pub batch: usize,
    /// Where the PRM or the completer runs: `cpu`, `cuda[:N]`, `wgpu[:N]`. Default `cpu`.
    pub device: DeviceSpec,
}

impl Default for ProcessRewardConfig {
    fn default() -> Self {
        Self {
            prm: PathBuf::new(),
            montecarlo: None,
            max_seq_len: 1024,
            batch: 16,
            device: DeviceSpec::default(),
        }
    }
}

impl ProcessRewardConfig {
    /// The PRM directory `prm` names (relative to the working directory), or why it is
    /// unusable, as a problem on `prm`.
    fn prm_dir(&self) -> Result<PathBuf, Invalid> {
        let path = self.prm.clone();
        files::check(&path, Wanted::Dir).map_err(|p| p.help(MAKE_PRM).invalid("prm"))?;
        let dir = prm_dir(&path).map_err(|e| Invalid::new("prm", e).help(MAKE_PRM))?;
        hicra_prm::store::read_info(&dir).map_err(|e| Invalid::new("prm", e).help(MAKE_PRM))?;
        Ok(dir)
    }

    /// The problems of the step scores' source: exactly one of `prm` and `montecarlo`.
    fn check_source(&self) -> Vec<Invalid> {
        match (self.prm.as_os_str().is_empty(), &self.montecarlo) {
            (false, Some(_)) => vec![
                Invalid::new(
                    "montecarlo",
                    "`prm` and `montecarlo` are two sources of step scores: give one of them",
                )
                .help(SOURCES),
            ],
            (true, None) => vec![
                Invalid::new(
                    "prm",
                    "name where step scores come from: `prm` (a process reward model) or \
                     `montecarlo` (completions of every step prefix)",
                )
                .help(SOURCES),
            ],
            (false, None) => self.prm_dir().err().into_iter().collect(),
            (true, Some(mc)) => mc.check(),
        }
    }
}

impl StageConfig for ProcessRewardConfig {
    const KIND: &'static str = "reward.process";
    const SUMMARY: &'static str = "a score for every step of each training response (step_rewards), \
        from a process reward model or Monte-Carlo completions by a fixed policy";
    const EXAMPLE: &'static str = r#"[stages.process]
kind = "reward.process"
inputs = { rollouts = "verifier.rollouts" }
prm = ""                      # a PRM directory or a run holding one (prm/); or, instead:
# montecarlo = { model = "runs/chains-policy", completions = 8, temperature = 0.8, top_p = 1.0, max_new_tokens = 64, verifier = "math", steps = "newline" }
max_seq_len = 1024            # positions of the PRM's (or completer's) RoPE tables
batch = 16                    # responses per PRM forward pass (or per completion draw)
device = "cpu"
"#;

    fn ports(&self) -> Ports {
        map::ports_with_metrics::<RolloutBatch>(
            "verified rollouts",
            "the batch with step_rewards on every training response",
            "step-score figures of every training batch (process/...)",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = self.check_source();
        if self.max_seq_len < 2 {
            problems.push(Invalid::new("max_seq_len", "need at least 2 positions"));
        }
        if self.batch == 0 {
            problems.push(Invalid::new(
                "batch",
                "score at least 1 response per forward pass",
            ));
        }
        if let Err(e @ hicra_model::DeviceError::NotBuilt { .. }) = self.device.device() {
            problems.push(Invalid::new("device", e.to_string()));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let dir = match self.montecarlo {
            Some(_) => None,
            None => Some(self.prm_dir().map_err(|p| p.message)?),
        };
        Ok(Box::new(ProcessRewardStage {
            dir,
            seed: ctx.stage_seed(),
            config: self,
        }))
    }
}

/// The stage before its PRM or completer is loaded (on the stage's own thread, in `run`).
struct ProcessRewardStage {
    /// The PRM's directory; `None` for Monte-Carlo scores.
    dir: Option<PathBuf>,
    seed: u64,
    config: ProcessRewardConfig,
}

impl Stage for ProcessRewardStage {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let c = &self.config;
        let device = c.device.open()?;
        let mut stage = match (&self.dir, &c.montecarlo) {
            (Some(dir), _) => ProcessReward::new(PrmScorer::load(
                dir,
                c.max_seq_len,
                Aggregate::Min,
                c.batch,
                &device,
            )?),
            (None, Some(mc)) => ProcessReward::monte_carlo(MonteCarlo::load(
                mc,
                c.max_seq_len,
                c.batch,
                self.seed,
                &device,
            )?),
            (None, None) => unreachable!("checked: one source of step scores"),
        };
        MapLoop::new()
            .reporting(Reporting::Each)
            .run(ctx, |batch: &mut RolloutBatch| Ok(stage.step(batch)?))
    }
}
