//! # hicra-prm: process supervision
//!
//! Outcome rewards say whether a whole response was right; process supervision says which
//! *steps* were. This crate goes from a policy to step labels to a process reward model (PRM):
//!
//! - [`labels`]: the labelled-solution record (question, steps, soft and hard labels, outcome,
//!   the generator's own step verdicts when it has them) and its JSONL file.
//! - [`annotate`]: Monte-Carlo step labels after Math-Shepherd (Wang et al. 2024,
//!   arXiv:2312.08935): from each step prefix of a sampled solution, `K` completions drawn
//!   from a completer policy; the soft label is the share reaching the gold answer, the hard
//!   label whether any did. The `K` completions of a prefix share one prefill.
//! - [`model`]: the PRM, a causal LM with a scalar head on its final hidden state, read at
//!   each step's last token; [`train`]: binary cross-entropy on soft or hard labels (an outcome
//!   reward model is the same at the last token only); [`auc`]: ranking quality of scores.
//! - [`store`]: a PRM on disk, a Hugging Face directory that transformers loads as
//!   `AutoModelForTokenClassification`, plus `prm.json` (how its steps are cut).
//!
//! [`fit`] is the one entry point that makes a PRM (labels file + starting model -> saved
//! directory). Inside pipelines, [`label_stage`] (`label.montecarlo`) labels and
//! [`learner_stage`] (`learner.prm`) trains; `hicra annotate` and `hicra prm` are the commands
//! over the same functions, and `hicra eval --scorers prm:DIR` scores with the result.
//!
//! Steps are cut by one [`hicra_tasks::steps::Segmentation`], recorded with every file.

pub mod annotate;
pub mod auc;
pub mod fit;
pub mod label_stage;
pub mod labels;
pub mod learner_stage;
pub mod model;
pub mod ranking;
pub mod store;
pub mod train;

/// Registers the process-supervision stages.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<label_stage::MonteCarloLabelsConfig>()
        .register::<learner_stage::PrmLearnerConfig>();
}
