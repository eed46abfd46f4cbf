//! The learner's share of a checkpoint (see `hicra_flow::checkpoint` for the directory
//! layout and how a run resumes): the policy weights and the optimiser's moments in burn's
//! full-precision MessagePack records, the frozen KL reference when there is one, and the
//! counters in `learner.json`. Full precision, so a resumed run continues bit for bit. With
//! LoRA the adapters and their optimiser replace `optimizer.mpk` and the reference is the
//! frozen base ([`crate::lora`] writes those files with the helpers here).

use std::path::Path;

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use hicra_model::{Llama, RuntimeAutodiff, RuntimeBackend};
use serde::{Deserialize, Serialize};

const MODEL: &str = "model";
const OPTIMIZER: &str = "optimizer";
const REFERENCE: &str = "reference";
const COUNTERS: &str = "learner.json";

/// The learner's counters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Batches trained on (= the policy version).
    pub step: u64,
    /// Consecutive skipped steps at that point.
    pub skips: u32,
}

/// What a checkpoint gives back to a resuming learner.
pub struct Restored<O> {
    pub model: Llama<RuntimeAutodiff>,
    pub optim: O,
    pub reference: Option<Llama<RuntimeBackend>>,
    pub counters: Counters,
}

/// The recorder of every learner file: burn's named MessagePack at full precision.
pub fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// Writes the policy weights (`model.mpk`, what evaluation and export read); returns the name.
pub fn save_model(dir: &Path, model: &Llama<RuntimeAutodiff>) -> Result<String, String> {
    model
        .clone()
        .save_file(dir.join(MODEL), &recorder())
        .map_err(|e| format!("saving the model: {e}"))?;
    Ok(format!("{MODEL}.mpk"))
}

/// Writes the counters (`learner.json`); returns the name.
pub fn save_counters(dir: &Path, counters: Counters) -> Result<String, String> {
    let text = serde_json::to_string_pretty(&counters).expect("counters serialize");
    std::fs::write(dir.join(COUNTERS), text).map_err(|e| format!("saving the counters: {e}"))?;
    Ok(COUNTERS.into())
}

/// Reads the counters of checkpoint `dir`.
pub fn load_counters(dir: &Path) -> Result<Counters, String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "checkpoint {}: cannot load the counters: {e}",
            dir.display()
        )
    };
    let text = std::fs::read_to_string(dir.join(COUNTERS)).map_err(|e| fail(&e))?;
    serde_json::from_str(&text).map_err(|e| fail(&e))
}

/// Writes the learner's files into `dir`; returns their names.
pub fn save<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>>(
    dir: &Path,
    model: &Llama<RuntimeAutodiff>,
    optim: &O,
    reference: Option<&Llama<RuntimeBackend>>,
    counters: Counters,
) -> Result<Vec<String>, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("saving the {what}: {e}");
    let mut files = vec![save_model(dir, model)?];
    Recorder::<RuntimeAutodiff>::record(&recorder(), optim.to_record(), dir.join(OPTIMIZER))
        .map_err(|e| fail("optimizer", &e))?;
    files.push(format!("{OPTIMIZER}.mpk"));
    if let Some(reference) = reference {
        reference
            .clone()
            .save_file(dir.join(REFERENCE), &recorder())
            .map_err(|e| fail("reference model", &e))?;
        files.push(format!("{REFERENCE}.mpk"));
    }
    files.push(save_counters(dir, counters)?);
    Ok(files)
}

/// Loads a checkpoint into a freshly built model and optimiser of the same shape.
pub fn load<O: Optimizer<Llama<RuntimeAutodiff>, RuntimeAutodiff>>(
    dir: &Path,
    model: Llama<RuntimeAutodiff>,
    optim: O,
    reference_shape: Option<Llama<RuntimeBackend>>,
) -> Result<Restored<O>, String> {
    let device = model.device();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        format!("checkpoint {}: cannot load the {what}: {e}", dir.display())
    };
    let model = model
        .load_file(dir.join(MODEL), &recorder(), &device)
        .map_err(|e| fail("model (was it written by a differently shaped policy?)", &e))?;
    let record = Recorder::<RuntimeAutodiff>::load(&recorder(), dir.join(OPTIMIZER), &device)
        .map_err(|e| fail("optimizer", &e))?;
    let optim = optim.load_record(record);
    let reference = match reference_shape {
        Some(shape) => Some(
            shape
                .load_file(dir.join(REFERENCE), &recorder(), &device)
                .map_err(|e| fail("KL reference model", &e))?,
        ),
        None => None,
    };
    let counters = load_counters(dir)?;
    Ok(Restored {
        model,
        optim,
        reference,
        counters,
    })
}

/// Only the policy weights of a checkpoint directory, loaded into a model of the same shape
/// (evaluation and export need no optimiser).
pub fn load_weights<B: burn::tensor::backend::Backend>(
    dir: &Path,
    shape: Llama<B>,
) -> Result<Llama<B>, String> {
    let device = shape.device();
    shape
        .load_file(dir.join(MODEL), &recorder(), &device)
        .map_err(|e| {
            format!(
                "checkpoint {}: cannot load the model (was it written by a differently shaped policy?): {e}",
                dir.display()
            )
        })
}
