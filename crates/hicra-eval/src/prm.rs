//! The `prm:PATH` scorer: a trained process reward model ([`hicra_prm`]) scoring whole or
//! partial solutions. A candidate's text is cut into steps by the rule the PRM was trained
//! with (recorded in its `prm.json`), the PRM gives each step the probability that it is
//! good, and the candidate's score aggregates them ([`Aggregate`]: the minimum by default, the
//! weakest step, as Lightman et al. 2023 and Wang et al. 2024 rank solutions).
//!
//! The PRM is its own network, so it cannot reuse the policy's key/value cache; candidates
//! are scored in batches of `batch`, and the time per scored candidate is kept
//! ([`PrmScorer::seconds_per_candidate`]) for the search figures.

use std::cell::Cell;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use hicra_messages::Prompt;
use hicra_model::{Device, HostModel, RuntimeBackend};
use hicra_prm::model::ProcessRewardModel;
use hicra_prm::store::{PRM_FILE, PrmInfo, load};
use hicra_tasks::steps::Segmentation;
use hicra_train::TextCodec;

use crate::scorer::{Candidate, Scorer};
use crate::settings::ScorerName;

/// How step scores become one score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aggregate {
    /// The weakest step.
    #[default]
    Min,
    /// The last step's score.
    Last,
    /// The product of the step scores (the chance every step is good, if independent).
    Product,
    /// The mean step score.
    Mean,
}

impl Aggregate {
    /// One score from step scores; an empty solution scores 0.
    pub fn of(self, steps: &[f64]) -> f64 {
        if steps.is_empty() {
            return 0.0;
        }
        match self {
            Self::Min => steps.iter().copied().fold(f64::INFINITY, f64::min),
            Self::Last => steps[steps.len() - 1],
            Self::Product => steps.iter().product(),
            Self::Mean => steps.iter().sum::<f64>() / steps.len() as f64,
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Min => "min",
            Self::Last => "last",
            Self::Product => "product",
            Self::Mean => "mean",
        })
    }
}

impl FromStr for Aggregate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "min" => Self::Min,
            "last" => Self::Last,
            "product" => Self::Product,
            "mean" => Self::Mean,
            _ => {
                return Err(format!(
                    "unknown aggregation `{s}`: use min, last, product or mean"
                ));
            }
        })
    }
}

