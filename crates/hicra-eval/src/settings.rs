//! What an evaluation is asked to do: how many responses per problem and how they are drawn,
//! which scorers rank them, and whether a step-level search replaces plain sampling.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hicra_model::{DeviceSpec, Precision};

pub use crate::search::spec::{SearchKind, SearchSpec};

/// The settings of one evaluation.
#[derive(Clone, Debug)]
pub struct EvalSettings {
    /// Responses per problem (K).
    pub samples: usize,
    /// Softmax temperature of the draws (0 = greedy).
    pub temperature: f32,
    /// Nucleus mass of the draws (1 = off).
    pub top_p: f32,
    /// Keep the k likeliest tokens (0 = off).
    pub top_k: usize,
    /// Most tokens per response.
    pub max_new_tokens: usize,
    /// Seed of the draws, the sampler's stage seed: each response draws from its own stream
    /// (seed, policy version, problem id, sample index), so one seed gives the same samples
    /// at any batch size.
    pub seed: u64,
    /// Responses decoded together (problems per chunk = batch / samples, at least 1).
    pub batch: usize,
    /// Where the policy runs.
    pub device: DeviceSpec,
    /// Floating-point type of the policy's forward passes.
    pub dtype: Precision,
    /// Scorers ranking each problem's responses for best-of-K (`confidence`, `verifier`,
    /// `judge`, `prm:PATH`).
    pub scorers: Vec<ScorerSpec>,
    /// A step-level search instead of K independent samples.
    pub search: Option<SearchSpec>,
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            samples: 1,
            temperature: 0.6,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 512,
            seed: 0,
            batch: 64,
            device: DeviceSpec::default(),
            dtype: Precision::default(),
            scorers: Vec::new(),
            search: None,
        }
    }
}

impl EvalSettings {
    /// Errors on settings no evaluation can run with.
    pub fn validate(&self) -> Result<(), String> {
        if self.samples == 0 || self.max_new_tokens == 0 || self.batch == 0 {
            return Err("--samples, --max-new-tokens and --batch must be positive".into());
        }
        if !(self.temperature >= 0.0 && self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!(
                "need temperature >= 0 and 0 < top_p <= 1, got {} and {}",
                self.temperature, self.top_p
            ));
        }
        if let Some(search) = &self.search {
            search.validate()?;
        }
        self.prm_path().map(|_| ())
    }

    /// The scorers asked for: the best-of-K ones, then the search's.
    fn all_scorers(&self) -> impl Iterator<Item = &ScorerSpec> {
        self.scorers
            .iter()
            .chain(self.search.iter().map(|s| &s.scorer))
    }

    /// Whether a scorer of this kind is asked for (best-of-K or the search's).
    pub fn wants(&self, name: ScorerName) -> bool {
        self.all_scorers().any(|s| s.name() == name)
    }

    /// The process reward model the scorers name, if any; an error when they name two
    /// (one evaluation loads one PRM).
    pub fn prm_path(&self) -> Result<Option<&Path>, String> {
        let mut found: Option<&Path> = None;
        for path in self.all_scorers().filter_map(ScorerSpec::prm_path) {
            match found {
                Some(first) if first != path => {
                    return Err(format!(
                        "two process reward models named (`prm:{}` and `prm:{}`): an \
                         evaluation loads one",
                        first.display(),
                        path.display()
                    ));
                }
                _ => found = Some(path),
            }
        }
        Ok(found)
    }
}

/// A kind of scorer, as it names its figures (`best_of_K/<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScorerName {
    /// The policy's mean token log-prob of the response (at the sampling temperature).
    Confidence,
    /// The verifier's verdict: an oracle upper bound, not a deployable method.
    Verifier,
    /// A generative judge: the probability of "yes" after a judging prompt.
    Judge,
    /// A process reward model: a score in [0, 1] for a partial or finished solution.
    Prm,
}

