//! The policy under evaluation and where it comes from: a pretrained checkpoint (anything
//! `--model` takes: GGUF, a Hugging Face directory, `smollm2`) or a hicra training run (its
//! directory, for the newest checkpoint, or one `checkpoints/step-N` directory), rebuilt from
//! the run's own pipeline with the weights of that checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::AutodiffModule;
use hicra_flow::checkpoint::{self, ResumePoint};
use hicra_flow::spec::{PipelineSpec, StageSpec, read_spec};
use hicra_model::{Device, Generator, RuntimeBackend};
use hicra_train::{PolicyModelConfig, SamplerConfig, TextCodec};

/// A policy ready to sample from.
#[derive(Clone)]
pub struct EvalPolicy {
    /// The weights, held for generation (on the CPU their host copy is made once).
    pub generator: Generator<RuntimeBackend>,
    pub codec: Arc<TextCodec>,
    /// The policy version (training steps behind the weights; 0 for a pretrained model).
    pub version: u64,
    /// Where it came from, for the summary.
    pub origin: String,
}

impl EvalPolicy {
    /// A pretrained model with its tokenizer and chat template, RoPE tables for
    /// `max_seq_len` positions.
    pub fn pretrained(spec: &str, max_seq_len: usize, device: &Device) -> Result<Self, String> {
        let loaded =
            hicra_train::trained::load_policy::<RuntimeBackend>(spec, Some(max_seq_len), device)
                .map_err(|e| format!("--model {spec}: {e}"))?;
        let info = loaded.checkpoint.ok_or_else(|| {
            format!("--model {spec} has random weights and no tokenizer; give a pretrained model or a run")
        })?;
        Ok(Self {
            generator: Generator::new(loaded.model),
            codec: Arc::new(TextCodec::Pretrained(Box::new(info))),
            version: 0,
            origin: spec.to_string(),
        })
    }
}

pub use hicra_train::trained::is_run;

/// A finished (or interrupted) training run, read back: its pipeline and one checkpoint.
pub struct TrainedRun {
    pub spec: PipelineSpec,
    /// Directory relative paths of the pipeline resolve against.
    pub base_dir: PathBuf,
    pub checkpoint: ResumePoint,
}

/// How a run evaluated itself: its evaluator stage, the source feeding it and the verifier
/// it feeds.
pub struct RunEvaluator<'a> {
    pub sampler_id: String,
    pub sampler: SamplerConfig,
    pub source: &'a StageSpec,
    pub verifier: &'a StageSpec,
}

impl TrainedRun {
    /// `root`: the run's merged pipeline document; `path`: the run or checkpoint directory.
    pub fn new(root: &hicra_flow::Value, base_dir: PathBuf, path: &Path) -> Result<Self, String> {
        let checkpoint = checkpoint::resolve(path)?;
        let mut diags = Vec::new();
        let spec = read_spec(root, &mut diags);
        if let Some(d) = diags.first() {
            return Err(format!("the run's pipeline: {}", d.message));
        }
        Ok(Self {
            spec,
            base_dir,
            checkpoint,
        })
    }

    fn stage(&self, id: &str) -> Option<&StageSpec> {
        self.spec.stages.iter().find(|s| s.id.name == id)
    }

    /// The stage that wrote the checkpoint (the learner).
    fn learner(&self) -> Result<&StageSpec, String> {
        let manifest_stage = checkpoint::list(&self.checkpoint.run_dir)
            .into_iter()
            .find(|(dir, _)| *dir == self.checkpoint.dir)
            .map(|(_, m)| m.stage);
        manifest_stage
            .as_deref()
            .and_then(|id| self.stage(id))
            .or_else(|| {
                self.spec
                    .stages
                    .iter()
                    .find(|s| s.kind.starts_with("learner."))
            })
            .ok_or_else(|| "the run's pipeline has no learner stage".to_string())
    }

    /// The policy of the checkpoint: the learner's architecture, the checkpoint's weights.
    pub fn policy(&self, device: &Device) -> Result<EvalPolicy, String> {
        let learner = self.learner()?;
        let model_config: PolicyModelConfig =
            match learner.params.as_table().and_then(|t| t.get("model")) {
                Some(table) => hicra_flow::de::from_value(table)
                    .map_err(|e| format!("the run's learner model table: {}", e.message))?,
                None => PolicyModelConfig::default(),
            };
        let (model, _, codec) = model_config.build(0, device)?;
        let model = hicra_train::checkpoint::load_weights(&self.checkpoint.dir, model.valid())?;
        Ok(EvalPolicy {
            generator: Generator::new(model),
            codec: Arc::new(codec),
            version: self.checkpoint.step,
            origin: self.checkpoint.dir.display().to_string(),
        })
    }

    /// The run's evaluator (`sampler.policy` with `eval_every > 0`; the first if several,
    /// or the one named), with its source and verifier.
    pub fn evaluator(&self, named: Option<&str>) -> Result<RunEvaluator<'_>, String> {
        let candidates: Vec<&StageSpec> = self
            .spec
            .stages
            .iter()
            .filter(|s| s.kind == "sampler.policy")
            .filter(|s| named.is_none_or(|n| s.id.name == n))
            .collect();
        for stage in candidates {
            let sampler: SamplerConfig = hicra_flow::de::from_value(&stage.params)
                .map_err(|e| format!("stage {}: {}", stage.id.name, e.message))?;
            if sampler.eval_every == 0 {
                continue;
            }
            let source_of = |port: &str| {
                stage
                    .inputs
                    .iter()
                    .find(|i| i.port.name == port)
                    .and_then(|i| i.sources.first())
                    .and_then(|r| self.stage(&r.stage))
            };
            let source = source_of("prompts")
                .ok_or_else(|| format!("evaluator {} has no prompt source", stage.id.name))?;
            let verifier = self
                .spec
                .stages
                .iter()
                .find(|s| {
                    s.kind.starts_with("verifier.")
                        && s.inputs.iter().any(|i| {
                            i.sources
                                .iter()
                                .any(|r| r.stage == stage.id.name && r.port == "rollouts")
                        })
                })
                .ok_or_else(|| format!("no verifier reads {}.rollouts", stage.id.name))?;
            return Ok(RunEvaluator {
                sampler_id: stage.id.name.clone(),
                sampler,
                source,
                verifier,
            });
        }
        Err(match named {
            Some(n) => {
                format!("the run has no evaluator stage `{n}` (sampler.policy with eval_every > 0)")
            }
            None => {
                "the run has no evaluator (sampler.policy with eval_every > 0): give --data".into()
            }
        })
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.spec.run.seed
    }
}
