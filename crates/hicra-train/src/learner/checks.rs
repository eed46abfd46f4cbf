//! The learner's value checks, reported by `hicra validate` at the offending key
//! (`FILE:LINE:COL`) and refused again by `build`: ranges of the coefficients, and the
//! combinations that would train something other than what they name (GSPO under another
//! aggregation than its sequence mean; Dr. GRPO's constant normaliser without a constant);
//! the `lora` table's ([`crate::lora::LoraConfig::problems`]).

use hicra_flow::Invalid;

use super::LearnerConfig;
use crate::loss::LossAggregation;

/// Every problem of `c`.
pub(super) fn problems(c: &LearnerConfig) -> Vec<Invalid> {
    let mut problems = Vec::new();
    let mut need = |ok: bool, field: &str, message: String| {
        if !ok {
            problems.push(Invalid::new(field, message));
        }
    };
    let lr = c.learning_rate;
    need(
        lr > 0.0 && lr.is_finite(),
        "learning_rate",
        format!("learning_rate must be positive, got {lr}"),
    );
    need(
        c.micro_batch_size > 0,
        "micro_batch_size",
        "micro_batch_size must be at least 1".into(),
    );
    need(c.epochs > 0, "epochs", "epochs must be at least 1".into());
    let clip = c.grad_clip;
    need(
        clip >= 0.0 && clip.is_finite(),
        "grad_clip",
        format!("grad_clip must be >= 0 (0 turns clipping off), got {clip}"),
    );
    let ratio = c.min_lr_ratio;
    need(
        (0.0..=1.0).contains(&ratio),
        "min_lr_ratio",
        format!("min_lr_ratio must be in [0, 1], got {ratio}"),
    );
    let decay = c.weight_decay;
    need(
        decay >= 0.0 && decay.is_finite(),
        "weight_decay",
        format!("weight_decay must be >= 0, got {decay}"),
    );
    let kl = c.kl_coef;
    need(
        kl >= 0.0 && kl.is_finite(),
        "kl_coef",
        format!("kl_coef must be >= 0, got {kl}"),
    );
    let entropy = c.entropy_coef;
    need(
        entropy.is_finite(),
        "entropy_coef",
        format!("entropy_coef must be finite, got {entropy}"),
    );
    if c.sft.steps > 0 {
        need(
            c.sft.batch_size > 0,
            "sft.batch_size",
            "sft.batch_size must be at least 1".into(),
        );
        let lr = c.sft.learning_rate;
        need(
            lr > 0.0 && lr.is_finite(),
            "sft.learning_rate",
            format!("sft.learning_rate must be positive, got {lr}"),
        );
    }
    problems.extend(aggregation_problems(c));
    if c.model.checkpoint.is_none()
        && let Err(e) = c.model.model_config().validate()
    {
        problems.push(Invalid::new("model", e));
    }
    problems.extend(crate::sampler::device_built("device", c.device));
    if let Some(lora) = &c.lora {
        // a checkpoint's architecture is known once loaded: `build` checks the rank then
        let scratch = c.model.checkpoint.is_none().then(|| c.model.model_config());
        let known = scratch.filter(|m| m.validate().is_ok());
        problems.extend(lora.problems(known.as_ref()));
    }
    problems
}

/// GSPO with another aggregation than its own; `seq-mean-token-sum-norm` without a length.
fn aggregation_problems(c: &LearnerConfig) -> Vec<Invalid> {
    let mut problems = Vec::new();
    let own = c.objective.aggregation();
    if let Some(written) = c.loss_aggregation
        && c.objective.owns_aggregation()
        && written != own
    {
        problems.push(
            Invalid::new(
                "loss_aggregation",
                format!(
                    "objective `{}` is defined with its own aggregation, `{}` (each sequence \
                     weighted 1/G); `{}` would weight sequences by their length",
                    c.objective.name(),
                    own.name(),
                    written.name()
                ),
            )
            .help(format!(
                "remove `loss_aggregation` (or write \"{}\"); for token-level weighting use \
                 objective = \"ppo\" or \"cispo\"",
                own.name()
            )),
        );
    }
    if c.aggregation() == LossAggregation::SeqMeanTokenSumNorm && c.norm_length == 0 {
        problems.push(
            Invalid::new(
                "loss_aggregation",
                "loss_aggregation = \"seq-mean-token-sum-norm\" divides by a constant length \
                 (Dr. GRPO), but norm_length is 0",
            )
            .help(
                "set norm_length to the sampler's max_new_tokens (e.g. norm_length = 256), a \
                 length that does not change from batch to batch",
            ),
        );
    }
    problems
}
