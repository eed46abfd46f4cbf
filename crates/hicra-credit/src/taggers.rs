//! Tagger stages: each sets one named token mask on every rollout of a batch.
//!
//! * `tagger.strategic_grams`: tokens inside strategic-gram matches (the planning tokens);
//!   also reports the batch's semantic entropy.
//! * `tagger.entropy`: the top share of each response's tokens by entropy.
//! * `tagger.placebo`: random spans with the same token count and span lengths as a reference
//!   mask, the paper's control for "is it the planning tokens, or any tokens?".

use std::collections::BTreeMap;
use std::path::PathBuf;

use hicra_flow::files;
use hicra_flow::map::{self, Figures, MapLoop};
use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult,
    derive_seed, refuse,
};
use hicra_messages::RolloutBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::access;
use crate::error::CreditError;
use crate::lexicon::{Lexicon, tokens_in_matches};
use crate::metrics::{FirstValues, semantic_entropy};
use crate::transform::top_share;

/// What a tagger does to one batch; [`TaggerStage`] runs it in the graph.
pub trait Tagger: Send + 'static {
    fn tag(&mut self, batch: &mut RolloutBatch) -> Result<(), CreditError>;
}

pub struct TaggerStage<T>(pub T);

impl<T: Tagger> Stage for TaggerStage<T> {
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        MapLoop::new().run(ctx, |batch: &mut RolloutBatch| {
            self.0.tag(batch)?;
            Ok(Figures::new())
        })
    }
}

fn tagger_ports() -> Ports {
    map::ports::<RolloutBatch>("rollouts to tag", "the same rollouts with one more mask")
}

/// Parameters of `tagger.strategic_grams`.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrategicGramsConfig {
    /// A lexicon file (JSON `{"grams": [...]}`, a JSON array, or one phrase per line), relative
    /// to the pipeline file; absent (and no `grams`) = the paper's 249 strategic grams.
    pub lexicon: Option<PathBuf>,
    /// Phrases given inline instead of a lexicon file; absent = use `lexicon` (or the paper's).
    pub grams: Option<Vec<String>>,
    /// Name of the mask to set.
    pub mask: String,
}

impl Default for StrategicGramsConfig {
    fn default() -> Self {
        Self {
            lexicon: None,
            grams: None,
            mask: hicra_messages::PLANNING_MASK.to_string(),
        }
    }
}

impl StageConfig for StrategicGramsConfig {
    const KIND: &'static str = "tagger.strategic_grams";
    const SUMMARY: &'static str =
        "marks planning tokens: tokens inside strategic-gram matches (paper's lexicon by default)";
    const EXAMPLE: &'static str = r#"[stages.tagger]
kind = "tagger.strategic_grams"
inputs = { rollouts = "verifier.rollouts" }
mask = "planning"
# lexicon = "grams.json"  # a lexicon file; absent: the paper's strategic grams
# grams = ["let me double", "let me square"]  # or the grams inline (not both)
"#;

    fn ports(&self) -> Ports {
        tagger_ports()
    }

    fn check(&self, ctx: &BuildContext) -> Vec<Invalid> {
        configured_lexicon(&self.lexicon, &self.grams, ctx)
            .err()
            .into_iter()
            .collect()
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        let lexicon = configured_lexicon(&self.lexicon, &self.grams, ctx)
            .map_err(|problem| refuse(vec![problem]).unwrap_err())?;
        Ok(Box::new(TaggerStage(StrategicGrams::persisted(
            lexicon, &self.mask, ctx,
        ))))
    }
}

/// How to get a missing lexicon file (the help line of every such error).
pub const MINE_LEXICON: &str = "a lexicon is mined from a run's correct responses: \
    `hicra mine --input RUN/rollouts --out FILE` writes one";

/// The lexicon a tagger's `lexicon` (a file) or `grams` (inline) names, the paper's when
/// neither is given; the problem with them otherwise.
pub fn configured_lexicon(
    lexicon: &Option<PathBuf>,
    grams: &Option<Vec<String>>,
    ctx: &BuildContext,
) -> Result<Lexicon, Invalid> {
    match (lexicon, grams) {
        (Some(_), Some(_)) => Err(Invalid::new(
            "grams",
            "give either `lexicon` (a file) or `grams` (inline), not both",
        )
        .help("remove one of the two keys")),
        (Some(path), None) => {
            let path = ctx.resolve_path(path);
            files::check_file(&path).map_err(|p| p.if_missing(MINE_LEXICON).invalid("lexicon"))?;
            Lexicon::from_file(&path).map_err(|e| Invalid::new("lexicon", e.to_string()))
        }
        (None, Some(grams)) => {
            Lexicon::new(grams.clone()).map_err(|e| Invalid::new("grams", e.to_string()))
        }
        (None, None) => Ok(Lexicon::paper()),
    }
}

pub struct StrategicGrams {
    pub lexicon: Lexicon,
    pub mask: String,
    first: FirstValues,
}

impl StrategicGrams {
    pub fn new(lexicon: Lexicon, mask: &str) -> Self {
        Self {
            lexicon,
            mask: mask.to_string(),
            first: FirstValues::default(),
        }
    }

    /// A tagger whose step-0 semantic entropy survives a resume (kept in the stage's state).
    pub fn persisted(lexicon: Lexicon, mask: &str, ctx: &BuildContext) -> Self {
        Self {
            lexicon,
            mask: mask.to_string(),
            first: FirstValues::persisted(ctx.state_path(), ctx.run.resume.is_some()),
        }
    }
}

