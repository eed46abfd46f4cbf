//! A LoRA learner's checkpoint: `model.mpk` (the merged policy, so evaluation, export and
//! `model.checkpoint = "runs/NAME"` read it as any other), `adapters.mpk` and
//! `adapter_optimizer.mpk` (the adapters and their AdamW moments, full precision),
//! `lora.json` (the LoRA table and the base's identity) and `learner.json` (the counters).
//! No full-model optimiser state and no KL reference: the reference is the base.
//!
//! The base is not saved: resuming rebuilds it as the run did (`model.checkpoint`, or the
//! from-scratch init seed), hashes it and refuses a base whose sha256 differs from the one
//! `lora.json` recorded, then merges the saved adapters into it.

use std::path::Path;

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::Recorder;
use burn::tensor::backend::Backend;
use hicra_model::{Llama, RuntimeAutodiff};
use serde::{Deserialize, Serialize};

use super::adapters::LoraAdapters;
use super::config::LoraConfig;
use super::identity::BaseIdentity;
use super::state::Lora;
use crate::checkpoint::{Counters, Restored, load_counters, recorder, save_counters, save_model};

const ADAPTERS: &str = "adapters";
const ADAPTER_OPTIMIZER: &str = "adapter_optimizer";
/// The LoRA table and the base's identity.
pub const LORA_FILE: &str = "lora.json";

/// `lora.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoraFile {
    pub lora: LoraConfig,
    pub base: BaseIdentity,
    pub trainable_params: usize,
}

fn fail(dir: &Path, what: &str, e: &dyn std::fmt::Display) -> String {
    format!("checkpoint {}: cannot load the {what}: {e}", dir.display())
}

/// Reads `lora.json` of checkpoint `dir`.
pub fn read_lora_file(dir: &Path) -> Result<LoraFile, String> {
    let text = std::fs::read_to_string(dir.join(LORA_FILE)).map_err(|e| {
        fail(
            dir,
            LORA_FILE,
            &format!("{e} (was it written with LoRA on?)"),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| fail(dir, LORA_FILE, &e))
}

/// The adapters saved in checkpoint `dir`, shaped after `base` and the checkpoint's LoRA
/// table (for tests and export).
pub fn load_adapters<B: Backend>(
    dir: &Path,
    base: &Llama<B>,
) -> Result<(LoraFile, LoraAdapters<B>), String> {
    let file = read_lora_file(dir)?;
    let shape = LoraAdapters::init(&file.lora, base, 0)?;
    let adapters = shape
        .load_file(dir.join(ADAPTERS), &recorder(), &base.device())
        .map_err(|e| fail(dir, "adapters", &e))?;
    Ok((file, adapters))
}

impl Lora {
    /// Writes the checkpoint's files into `dir` (`model` is the merged policy); returns their
    /// names.
    pub fn save(
        &self,
        dir: &Path,
        model: &Llama<RuntimeAutodiff>,
        counters: Counters,
    ) -> Result<Vec<String>, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("saving the {what}: {e}");
        let mut files = vec![save_model(dir, model)?];
        self.adapters()
            .clone()
            .save_file(dir.join(ADAPTERS), &recorder())
            .map_err(|e| fail("adapters", &e))?;
        let record = self.optim.to_record();
        Recorder::<RuntimeAutodiff>::record(&recorder(), record, dir.join(ADAPTER_OPTIMIZER))
            .map_err(|e| fail("adapters' optimizer", &e))?;
        let file = LoraFile {
            lora: self.config.clone(),
            base: self.identity.clone(),
            trainable_params: self.trainable_params(),
        };
        let text = serde_json::to_string_pretty(&file).expect("lora.json serializes");
        std::fs::write(dir.join(LORA_FILE), text).map_err(|e| fail(LORA_FILE, &e))?;
        files.extend([
            format!("{ADAPTERS}.mpk"),
            format!("{ADAPTER_OPTIMIZER}.mpk"),
            LORA_FILE.into(),
            save_counters(dir, counters)?,
        ]);
        Ok(files)
    }

    /// Resumes from checkpoint `dir`: checks that this learner's base (`model`, as built) is
    /// the checkpoint's and its LoRA table the same, loads the adapters and their optimiser,
    /// and merges them into `model`. `optim` (the full model's, unused with LoRA) passes
    /// through; the reference is left to be the base.
    pub fn resume<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>>(
        &mut self,
        dir: &Path,
        model: Llama<RuntimeAutodiff>,
        optim: O,
    ) -> Result<Restored<O>, String> {
        let file = read_lora_file(dir)?;
        let (saved, here) = (&file.base, &self.identity);
        if saved.sha256 != here.sha256 {
            return Err(format!(
                "checkpoint {}: its LoRA adapters belong to base {} (sha256 {}), but this \
                 run's base, {}, has sha256 {}: resume with the base the run was started on",
                dir.display(),
                saved.describe(),
                saved.sha256,
                here.describe(),
                here.sha256
            ));
        }
        let (mut written, mut saved_config) = (self.config.clone(), file.lora.clone());
        // the adapters come from the file: their init seed no longer matters
        (written.init_seed, saved_config.init_seed) = (None, None);
        if written != saved_config {
            return Err(format!(
                "checkpoint {}: written with lora = {saved_config:?}, but this run has {written:?}",
                dir.display()
            ));
        }
        let device = model.device();
        let shape = self.adapters().clone();
        let adapters = shape
            .load_file(dir.join(ADAPTERS), &recorder(), &device)
            .map_err(|e| fail(dir, "adapters", &e))?;
        let record =
            Recorder::<RuntimeAutodiff>::load(&recorder(), dir.join(ADAPTER_OPTIMIZER), &device)
                .map_err(|e| fail(dir, "adapters' optimizer", &e))?;
        let fresh = super::state::adapter_optimizer(0.0);
        let loaded = std::mem::replace(&mut self.optim, fresh).load_record(record);
        self.optim = loaded;
        let model = self.adopt(adapters, model);
        Ok(Restored {
            model,
            optim,
            reference: None,
            counters: load_counters(dir)?,
        })
    }
}
