//! Trained policies wherever a model is taken: a run directory (its newest checkpoint), a run
//! with a step, or one `checkpoints/step-N` directory loads like a GGUF file or a Hugging Face
//! directory, as a [`LoadedModel`] whose [`CheckpointInfo`] describes the policy (a character
//! alphabet becomes the byte-level vocabulary with the same ids, prompted one message per
//! line). `--model`, `model = { checkpoint = ... }`, `hicra generate`, `hicra model logits`,
//! `hicra eval` and `hicra export` all go through [`load_policy`].
//!
//! Every checkpoint the learner writes carries `policy.json`: the learner's `[model]` table
//! (a pretrained path made absolute), which rebuilds the policy's architecture and codec; the
//! weights come from the checkpoint's `model.mpk`.
//!
//! [`check_source`] tells, without loading anything, whether what a spec names is there,
//! with how to get it when it is not (`scripts/fetch-model.sh`, `hicra run`).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use hicra_flow::checkpoint::{self as runs, ResumePoint};
use hicra_flow::files::{self, FileProblem, PathProblem, Wanted};
use hicra_model::source::SMOLLM2_FILE;
use hicra_model::{
    CheckpointInfo, Device, Llama, LoadedModel, ModelSource, llama_config_of, load_model,
};
use hicra_pretrained::{ChatTemplate, Tokenizer};

use crate::PolicyModelConfig;

/// The policy description in every checkpoint directory.
pub const POLICY_FILE: &str = "policy.json";

/// Whether `path` is a hicra run directory or one of its checkpoints.
pub fn is_run(path: &Path) -> bool {
    path.is_dir()
        && (path.join("checkpoint.json").is_file()
            || path.join("checkpoints").is_dir()
            || path.join("invocation.json").is_file())
}

/// The checkpoint `path` names: itself, the newest of a run, or a run's `step`.
pub fn checkpoint_of(path: &Path, step: Option<u64>) -> Result<ResumePoint, String> {
    let Some(step) = step else {
        return runs::resolve(path);
    };
    let found = runs::list(path).into_iter().find(|(_, m)| m.step == step);
    match found {
        Some((dir, _)) => Ok(ResumePoint {
            dir,
            step,
            run_dir: path.to_path_buf(),
        }),
        None => {
            let steps: Vec<String> = runs::list(path)
                .iter()
                .map(|(_, m)| m.step.to_string())
                .collect();
            Err(format!(
                "{} has no checkpoint of step {step} (it has: {})",
                path.display(),
                if steps.is_empty() {
                    "none".into()
                } else {
                    steps.join(", ")
                }
            ))
        }
    }
}

/// Writes `model` into a checkpoint directory as [`POLICY_FILE`].
pub fn write_policy_file(dir: &Path, model: &PolicyModelConfig) -> Result<(), String> {
    let mut model = model.clone();
    if let Some(source) = &model.checkpoint {
        model.checkpoint = Some(absolute_source(source));
    }
    let text = serde_json::to_string_pretty(&model).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(POLICY_FILE), text).map_err(|e| format!("writing {POLICY_FILE}: {e}"))
}

/// A model source that still names the same file from another working directory.
fn absolute_source(source: &str) -> String {
    match ModelSource::parse(source) {
        ModelSource::Checkpoint(path) => std::path::absolute(&path)
            .unwrap_or(path)
            .display()
            .to_string(),
        ModelSource::Random { .. } => source.to_string(),
    }
}

/// Loads what `spec` names (a run, a checkpoint directory, or anything
/// [`ModelSource::parse`] takes) on `device`, with RoPE tables for `max_seq_len` positions.
pub fn load_policy<B: Backend<Device = Device>>(
    spec: &str,
    max_seq_len: Option<usize>,
    device: &Device,
) -> Result<LoadedModel<B>, String> {
    let path = PathBuf::from(spec);
    if is_run(&path) {
        let point = checkpoint_of(&path, None)?;
        return load_checkpoint(&point.dir, max_seq_len, device);
    }
    load_model(&ModelSource::parse(spec), max_seq_len, device).map_err(|e| e.to_string())
}

/// How to get the SmolLM2 checkpoint (`checkpoint = "smollm2"`) when it is missing.
pub const FETCH_MODEL: &str = "run scripts/fetch-model.sh to fetch SmolLM2-135M-Instruct (or set HICRA_SMOLLM2_GGUF to where it is)";
/// How to get a run's checkpoint when it is missing.
pub const WRITE_CHECKPOINT: &str = "a run's checkpoints are written by `hicra run PIPELINE --out RUN` \
    (every `checkpoint_every` learner steps, and at the end)";
/// How to get any other model when it is missing.
const MODEL_KINDS: &str = "a model is a .gguf file, a Hugging Face directory, or a hicra run \
    (`hicra run PIPELINE --out RUN` writes one); `smollm2` names the GGUF scripts/fetch-model.sh \
    fetches";

