//! `learner.prm`: a process reward model trained inside a pipeline ([`crate::fit`]): labels
//! from a file (`label.montecarlo` or `hicra annotate` wrote it), the PRM written under the run
//! directory, training and held-out figures sent on `metrics` (so `sink.metrics` logs them to
//! `metrics.jsonl` and TensorBoard).

use std::path::PathBuf;

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext};
use hicra_flow::{StageResult, refuse};
use hicra_messages::MetricsRecord;
use hicra_model::DeviceSpec;
use serde::Deserialize;

use crate::fit::{FitJob, fit};
use crate::train::PrmTrainConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrmLearnerConfig {
    /// The labels file (JSONL of labelled solutions), relative to the working directory.
    pub labels: PathBuf,
    /// The model the PRM starts from: a hicra run, a checkpoint, a GGUF file or a Hugging Face
    /// directory.
    pub model: String,
    /// The PRM directory, relative to the run directory.
    pub out: PathBuf,
    /// How the PRM is trained (steps or epochs, batch, learning rate, target, held-out share).
    pub train: PrmTrainConfig,
    /// Where it trains.
    pub device: DeviceSpec,
}

impl Default for PrmLearnerConfig {
    fn default() -> Self {
        Self {
            labels: PathBuf::new(),
            model: String::new(),
            out: PathBuf::from("prm"),
            train: PrmTrainConfig::default(),
            device: DeviceSpec::default(),
        }
    }
}

impl StageConfig for PrmLearnerConfig {
    const KIND: &'static str = "learner.prm";
    const SUMMARY: &'static str = "trains a process reward model (scalar head, BCE on step labels) and saves it for transformers and `prm:PATH`";
    const EXAMPLE: &'static str = r#"[stages.prm]
kind = "learner.prm"
labels = ""                    # required: labelled solutions (hicra annotate, label.montecarlo)
model = ""                     # required: the model the PRM starts from
out = "prm"                    # under the run directory
device = "cpu"
train = { batch_size = 8, learning_rate = 2e-5, weight_decay = 0.0, seed = 0, target = "soft", holdout_fraction = 0.1, eval_every = 50, max_seq_len = 1024 }
"#;

    fn ports(&self) -> Ports {
        Ports::new().output::<MetricsRecord>(
            "metrics",
            "train/loss and held-out loss, step and response AUCs",
        )
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if self.model.is_empty() {
            problems.push(Invalid::new("model", "name the model the PRM starts from"));
        } else if let Err(p) = hicra_train::trained::check_source(&self.model) {
            problems.push(p.invalid("model"));
        }
        if let Err(p) = hicra_flow::files::check(&self.labels, hicra_flow::files::Wanted::File) {
            problems.push(
                p.help("step labels are written by `hicra annotate` or a `label.montecarlo` stage")
                    .invalid("labels"),
            );
        }
        if let Err(e) = self.train.validate() {
            problems.push(Invalid::new("train", e));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let job = FitJob {
            labels: self.labels.clone(),
            model: self.model.clone(),
            out: ctx.run.out_dir.join(&self.out),
            config: self.train.clone(),
            force: true,
        };
        Ok(Box::new(PrmLearner {
            job,
            device: self.device,
        }))
    }
}

struct PrmLearner {
    job: FitJob,
    device: DeviceSpec,
}

impl Stage for PrmLearner {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let device = self.device.open()?;
        let metrics = ctx.output::<MetricsRecord>("metrics");
        let source = ctx.id().to_string();
        let mut sent = Ok(());
        fit(&self.job, &device, &mut |step, values| {
            if sent.is_ok() {
                sent = metrics.send(MetricsRecord {
                    step,
                    source: source.clone(),
                    values: values.clone(),
                });
            }
        })?;
        sent?;
        Ok(())
    }
}
