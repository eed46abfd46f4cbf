//! What a step-level search is asked to do: `beam:W`, `lookahead:W:K` or `mcts:BUDGET[:E]`,
//! with how steps are cut ([`Segmentation`]), how they are scored and what they may cost.

use std::fmt::Write as _;
use std::str::FromStr;

use hicra_tasks::steps::Segmentation;

use crate::settings::{ScorerName, ScorerSpec};

/// Children drawn per MCTS expansion when `mcts:BUDGET` does not say.
pub const DEFAULT_MCTS_EXPAND: usize = 4;

/// Which search, with the settings only it has.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchKind {
    /// Beam search (`beam:W`, `lookahead` 0) or beam search with lookahead
    /// (`lookahead:W:K`).
    Beam {
        /// Partial solutions kept after each step.
        width: usize,
        /// Steps rolled out greedily past each candidate before scoring it (0 = plain beam).
        lookahead: usize,
    },
    /// Monte-Carlo tree search over steps (`mcts:BUDGET[:E]`), its budget in
    /// [`SearchSpec::budget`].
    Mcts {
        /// The UCT exploration constant c (default 1).
        exploration: f64,
        /// Value each new child by the score of a greedy completion to the end (its tokens
        /// count against the budget) instead of the score of the child's partial solution.
        rollout: bool,
    },
}

/// Step-level search: which search, how steps are cut and scored, and what it may spend.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpec {
    /// Beam (with or without lookahead) or MCTS.
    pub kind: SearchKind,
    /// Candidates drawn per extended partial solution: per kept path at each beam step (the
    /// first step draws `width * expand` from the prompt; default the width), children per
    /// MCTS expansion (default [`DEFAULT_MCTS_EXPAND`]).
    pub expand: usize,
    /// How a step ends while it is drawn: a text delimiter (default a blank line) or
    /// `tokens:N`; `numbered` cannot be cut while generating and is refused.
    pub steps: Segmentation,
    /// Most tokens per step.
    pub step_tokens: usize,
    /// Most steps per solution (the depth of an MCTS tree).
    pub max_steps: usize,
    /// The scorer of partial solutions (`confidence`, `judge` or `prm:PATH`).
    pub scorer: ScorerSpec,
    /// Most tokens generated per problem, all draws together (required by MCTS; optional
    /// for beam and lookahead, which stop when it is spent).
    pub budget: Option<usize>,
}

impl SearchSpec {
    /// The name of the search in figures: `beam:4/judge`, `lookahead:4:2/confidence`,
    /// `beam:4@2000/prm` (a token budget), `mcts:2000/prm`, `mcts:2000:8+rollout,c=2/judge`
    /// (E, rollout and c shown when not the default).
    pub fn label(&self) -> String {
        let mut label = String::new();
        match &self.kind {
            SearchKind::Beam { width, lookahead } => {
                if *lookahead > 0 {
                    let _ = write!(label, "lookahead:{width}:{lookahead}");
                } else {
                    let _ = write!(label, "beam:{width}");
                }
                if let Some(budget) = self.budget {
                    let _ = write!(label, "@{budget}");
                }
            }
            SearchKind::Mcts {
                exploration,
                rollout,
            } => {
                let _ = write!(label, "mcts:{}", self.budget.unwrap_or(0));
                if self.expand != DEFAULT_MCTS_EXPAND {
                    let _ = write!(label, ":{}", self.expand);
                }
                if *rollout {
                    label.push_str("+rollout");
                }
                if *exploration != 1.0 {
                    let _ = write!(label, ",c={exploration}");
                }
            }
        }
        format!("{label}/{}", self.scorer.name())
    }

