//! Map-like stages: one message in, the same message out, a pure step in between.
//!
//! Most stages between the sampler and the learner have one shape: they take a batch, change it
//! (score it, tag its tokens, shape its rewards, assign credit), perhaps report some figures,
//! and pass it on. Their loops used to be written out one by one, each deciding again when to
//! send a metrics record and how to name what a shadow stage reports. [`MapLoop`] owns that
//! loop (vector's `FunctionTransform`: the stage gives a per-message function, the runtime
//! owns the channels), so a map-like stage's `run` is one call:
//!
//! ```ignore
//! impl Stage for Shaping {
//!     fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
//!         MapLoop::new().run(ctx, |batch: &mut RolloutBatch| {
//!             self.step(batch);
//!             Ok(Figures::new())
//!         })
//!     }
//! }
//! ```
//!
//! **The message.** The helper works on any [`Batch`]: a message that knows its training
//! step, whether it is an evaluation batch, carries named figures, and makes the record a
//! stage sends to the metrics sink. Its input and output port are both named [`Batch::PORT`],
//! and records go out on [`METRICS`]. (`hicra_messages::RolloutBatch` is the batch of every
//! stage today; this crate knows nothing of it.)
//!
//! **One message.** The helper receives a batch (moved, not copied, when this stage is its only
//! reader), calls the step, which changes the batch in place and returns the figures it
//! measured, then:
//!
//! 1. *names* them: a shadow stage ([`MapLoop::shadow`]) prefixes each with its stage id
//!    (`grpo_shadow/advantage/mean_abs`), so that its figures sit beside the live stage's;
//! 2. *reports* them on `metrics`, as [`Reporting`] says: never, only for evaluation batches
//!    (everything the batch carries, since an evaluation batch never reaches the learner, which
//!    forwards a training batch's figures), or for every batch (the step's own figures);
//! 3. *forwards* the batch with the figures added, unless the stage is a shadow (compute and
//!    report only).
//!
//! A record goes out before its batch. The step's error stops the stage (the runtime names the
//! stage); a closed input ends the loop; a cancelled run or vanished consumers stop it cleanly.
//! The step names training and evaluation figures itself (a verifier writes `accuracy/train`
//! or `accuracy/eval`): the helper renames only a shadow's. A step that reads another input
//! (the mined-gram tagger's newest weights) takes it from the context before calling
//! [`MapLoop::run`] and reads it inside the closure.
//!
//! **Not of this shape**: sources and sinks, and stages that keep state across messages to emit
//! something else (DAPO's dynamic sampling gathers several generation batches into one and asks
//! the sampler for more on a second output), which keep their own loops. The ports of a
//! map-like stage come from [`ports`] (and [`ports_with_metrics`]), so they cannot drift from
//! what the loop takes.

use std::collections::BTreeMap;

use crate::{BoxError, Message, Ports, StageContext, StageResult};

/// Named scalar figures (`reward/mean`, `advantage/mean_abs`): what a step measured.
pub type Figures = BTreeMap<String, f64>;

/// The output on which a reporting map-like stage sends its records.
pub const METRICS: &str = "metrics";

/// A message a map-like stage receives and forwards.
pub trait Batch: Message + Clone {
    /// The name of both the input and the output port that carry it (`"rollouts"`).
    const PORT: &'static str;
    /// What a stage sends on [`METRICS`] about one batch.
    type Record: Message;

    /// The training step the batch belongs to.
    fn step(&self) -> u64;

    /// Whether it is an evaluation batch (measured, never trained on).
    fn is_eval(&self) -> bool;

    /// The figures the batch carries, added by each stage it went through.
    fn figures(&self) -> &Figures;

    fn figures_mut(&mut self) -> &mut Figures;

    /// The record of `values` about this batch, sent by stage `source`.
    fn record(&self, source: &str, values: Figures) -> Self::Record;
}

/// Which batches a map-like stage reports on [`METRICS`] itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reporting {
    /// None: the stage has no `metrics` output, its figures travel on the batch (taggers,
    /// reward shaping).
    #[default]
    Never,
    /// Evaluation batches only, with every figure the batch carries after the step: they never
    /// reach the learner, which reports a training batch's figures (verifiers).
    Eval,
    /// Every batch, with the figures its step returned (credit stages, whose shadow copies
    /// forward nothing).
    Each,
}

/// The loop of a map-like stage; see the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct MapLoop {
    reporting: Reporting,
    shadow: bool,
}

impl MapLoop {
    /// Reports nothing, forwards every batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Which batches are reported on [`METRICS`] (the stage must declare that output unless
    /// this is [`Reporting::Never`]).
    pub fn reporting(mut self, reporting: Reporting) -> Self {
        self.reporting = reporting;
        self
    }

    /// A shadow stage computes and reports only: its figures are named `ID/name` and no
    /// batch is forwarded.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Runs `step` on every batch of the input until it closes; see the
    /// [module documentation](self) for what happens around each call.
    pub fn run<B: Batch>(
        self,
        ctx: &mut StageContext,
        mut step: impl FnMut(&mut B) -> Result<Figures, BoxError>,
    ) -> StageResult {
        let input = ctx.input::<B>(B::PORT);
        let output = ctx.output::<B>(B::PORT);
        let metrics =
            (self.reporting != Reporting::Never).then(|| ctx.output::<B::Record>(METRICS));
        let id = ctx.id().to_string();
        while let Some(mut batch) = input.recv_owned() {
            let figures = self.name(&id, step(&mut batch)?);
            if let Some(metrics) = &metrics
                && let Some(values) = self.report(&batch, &figures)
            {
                metrics.send(batch.record(&id, values))?;
            }
            if !self.shadow {
                batch.figures_mut().extend(figures);
                output.send(batch)?;
            }
        }
        Ok(())
    }

    /// The figures as this stage reports them: `ID/name` for a shadow.
    pub fn name(&self, id: &str, figures: Figures) -> Figures {
        if !self.shadow {
            return figures;
        }
        figures
            .into_iter()
            .map(|(name, value)| (format!("{id}/{name}"), value))
            .collect()
    }

    /// What goes on [`METRICS`] about `batch` once its step returned `figures` (already
    /// named), if anything.
    pub fn report<B: Batch>(&self, batch: &B, figures: &Figures) -> Option<Figures> {
        match self.reporting {
            Reporting::Never => None,
            Reporting::Eval if !batch.is_eval() => None,
            Reporting::Eval => {
                let mut all = batch.figures().clone();
                all.extend(figures.iter().map(|(k, v)| (k.clone(), *v)));
                Some(all)
            }
            Reporting::Each => Some(figures.clone()),
        }
    }
}

/// The ports of a map-like stage that reports nothing itself: [`Batch::PORT`] in and out.
pub fn ports<B: Batch>(input: &'static str, output: &'static str) -> Ports {
    Ports::new()
        .input::<B>(B::PORT, input)
        .output::<B>(B::PORT, output)
}

/// The ports of a reporting map-like stage: [`Batch::PORT`] in and out, and [`METRICS`].
pub fn ports_with_metrics<B: Batch>(
    input: &'static str,
    output: &'static str,
    metrics: &'static str,
) -> Ports {
    ports::<B>(input, output).output::<B::Record>(METRICS, metrics)
}

#[cfg(test)]
mod tests;