impl Tagger for StrategicGrams {
    fn tag(&mut self, batch: &mut RolloutBatch) -> Result<(), CreditError> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for group in &mut batch.groups {
            for index in 0..group.rollouts.len() {
                let r = &group.rollouts[index];
                access::same_length(group, index, "token spans", r.token_spans.len())?;
                let matches = self.lexicon.find(&r.text);
                for m in &matches {
                    *counts.entry(m.gram.clone()).or_default() += 1;
                }
                let mask = tokens_in_matches(&r.token_spans, &matches);
                group.rollouts[index].masks.insert(self.mask.clone(), mask);
            }
        }
        let responses = batch.num_rollouts();
        let h = semantic_entropy(&counts);
        batch.metrics.insert("semantic_entropy".into(), h);
        if let Some(ratio) = self.first.ratio("semantic_entropy", h) {
            batch
                .metrics
                .insert("semantic_entropy/ratio_to_first".into(), ratio);
        }
        if responses > 0 {
            let total: usize = counts.values().sum();
            batch.metrics.insert(
                "strategic_grams/per_response".into(),
                total as f64 / responses as f64,
            );
        }
        Ok(())
    }
}

/// Parameters of `tagger.entropy`.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntropyTaggerConfig {
    /// Share of each response's tokens marked, highest entropy first, in [0, 1].
    pub share: f64,
    /// Name of the mask to set.
    pub mask: String,
}

impl Default for EntropyTaggerConfig {
    fn default() -> Self {
        Self {
            share: 0.3,
            mask: "high_entropy".into(),
        }
    }
}

impl StageConfig for EntropyTaggerConfig {
    const KIND: &'static str = "tagger.entropy";
    const SUMMARY: &'static str = "marks the top share of each response's tokens by entropy (the paper's high-entropy control)";
    const EXAMPLE: &'static str = r#"[stages.entropy_tagger]
kind = "tagger.entropy"
inputs = { rollouts = "tagger.rollouts" }
share = 0.3
mask = "high_entropy"
"#;

    fn ports(&self) -> Ports {
        tagger_ports()
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        if (0.0..=1.0).contains(&self.share) {
            Vec::new()
        } else {
            vec![Invalid::new(
                "share",
                format!("share must be in [0, 1], got {}", self.share),
            )]
        }
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        Ok(Box::new(TaggerStage(self)))
    }
}

impl Tagger for EntropyTaggerConfig {
    fn tag(&mut self, batch: &mut RolloutBatch) -> Result<(), CreditError> {
        for group in &mut batch.groups {
            for index in 0..group.rollouts.len() {
                let mask = top_share(access::entropies(group, index)?, self.share);
                group.rollouts[index].masks.insert(self.mask.clone(), mask);
            }
        }
        Ok(())
    }
}

/// Parameters of `tagger.placebo`.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaceboConfig {
    /// The mask whose token count and span lengths are imitated.
    pub reference: String,
    /// Name of the mask to set.
    pub mask: String,
}

impl Default for PlaceboConfig {
    fn default() -> Self {
        Self {
            reference: hicra_messages::PLANNING_MASK.to_string(),
            mask: "placebo".into(),
        }
    }
}

impl StageConfig for PlaceboConfig {
    const KIND: &'static str = "tagger.placebo";
    const SUMMARY: &'static str = "marks random spans with the same token share and span lengths as a reference mask (seeded)";
    const EXAMPLE: &'static str = r#"[stages.placebo]
kind = "tagger.placebo"
inputs = { rollouts = "tagger.rollouts" }
reference = "planning"
mask = "placebo"
"#;

    fn ports(&self) -> Ports {
        tagger_ports()
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        Ok(Box::new(TaggerStage(Placebo {
            config: self,
            seed: ctx.stage_seed(),
        })))
    }
}

pub struct Placebo {
    pub config: PlaceboConfig,
    pub seed: u64,
}

impl Tagger for Placebo {
    fn tag(&mut self, batch: &mut RolloutBatch) -> Result<(), CreditError> {
        // One stream per (step, rollout): a resumed run draws the same spans.
        let step_seed = derive_seed(self.seed, &format!("step-{}", batch.step));
        let mut flat_index = 0usize;
        for group in &mut batch.groups {
            for index in 0..group.rollouts.len() {
                let reference = access::mask(group, index, &self.config.reference)?;
                let seed = derive_seed(step_seed, &flat_index.to_string());
                let mask = placebo_mask(reference, &mut ChaCha8Rng::seed_from_u64(seed));
                group.rollouts[index]
                    .masks
                    .insert(self.config.mask.clone(), mask);
                flat_index += 1;
            }
        }
        Ok(())
    }
}

/// Random spans with the run lengths of `reference`, placed without overlap.
pub fn placebo_mask(reference: &[bool], rng: &mut impl Rng) -> Vec<bool> {
    let n = reference.len();
    let mut runs = Vec::new();
    let mut t = 0;
    while t < n {
        if reference[t] {
            let start = t;
            while t < n && reference[t] {
                t += 1;
            }
            runs.push(t - start);
        } else {
            t += 1;
        }
    }
    let mut mask = vec![false; n];
    for len in runs {
        let starts: Vec<usize> = (0..=n - len)
            .filter(|&s| mask[s..s + len].iter().all(|m| !m))
            .collect();
        if starts.is_empty() {
            // Fragmented: place the run's tokens one by one on free positions.
            let mut free: Vec<usize> = (0..n).filter(|&i| !mask[i]).collect();
            for _ in 0..len.min(free.len()) {
                let pick = free.swap_remove(rng.random_range(0..free.len()));
                mask[pick] = true;
            }
        } else {
            let s = starts[rng.random_range(0..starts.len())];
            mask[s..s + len].iter_mut().for_each(|m| *m = true);
        }
    }
    mask
}