    /// Errors on a search that cannot run.
    pub fn validate(&self) -> Result<(), String> {
        if self.expand == 0 || self.step_tokens == 0 || self.max_steps == 0 {
            return Err("search expansion, step tokens and steps must be positive".into());
        }
        match &self.kind {
            SearchKind::Beam { width: 0, .. } => {
                return Err("the search width must be positive".into());
            }
            SearchKind::Mcts { exploration, .. } => {
                if self.budget.is_none() {
                    return Err("MCTS needs a token budget: mcts:BUDGET".into());
                }
                if !(exploration.is_finite() && *exploration >= 0.0) {
                    return Err(format!(
                        "the MCTS exploration constant must be >= 0, got {exploration}"
                    ));
                }
            }
            SearchKind::Beam { .. } => {}
        }
        if self.budget == Some(0) {
            return Err("the search's token budget must be positive".into());
        }
        self.steps.validate()?;
        if self.steps == Segmentation::Numbered {
            return Err(
                "steps `numbered` cannot be cut while generating (a numbered step is only seen \
                 to end when the next begins): search with blank-line, newline, text:DELIM or \
                 tokens:N"
                    .into(),
            );
        }
        if self.scorer.name() == ScorerName::Verifier {
            return Err(
                "the verifier cannot score partial solutions: search with `confidence`, `judge` \
                 or `prm:PATH`"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Parses `beam:W`, `lookahead:W:K`, `mcts:BUDGET` or `mcts:BUDGET:E` (the other fields get
/// their defaults: expand = W or [`DEFAULT_MCTS_EXPAND`], blank-line steps, 256 tokens per
/// step, 12 steps, the judge as scorer, c = 1 and no rollout; no budget for beam and
/// lookahead).
impl FromStr for SearchSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let number = |p: &str| {
            p.parse::<usize>()
                .map_err(|_| format!("--search {s}: `{p}` is not a positive whole number"))
        };
        let mcts =
            |budget: &str, expand: usize| -> Result<(SearchKind, usize, Option<usize>), String> {
                let kind = SearchKind::Mcts {
                    exploration: 1.0,
                    rollout: false,
                };
                Ok((kind, expand, Some(number(budget)?)))
            };
        let (kind, expand, budget) = match parts.as_slice() {
            ["beam", w] => {
                let width = number(w)?;
                (
                    SearchKind::Beam {
                        width,
                        lookahead: 0,
                    },
                    width,
                    None,
                )
            }
            ["lookahead", w, k] => {
                let (width, lookahead) = (number(w)?, number(k)?);
                if lookahead == 0 {
                    return Err(format!(
                        "--search {s}: lookahead needs K >= 1 steps (or use beam:W)"
                    ));
                }
                (SearchKind::Beam { width, lookahead }, width, None)
            }
            ["mcts", b] => mcts(b, DEFAULT_MCTS_EXPAND)?,
            ["mcts", b, e] => mcts(b, number(e)?)?,
            _ => {
                return Err(format!(
                    "--search {s}: expected `beam:W`, `lookahead:W:K` or `mcts:BUDGET[:E]` \
                     (e.g. beam:4, lookahead:4:2, mcts:2000)"
                ));
            }
        };
        Ok(Self {
            kind,
            expand,
            steps: Segmentation::Delimiter("\n\n".into()),
            step_tokens: 256,
            max_steps: 12,
            scorer: ScorerSpec::Judge,
            budget,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_specs_parse_and_name_themselves() {
        let beam: SearchSpec = "beam:4".parse().unwrap();
        assert_eq!(
            beam.kind,
            SearchKind::Beam {
                width: 4,
                lookahead: 0
            }
        );
        assert_eq!((beam.expand, beam.budget), (4, None));
        assert_eq!(beam.steps.to_string(), "blank-line");
        assert_eq!(beam.label(), "beam:4/judge");
        let look: SearchSpec = "lookahead:3:2".parse().unwrap();
        assert_eq!(look.label(), "lookahead:3:2/judge");
        let mut budgeted = look.clone();
        budgeted.budget = Some(900);
        assert_eq!(budgeted.label(), "lookahead:3:2@900/judge");
        let mcts: SearchSpec = "mcts:2000".parse().unwrap();
        assert_eq!(
            (mcts.expand, mcts.budget),
            (DEFAULT_MCTS_EXPAND, Some(2000))
        );
        assert_eq!(mcts.label(), "mcts:2000/judge");
        let mut wide: SearchSpec = "mcts:500:8".parse().unwrap();
        assert_eq!(wide.expand, 8);
        wide.kind = SearchKind::Mcts {
            exploration: 2.0,
            rollout: true,
        };
        wide.scorer = ScorerSpec::Prm("runs/prm".into());
        assert_eq!(wide.label(), "mcts:500:8+rollout,c=2/prm");
        for bad in [
            "beam",
            "beam:x",
            "lookahead:2",
            "lookahead:2:0",
            "mcts",
            "mcts:0",
            "mcts:10:0",
            "mcts:x",
            "beam:0",
        ] {
            let parsed = bad.parse::<SearchSpec>().and_then(|s| s.validate());
            assert!(parsed.is_err(), "{bad} should be refused");
        }
        let mut verifier = beam.clone();
        verifier.scorer = ScorerSpec::Verifier;
        assert!(verifier.validate().unwrap_err().contains("partial"));
    }

    #[test]
    fn steps_cut_while_generating_or_are_refused() {
        let mut spec: SearchSpec = "beam:2".parse().unwrap();
        for ok in ["newline", "blank-line", "text:;", "tokens:16"] {
            spec.steps = ok.parse().unwrap();
            assert!(spec.validate().is_ok(), "{ok}");
        }
        spec.steps = Segmentation::Numbered;
        assert!(spec.validate().unwrap_err().contains("numbered"));
        spec.steps = Segmentation::Tokens(0);
        assert!(spec.validate().is_err());
    }
}