impl ScorerName {
    /// Every kind, in the order help texts list them.
    pub const ALL: [ScorerName; 4] = [Self::Confidence, Self::Verifier, Self::Judge, Self::Prm];

    /// The name in figures and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidence => "confidence",
            Self::Verifier => "verifier",
            Self::Judge => "judge",
            Self::Prm => "prm",
        }
    }
}

impl fmt::Display for ScorerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScorerName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown scorer `{s}`: use confidence, verifier, judge or prm"))
    }
}

/// A scorer as asked for: its kind, and for a process reward model where it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ScorerSpec {
    /// The policy's mean token log-prob.
    Confidence,
    /// The gold-answer check (oracle).
    Verifier,
    /// The generative judge (`--judge`).
    Judge,
    /// The process reward model stored at this path (`prm:PATH`).
    Prm(PathBuf),
}

impl ScorerSpec {
    /// The kind of scorer, which names its figures.
    pub fn name(&self) -> ScorerName {
        match self {
            Self::Confidence => ScorerName::Confidence,
            Self::Verifier => ScorerName::Verifier,
            Self::Judge => ScorerName::Judge,
            Self::Prm(_) => ScorerName::Prm,
        }
    }

    /// Where the process reward model is, for `prm:PATH`.
    pub fn prm_path(&self) -> Option<&Path> {
        match self {
            Self::Prm(path) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for ScorerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prm(path) => write!(f, "prm:{}", path.display()),
            other => f.write_str(other.name().as_str()),
        }
    }
}

/// Parses `confidence`, `verifier`, `judge` or `prm:PATH`.
impl FromStr for ScorerSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("prm:") {
            if path.is_empty() {
                return Err("scorer `prm:` needs the PRM's path: prm:PATH".into());
            }
            return Ok(Self::Prm(PathBuf::from(path)));
        }
        match s.parse::<ScorerName>() {
            Ok(ScorerName::Confidence) => Ok(Self::Confidence),
            Ok(ScorerName::Verifier) => Ok(Self::Verifier),
            Ok(ScorerName::Judge) => Ok(Self::Judge),
            Ok(ScorerName::Prm) => Err("scorer `prm` needs the PRM's path: prm:PATH".into()),
            Err(_) => Err(format!(
                "unknown scorer `{s}`: use confidence, verifier, judge or prm:PATH"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scorer_names_round_trip() {
        for name in ScorerName::ALL {
            assert_eq!(name.as_str().parse::<ScorerName>().unwrap(), name);
        }
        assert!(
            "best"
                .parse::<ScorerName>()
                .unwrap_err()
                .contains("confidence")
        );
    }

    #[test]
    fn scorer_specs_carry_the_prms_path() {
        for s in ["confidence", "verifier", "judge", "prm:runs/prm-1"] {
            assert_eq!(s.parse::<ScorerSpec>().unwrap().to_string(), s);
        }
        let prm: ScorerSpec = "prm:a/b".parse().unwrap();
        assert_eq!(prm.name(), ScorerName::Prm);
        assert_eq!(prm.prm_path(), Some(Path::new("a/b")));
        for bad in ["prm", "prm:", "best"] {
            assert!(bad.parse::<ScorerSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn one_evaluation_loads_one_prm() {
        let prm = |p: &str| ScorerSpec::Prm(p.into());
        let mut settings = EvalSettings {
            scorers: vec![ScorerSpec::Confidence, prm("a")],
            ..EvalSettings::default()
        };
        assert_eq!(settings.prm_path().unwrap(), Some(Path::new("a")));
        assert!(settings.wants(ScorerName::Prm) && !settings.wants(ScorerName::Judge));
        let mut search: SearchSpec = "beam:2".parse().unwrap();
        search.scorer = prm("a");
        settings.search = Some(search.clone());
        assert!(settings.validate().is_ok(), "the same PRM twice is one PRM");
        search.scorer = prm("b");
        settings.search = Some(search);
        assert!(
            settings
                .validate()
                .unwrap_err()
                .contains("two process reward models")
        );
    }
}
