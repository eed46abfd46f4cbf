//! `credit.grpo` and `credit.hicra`: the stages that turn a verified, tagged batch into
//! per-token advantages. The two kinds differ only in HICRA's defaults, so a pipeline swaps
//! one for the other by changing `kind` alone. Each batch is checked first: a rollout whose
//! log-probs, entropies or masks do not have one entry per token stops the stage with an
//! error naming it ([`crate::access::check_inputs`]).

use hicra_flow::map::{self, MapLoop, Reporting};
use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult, refuse,
};
use hicra_messages::{Metrics, RolloutBatch};
use serde::Deserialize;

use crate::assign::{CreditAssigner, ZeroVariance};
use crate::error::CreditError;
use crate::estimator::Estimator;
use crate::metrics::{FirstValues, token_metrics};
use crate::step_credit::StepCredit;
use crate::transform::Transform;

/// `credit.grpo`: a group estimator, then optional token transforms.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpoConfig {
    /// `grpo`, `drgrpo`, `rloo`, `reinforce_pp` or `maxrl`.
    pub estimator: Estimator,
    /// Added to the standard deviation when normalising.
    pub eps: f64,
    /// Step-level credit from sampling trees or process rewards, e.g. `{ kind = "tree" }`
    /// or `{ kind = "process", form = "return" }` (docs/formulas/step-credit.md); absent:
    /// the outcome advantage alone.
    pub step_credit: Option<StepCredit>,
    /// Token transforms applied in order, e.g. `[{ kind = "entropy_mask", top_rho = 0.2 }]`.
    pub transforms: Vec<Transform>,
    /// Groups whose rewards are all equal: `keep` or `drop`.
    pub zero_variance: ZeroVariance,
    /// Compute and report only: metrics are prefixed with the stage id and the batch is not
    /// forwarded for training.
    pub shadow: bool,
    /// Mask whose tokens count as planning tokens in the metrics.
    pub metrics_mask: String,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        Self {
            estimator: Estimator::Grpo,
            eps: 1e-6,
            step_credit: None,
            transforms: Vec::new(),
            zero_variance: ZeroVariance::Keep,
            shadow: false,
            metrics_mask: hicra_messages::PLANNING_MASK.to_string(),
        }
    }
}

/// `credit.hicra`: GRPO's estimator, then the paper's HICRA transform, then any others.
///
/// Defaults: `impl Default` below (`credit.grpo`'s, plus HICRA's own); the kind's EXAMPLE
/// shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HicraConfig {
    /// `grpo`, `drgrpo`, `rloo`, `reinforce_pp` or `maxrl`.
    pub estimator: Estimator,
    /// Added to the standard deviation when normalising.
    pub eps: f64,
    /// HICRA's amplification of planning-token advantages, in [0, 1).
    pub alpha: f64,
    /// The mask HICRA amplifies.
    pub mask: String,
    /// `paper` (the published formula) or `authors_code` (only correct, longer-than-average
    /// responses; mask OR the top `authors_entropy_share` of token entropies).
    pub variant: Variant,
    /// Share of each response's highest-entropy tokens OR'ed into the mask by
    /// `variant = "authors_code"` (unused by `paper`), in [0, 1].
    pub authors_entropy_share: f64,
    /// Step-level credit (see `credit.grpo`), before HICRA's transform.
    pub step_credit: Option<StepCredit>,
    /// Further token transforms applied after HICRA, in order.
    pub transforms: Vec<Transform>,
    /// Groups whose rewards are all equal: `keep` or `drop`.
    pub zero_variance: ZeroVariance,
    /// Compute and report only (see `credit.grpo`).
    pub shadow: bool,
    /// Mask whose tokens count as planning tokens in the metrics (kept apart from `mask`, so a
    /// placebo assigner still reports on the real planning tokens).
    pub metrics_mask: String,
}

