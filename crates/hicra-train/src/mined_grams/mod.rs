//! `tagger.mined_grams`: planning tokens from strategic grams the run mines from its own
//! correct responses, with the policy's hidden states as the embedding (no downloads).
//!
//! Until the first mining it tags like `tagger.strategic_grams` with its base lexicon (the
//! paper's grams unless `lexicon`/`grams` say otherwise). Every `every_steps` steps it runs the
//! recipe of [`hicra_credit::mining`] over the correct responses of the last `window_steps`
//! steps, then tags with the base lexicon merged with the mined grams (`mode = "merge"`) or
//! with the mined grams alone (`mode = "replace"`). Each mining is one line of
//! `RUN/mined_grams.jsonl` (the ranked clusters, the grams kept) and a log line; every step's
//! metrics carry `mining/lexicon_size`, mining steps also `mining/documents`,
//! `mining/candidates`, `mining/clusters` and `mining/mined_grams`. A resumed run starts
//! from the lexicon of the last mining before its checkpoint.
//!
//! [`embed`] holds the policy embedder (also used by `hicra mine`), [`stage`] the running
//! stage.

pub mod embed;
pub mod stage;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use hicra_credit::mining::MiningSettings;
use hicra_credit::taggers::configured_lexicon;
use hicra_flow::map;
use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, refuse};
use hicra_messages::RolloutBatch;
use serde::Deserialize;

pub use embed::{MiningDoc, PolicyEmbedder};
pub use stage::MinedGrams;

use crate::policy::PolicyUpdate;

/// What the mined grams do to the base lexicon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LexiconMode {
    /// Tag with the base lexicon and the mined grams.
    Merge,
    /// Tag with the mined grams alone (the base lexicon until the first mining finds any).
    Replace,
}

/// How grams are embedded for clustering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Embedding {
    /// The policy's own final hidden states over the gram's tokens (needs the `weights`
    /// input).
    Policy,
    /// Hashed character trigrams and words of the gram's spelling.
    Lexical,
}

/// Parameters of `tagger.mined_grams`.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinedGramsConfig {
    /// Mine at steps N, 2N, ... (after adding that step's responses).
    pub every_steps: u64,
    /// Correct responses of this many most recent steps are mined (0 = `every_steps`).
    pub window_steps: u64,
    /// Most responses mined at once (the most recent ones).
    pub max_documents: usize,
    /// `merge` (base lexicon + mined grams) or `replace` (mined grams alone).
    pub mode: LexiconMode,
    /// `policy` (hidden states; connect `weights`) or `lexical` (spelling).
    pub embedding: Embedding,
    /// The base lexicon file (as `tagger.strategic_grams`); absent (and no `grams`) = the
    /// paper's strategic grams.
    pub lexicon: Option<PathBuf>,
    /// Base phrases inline instead of a file.
    pub grams: Option<Vec<String>>,
    /// Name of the mask to set.
    pub mask: String,
    /// The mining recipe: n-gram lengths, frequencies, clustering, share of clusters kept.
    pub recipe: MiningSettings,
    /// File of the run that logs each mining (JSON lines).
    pub file: String,
}

impl Default for MinedGramsConfig {
    fn default() -> Self {
        Self {
            every_steps: 20,
            window_steps: 0,
            max_documents: 512,
            mode: LexiconMode::Merge,
            embedding: Embedding::Policy,
            lexicon: None,
            grams: None,
            mask: hicra_messages::PLANNING_MASK.to_string(),
            recipe: MiningSettings::default(),
            file: "mined_grams.jsonl".into(),
        }
    }
}

impl StageConfig for MinedGramsConfig {
    const KIND: &'static str = "tagger.mined_grams";
    const SUMMARY: &'static str = "marks planning tokens with strategic grams mined every N steps from the run's correct responses (policy hidden states, clustered, ranked by cluster document frequency)";
    const EXAMPLE: &'static str = r#"[stages.tagger]
kind = "tagger.mined_grams"
inputs = { rollouts = "verifier.rollouts", weights = "learner.weights" }
every_steps = 20
window_steps = 0
max_documents = 512
mode = "merge"
embedding = "policy"
mask = "planning"
file = "mined_grams.jsonl"
recipe = { min_words = 3, max_words = 5, min_doc_freq = 2, max_candidates = 1000, occurrences_per_gram = 4, similarity = 0.8, keep_share = 0.2, skip_numbers = true, center = true }
# lexicon = "grams.json"  # the base lexicon; absent: the paper's strategic grams
# grams = ["let me double", "let me square"]  # or the base phrases inline (not both)
"#;

    fn ports(&self) -> Ports {
        let ports = map::ports::<RolloutBatch>(
            "verified rollouts to tag and mine",
            "the same rollouts with the planning mask",
        );
        match self.embedding {
            Embedding::Policy => ports.latest::<PolicyUpdate>(
                "weights",
                "the newest policy, whose hidden states embed the grams",
            ),
            Embedding::Lexical => ports,
        }
    }

    fn check(&self, ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems: Vec<Invalid> = configured_lexicon(&self.lexicon, &self.grams, ctx)
            .err()
            .into_iter()
            .collect();
        if self.every_steps == 0 {
            problems.push(Invalid::new(
                "every_steps",
                "every_steps must be at least 1",
            ));
        }
        if self.max_documents == 0 {
            problems.push(Invalid::new(
                "max_documents",
                "max_documents must be at least 1",
            ));
        }
        if self.file.is_empty() || self.file.contains('/') {
            problems.push(Invalid::new(
                "file",
                "`file` must be a file name inside the run",
            ));
        }
        for (field, message) in self.recipe.problems() {
            problems.push(Invalid::new(&format!("recipe.{field}"), message));
        }
        problems
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let base = configured_lexicon(&self.lexicon, &self.grams, ctx)
            .map_err(|p| refuse(vec![p]).unwrap_err())?;
        let log = ctx.run.out_dir.join(&self.file);
        Ok(Box::new(MinedGrams::new(self, base, log, ctx)?))
    }
}