/// The PRM directory `path` names: itself when it holds `prm.json`, else the one directory
/// inside it that does (a run of a `learner.prm` pipeline holds its PRM in `out`, `prm/` by
/// default), so `prm:RUN` works as well as `prm:RUN/prm`.
pub fn prm_dir(path: &Path) -> Result<std::path::PathBuf, String> {
    if path.join(PRM_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    let inside: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(PRM_FILE).is_file())
        .collect();
    match inside.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "{} holds no process reward model ({PRM_FILE}): PRMs are written by `hicra prm \
             train` or a `learner.prm` stage",
            path.display()
        )),
        many => Err(format!(
            "{} holds {} process reward models: name one ({})",
            path.display(),
            many.len(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The text of each step of `text` whose tokens (with byte `spans` in it) the steps end at
/// `token_ends` (per step, the tokens up to and including its last one, increasing, as
/// [`Segmentation::token_step_ends`] gives them): a step runs to the end of its last token's
/// span, the last step to the end of the text. This is the cut Monte-Carlo labels are made
/// with (`hicra_prm::annotate::cut`), so the steps concatenate to `text`; a step whose tokens
/// decode to nothing on their own is empty.
pub fn step_texts(
    text: &str,
    spans: &[(usize, usize)],
    token_ends: &[usize],
) -> Result<Vec<String>, String> {
    let mut start = 0;
    token_ends
        .iter()
        .enumerate()
        .map(|(i, &end)| {
            let byte_end = if i + 1 == token_ends.len() {
                text.len()
            } else {
                let span = end
                    .checked_sub(1)
                    .and_then(|t| spans.get(t))
                    .ok_or_else(|| {
                        format!(
                            "step {} ends at token {end}, past the {} tokens",
                            i + 1,
                            spans.len()
                        )
                    })?;
                span.1.max(start)
            };
            let step = text.get(start..byte_end).ok_or_else(|| {
                format!(
                    "step {} spans bytes {start}..{byte_end}, not a range of characters of the \
                     {}-byte text",
                    i + 1,
                    text.len()
                )
            })?;
            start = byte_end;
            Ok(step.to_string())
        })
        .collect()
}

/// A loaded PRM as a scorer.
pub struct PrmScorer {
    model: ProcessRewardModel<RuntimeBackend>,
    /// The backbone's host copy when it takes the CPU path (made once, at load).
    host: Option<HostModel>,
    codec: TextCodec,
    pub info: PrmInfo,
    pub aggregate: Aggregate,
    /// Candidates per forward pass.
    batch: usize,
    /// Where it came from, for the summary.
    pub origin: String,
    scored: Cell<usize>,
    seconds: Cell<f64>,
}

impl PrmScorer {
    /// Loads the PRM in `dir` with RoPE tables for `max_seq_len` positions.
    pub fn load(
        dir: &Path,
        max_seq_len: usize,
        aggregate: Aggregate,
        batch: usize,
        device: &Device,
    ) -> Result<Self, String> {
        let dir = &prm_dir(dir)?;
        let (model, codec, info) = load(dir, Some(max_seq_len), device)?;
        Ok(Self {
            host: HostModel::for_model(&model.backbone),
            model,
            codec,
            info,
            aggregate,
            batch: batch.max(1),
            origin: dir.display().to_string(),
            scored: Cell::new(0),
            seconds: Cell::new(0.0),
        })
    }

    /// Errors unless the PRM reads `probe` into the same tokens as `policy`: a PRM trained on
    /// another tokenizer would be fed text it never saw cut that way.
    pub fn check_tokenizer(&self, policy: &TextCodec, probe: &Prompt) -> Result<(), String> {
        let theirs = policy.encode_prompt(probe)?;
        let ours = self.codec.encode_prompt(probe)?;
        if theirs != ours {
            return Err(format!(
                "the PRM {} reads prompts with another tokenizer than the policy (problem `{}`: \
                 {} tokens against the policy's {}): train the PRM from the policy or a model \
                 with its tokenizer",
                self.origin,
                probe.id,
                ours.len(),
                theirs.len()
            ));
        }
        Ok(())
    }

    /// The codec the PRM reads text with (the policy's, when the PRM was trained from it).
    pub fn codec(&self) -> &TextCodec {
        &self.codec
    }

    /// How the PRM cuts responses into steps (recorded in its `prm.json` at training).
    pub fn segmentation(&self) -> &Segmentation {
        &self.info.segmentation
    }

    /// The steps of `text` as the PRM was trained to see them.
    fn steps(&self, text: &str) -> Result<Vec<String>, String> {
        let rule = &self.info.segmentation;
        if let Segmentation::Tokens(_) = rule {
            let mut ids = self.codec.encode_response(text)?;
            ids.pop();
            let (decoded, spans) = self.codec.decode_with_spans(&ids)?;
            let ends = rule.token_step_ends(&decoded, &spans);
            return step_texts(&decoded, &spans, &ends);
        }
        Ok(rule.split(text).into_iter().map(String::from).collect())
    }

    /// Each step's probability of being good, for every `(prompt, text)`.
    pub fn step_scores(&self, items: &[(&Prompt, &str)]) -> Result<Vec<Vec<f64>>, String> {
        let cut: Vec<Vec<String>> = items
            .iter()
            .map(|(_, text)| self.steps(text))
            .collect::<Result<_, _>>()?;
        let items: Vec<(&Prompt, &[String])> = items
            .iter()
            .zip(&cut)
            .map(|((prompt, _), steps)| (*prompt, steps.as_slice()))
            .collect();
        self.score_cut(&items)
    }

    /// Each step's probability of being good, for every `(prompt, steps)` already cut (one
    /// score per step, an empty step included: it shares the score of the token it ends in,
    /// or of the prompt's last token when nothing precedes it); a response of no steps gets
    /// none.
    pub fn score_cut(&self, items: &[(&Prompt, &[String])]) -> Result<Vec<Vec<f64>>, String> {
        let started = Instant::now();
        let mut out = vec![Vec::new(); items.len()];
        let open: Vec<usize> = (0..items.len())
            .filter(|&i| !items[i].1.is_empty())
            .collect();
        for chunk in open.chunks(self.batch) {
            let batch: Vec<(&Prompt, &[String])> = chunk.iter().map(|&i| items[i]).collect();
            for (&i, scores) in chunk.iter().zip(self.model.score_steps_on(
                self.host.as_ref(),
                &self.codec,
                &batch,
            )?) {
                out[i] = scores;
            }
        }
        self.scored.set(self.scored.get() + items.len());
        self.seconds
            .set(self.seconds.get() + started.elapsed().as_secs_f64());
        Ok(out)
    }

    /// Mean seconds per candidate scored so far (0 before any).
    pub fn seconds_per_candidate(&self) -> f64 {
        let n = self.scored.get();
        if n == 0 {
            0.0
        } else {
            self.seconds.get() / n as f64
        }
    }

    /// Candidates scored so far.
    pub fn candidates_scored(&self) -> usize {
        self.scored.get()
    }
}

impl Scorer for PrmScorer {
    fn name(&self) -> ScorerName {
        ScorerName::Prm
    }

    fn score(&self, candidates: &[Candidate<'_>]) -> Result<Vec<f64>, String> {
        let items: Vec<(&Prompt, &str)> = candidates.iter().map(|c| (c.prompt, c.text)).collect();
        Ok(self
            .step_scores(&items)?
            .iter()
            .map(|steps| self.aggregate.of(steps))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_scores_aggregate_four_ways() {
        let steps = [0.9, 0.5, 0.8];
        assert_eq!(Aggregate::Min.of(&steps), 0.5);
        assert_eq!(Aggregate::Last.of(&steps), 0.8);
        assert!((Aggregate::Product.of(&steps) - 0.36).abs() < 1e-12);
        assert!((Aggregate::Mean.of(&steps) - 2.2 / 3.0).abs() < 1e-12);
        assert_eq!(Aggregate::Min.of(&[]), 0.0);
        for a in ["min", "last", "product", "mean"] {
            assert_eq!(a.parse::<Aggregate>().unwrap().to_string(), a);
        }
        assert!("max".parse::<Aggregate>().is_err());
    }
}