impl Default for HicraConfig {
    /// `credit.grpo`'s defaults, so that swapping the two kinds changes only HICRA's part.
    fn default() -> Self {
        let GrpoConfig {
            estimator,
            eps,
            step_credit,
            transforms,
            zero_variance,
            shadow,
            metrics_mask,
        } = GrpoConfig::default();
        Self {
            estimator,
            eps,
            alpha: Transform::default_alpha(),
            mask: hicra_messages::PLANNING_MASK.to_string(),
            variant: Variant::Paper,
            authors_entropy_share: Transform::default_entropy_quantile(),
            step_credit,
            transforms,
            zero_variance,
            shadow,
            metrics_mask,
        }
    }
}

/// Which HICRA `credit.hicra` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The published formula on every response ([`Transform::Hicra`]).
    Paper,
    /// The variant reported in the authors' verl code ([`Transform::HicraAuthors`]).
    AuthorsCode,
}

fn credit_ports() -> Ports {
    map::ports_with_metrics::<RolloutBatch>(
        "verified, tagged rollouts",
        "the batch with per-token advantages (not sent by shadow stages)",
        "advantage and planning-token figures of each batch",
    )
}

/// What every credit stage refuses: a negative or non-finite `eps`, an invalid transform, a
/// step credit that cannot run with the estimator.
fn assigner_problems(
    eps: f64,
    transforms: &[Transform],
    estimator: Estimator,
    step_credit: Option<&StepCredit>,
) -> Vec<Invalid> {
    let mut problems = Vec::new();
    if let Some(Err(CreditError::Config(why) | CreditError::StepStructure { why, .. })) =
        step_credit.map(|s| s.validate(estimator))
    {
        problems.push(
            Invalid::new("step_credit", why)
                .help("docs/formulas/step-credit.md states what each kind takes"),
        );
    }
    if !(eps >= 0.0 && eps.is_finite()) {
        problems.push(Invalid::new(
            "eps",
            format!("eps must be a finite number >= 0, got {eps}"),
        ));
    }
    for (i, t) in transforms.iter().enumerate() {
        if let Err(e) = t.validate() {
            problems.push(Invalid::new("transforms", format!("transform {i}: {e}")));
        }
    }
    problems
}

impl StageConfig for GrpoConfig {
    const KIND: &'static str = "credit.grpo";
    const SUMMARY: &'static str = "GRPO-family advantages (grpo, drgrpo, rloo, reinforce_pp, maxrl) with optional token transforms";
    const EXAMPLE: &'static str = r#"[stages.credit]
kind = "credit.grpo"
inputs = { rollouts = "tagger.rollouts" }
estimator = "grpo"
eps = 1e-6
# step_credit = { kind = "tree", advantage = "local_global", scale_by_leaves = false }
# step_credit = { kind = "process", form = "return", normalise = "std", weight = 1.0, outcome = true }
transforms = []
zero_variance = "keep"
shadow = false
metrics_mask = "planning"
"#;

    fn ports(&self) -> Ports {
        credit_ports()
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        assigner_problems(
            self.eps,
            &self.transforms,
            self.estimator,
            self.step_credit.as_ref(),
        )
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let assigner = CreditAssigner {
            estimator: self.estimator,
            eps: self.eps,
            transforms: self.transforms,
            zero_variance: self.zero_variance,
            step_credit: self.step_credit,
        };
        CreditStage::boxed(assigner, self.shadow, self.metrics_mask, ctx)
    }
}

impl StageConfig for HicraConfig {
    const KIND: &'static str = "credit.hicra";
    const SUMMARY: &'static str =
        "HICRA: GRPO advantages amplified on planning tokens (A + alpha*|A|)";
    const EXAMPLE: &'static str = r#"[stages.credit]
kind = "credit.hicra"
inputs = { rollouts = "tagger.rollouts" }
estimator = "grpo"
eps = 1e-6
alpha = 0.2
mask = "planning"
variant = "paper"
authors_entropy_share = 0.3
# step_credit = { kind = "tree" }
transforms = []
zero_variance = "keep"
shadow = false
metrics_mask = "planning"
"#;

