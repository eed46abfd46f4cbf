//! The one way a PRM is made, shared by `hicra prm train` and the `learner.prm` stage: read a
//! labels file, start from any policy checkpoint (its language-model head dropped, a scalar
//! head added), train ([`crate::train`]), and save the result as a token-classifier
//! directory with its `prm.json` ([`crate::store`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use hicra_model::{Device, RuntimeAutodiff};
use hicra_train::TextCodec;

use crate::labels::read_jsonl;
use crate::model::ProcessRewardModel;
use crate::store::{PrmInfo, save};
use crate::train::{PrmTrainConfig, train};

/// What to fit and where to put it.
pub struct FitJob {
    /// The labels file (JSONL of labelled solutions).
    pub labels: PathBuf,
    /// The model the PRM starts from (anything `--model` takes: a run, GGUF, HF directory).
    pub model: String,
    /// The PRM directory to write.
    pub out: PathBuf,
    pub config: PrmTrainConfig,
    /// Replace an existing `out`.
    pub force: bool,
}

/// Trains and saves the PRM `job` describes; `on_metrics` hears every report. Returns the
/// description written to `prm.json`.
pub fn fit(
    job: &FitJob,
    device: &Device,
    on_metrics: &mut dyn FnMut(u64, &BTreeMap<String, f64>),
) -> Result<PrmInfo, String> {
    job.config.validate()?;
    if job.out.exists() && !job.force {
        return Err(format!(
            "{} exists: choose another directory or replace it (--force / force = true)",
            job.out.display()
        ));
    }
    let records = read_jsonl(&job.labels)?;
    let loaded = hicra_train::trained::load_policy::<RuntimeAutodiff>(
        &job.model,
        Some(job.config.max_seq_len),
        device,
    )
    .map_err(|e| format!("model {}: {e}", job.model))?;
    let info = loaded.checkpoint.clone().ok_or_else(|| {
        format!(
            "model {} has random weights and no tokenizer: start the PRM from a trained policy \
             or a pretrained checkpoint",
            job.model
        )
    })?;
    let codec = TextCodec::Pretrained(Box::new(info));
    let prm = ProcessRewardModel::from_policy(loaded, job.config.seed);
    let (trained, figures) = train(&job.config, prm, &codec, &records, on_metrics)?;
    let mut info = PrmInfo::new(
        records[0].segmentation.clone(),
        job.config.target,
        &job.model,
    );
    info.train_config = Some(job.config.clone());
    info.training = figures;
    save(&job.out, &trained, &codec, &info, job.force)
}