/// Whether the model `spec` names is there to load, checked without loading it (by `hicra
/// validate` for `model.checkpoint`, and first by every `--model` flag): nothing for a
/// `random:` shape; else a regular file or a directory that opens, and a run must hold a
/// complete checkpoint. A missing path comes with how to get it.
pub fn check_source(spec: &str) -> Result<(), PathProblem> {
    let ModelSource::Checkpoint(path) = ModelSource::parse(spec) else {
        return Ok(());
    };
    let how_to_get = if spec == "smollm2" || path.ends_with(SMOLLM2_FILE) {
        FETCH_MODEL
    } else if path.components().any(|c| c.as_os_str() == "checkpoints")
        || path.ancestors().skip(1).any(is_run)
    {
        WRITE_CHECKPOINT
    } else {
        MODEL_KINDS
    };
    files::check(&path, Wanted::FileOrDir).map_err(|p| p.if_missing(how_to_get))?;
    if is_run(&path) {
        runs::resolve(&path).map_err(|e| {
            PathProblem::new(&path, FileProblem::Unusable(e)).help(WRITE_CHECKPOINT)
        })?;
    }
    Ok(())
}

/// The policy of one checkpoint directory.
pub fn load_checkpoint<B: Backend<Device = Device>>(
    dir: &Path,
    max_seq_len: Option<usize>,
    device: &Device,
) -> Result<LoadedModel<B>, String> {
    let described = dir.join(POLICY_FILE);
    let text = std::fs::read_to_string(&described).map_err(|e| {
        format!(
            "{}: {e} (checkpoints written before policies described themselves need \
             `hicra eval --model RUN`, which rebuilds the policy from the run's pipeline)",
            described.display()
        )
    })?;
    let mut model: PolicyModelConfig =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", described.display()))?;
    if let Some(len) = max_seq_len {
        model.max_seq_len = len;
    }
    let mut shape = policy_shape::<B>(&model, device)?;
    let weights = crate::checkpoint::load_weights(dir, shape.model)?;
    if let Some(info) = &mut shape.checkpoint {
        // trained weights are full precision, whatever the base checkpoint stored
        let count = hicra_pretrained::names::expected_tensors(&info.config).len();
        info.dtypes = [("F32".to_string(), count)].into();
    }
    Ok(LoadedModel {
        model: weights,
        ..shape
    })
}

/// The policy `model` describes, before its trained weights are loaded.
fn policy_shape<B: Backend<Device = Device>>(
    model: &PolicyModelConfig,
    device: &Device,
) -> Result<LoadedModel<B>, String> {
    if let Some(source) = &model.checkpoint {
        return load_policy(source, Some(model.max_seq_len), device)
            .map_err(|e| format!("the policy's base model {source}: {e}"));
    }
    let config = model.model_config();
    config.validate()?;
    let alphabet = hicra_model::CharTokenizer::new(&model.alphabet);
    let tokenizer = Tokenizer::of_characters(alphabet.alphabet()).map_err(|e| e.to_string())?;
    let info = CheckpointInfo {
        config: llama_config_of(&config, &tokenizer),
        tokenizer,
        chat_template: ChatTemplate::Lines,
        chat_template_jinja: None,
        dtypes: Default::default(),
    };
    Ok(LoadedModel {
        model: Llama::init(&config, 0, device),
        config,
        checkpoint: Some(info),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(spec: &Path) -> PathProblem {
        check_source(spec.to_str().unwrap()).unwrap_err()
    }

    #[test]
    fn check_source_names_what_is_missing_and_how_to_get_it() {
        assert!(check_source("random:tiny").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("model.gguf");
        std::fs::write(&gguf, b"GGUF").unwrap();
        assert!(
            check_source(gguf.to_str().unwrap()).is_ok(),
            "loading is not checked"
        );

        let any = problem(&dir.path().join("nope.gguf"));
        assert!(any.is_missing());
        assert!(
            any.help
                .as_deref()
                .unwrap()
                .contains("scripts/fetch-model.sh")
        );
        let smollm2 = problem(&dir.path().join("models").join(SMOLLM2_FILE));
        assert_eq!(smollm2.help.as_deref(), Some(FETCH_MODEL));
        let step = problem(&dir.path().join("run/checkpoints/step-00000040"));
        assert_eq!(step.help.as_deref(), Some(WRITE_CHECKPOINT));

        // a run that has not written a checkpoint yet is there, but holds no model
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("checkpoints")).unwrap();
        let empty = problem(&run);
        assert!(!empty.is_missing());
        assert!(
            empty.to_string().contains("holds no complete checkpoint"),
            "{empty}"
        );
        assert_eq!(empty.help.as_deref(), Some(WRITE_CHECKPOINT));

        #[cfg(unix)]
        {
            let device = problem(Path::new("/dev/null"));
            assert!(!device.is_missing());
            assert_eq!(
                device.to_string(),
                "/dev/null is a character device, not a regular file or a directory"
            );
        }
    }
}