    fn ports(&self) -> Ports {
        credit_ports()
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = assigner_problems(
            self.eps,
            &self.transforms,
            self.estimator,
            self.step_credit.as_ref(),
        );
        if !(0.0..1.0).contains(&self.alpha) {
            problems.push(
                Invalid::new(
                    "alpha",
                    format!("alpha must be in [0, 1), got {}", self.alpha),
                )
                .help("the paper amplifies planning tokens with alpha = 0.2; 0 is plain GRPO"),
            );
        }
        if !(0.0..=1.0).contains(&self.authors_entropy_share) {
            problems.push(Invalid::new(
                "authors_entropy_share",
                format!(
                    "authors_entropy_share must be in [0, 1], got {}",
                    self.authors_entropy_share
                ),
            ));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let hicra = match self.variant {
            Variant::Paper => Transform::Hicra {
                alpha: self.alpha,
                mask: self.mask.clone(),
            },
            Variant::AuthorsCode => Transform::HicraAuthors {
                alpha: self.alpha,
                mask: self.mask.clone(),
                entropy_quantile: self.authors_entropy_share,
            },
        };
        let mut transforms = vec![hicra];
        transforms.extend(self.transforms);
        let assigner = CreditAssigner {
            estimator: self.estimator,
            eps: self.eps,
            transforms,
            zero_variance: self.zero_variance,
            step_credit: self.step_credit,
        };
        CreditStage::boxed(assigner, self.shadow, self.metrics_mask, ctx)
    }
}

/// The running credit stage (either kind).
pub struct CreditStage {
    assigner: CreditAssigner,
    shadow: bool,
    metrics_mask: String,
    first: FirstValues,
}

impl CreditStage {
    /// Checks the parameters and boxes the stage.
    fn boxed(
        assigner: CreditAssigner,
        shadow: bool,
        metrics_mask: String,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Stage>, BoxError> {
        refuse(assigner_problems(
            assigner.eps,
            &assigner.transforms,
            assigner.estimator,
            assigner.step_credit.as_ref(),
        ))?;
        Ok(Box::new(Self {
            assigner,
            shadow,
            metrics_mask,
            first: FirstValues::persisted(ctx.state_path(), ctx.run.resume.is_some()),
        }))
    }

    /// Assigns credit to the batch and returns the figures of this assignment.
    pub fn step(&mut self, batch: &mut RolloutBatch) -> Result<Metrics, CreditError> {
        crate::access::check_inputs(&batch.groups)?;
        let report = self.assigner.assign(batch)?;
        let mut m = token_metrics(batch, &self.metrics_mask);
        let ppl_ratio = m.get("perplexity/planning_over_execution").copied();
        if let Some(r) = ppl_ratio.and_then(|p| self.first.ratio("ppl", p)) {
            m.insert("perplexity/planning_over_execution_rel_first".into(), r);
        }
        if report.groups > 0 {
            m.insert(
                "groups/zero_variance_frac".into(),
                report.zero_variance_groups as f64 / report.groups as f64,
            );
        }
        m.insert(
            "groups/zero_variance".into(),
            report.zero_variance_groups as f64,
        );
        m.insert("groups/dropped".into(), report.dropped_groups as f64);
        let tree = report.tree;
        if tree.trees > 0 {
            m.insert(
                "tree/nodes_per_tree".into(),
                tree.nodes as f64 / tree.trees as f64,
            );
            m.insert(
                "tree/branch_nodes_per_tree".into(),
                tree.branch_nodes as f64 / tree.trees as f64,
            );
            if tree.branch_nodes > 0 {
                m.insert(
                    "tree/value_spread".into(),
                    tree.value_spread_sum / tree.branch_nodes as f64,
                );
            }
        }
        Ok(m)
    }
}

impl Stage for CreditStage {
    /// Reports every batch's figures (named `ID/...` by a shadow, which forwards nothing).
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let map = MapLoop::new()
            .reporting(Reporting::Each)
            .shadow(self.shadow);
        map.run(ctx, |batch: &mut RolloutBatch| Ok(self.step(batch)?))
    }
}
