//! The paper's per-batch figures (docs/formulas/metrics.md), as pure functions over a batch.
//!
//! Names: `planning_ratio`, `entropy/{all,planning,execution}`, `perplexity/{...}`
//! (`exp(mean NLL)` of the sampled tokens), `perplexity/planning_over_execution`,
//! `advantage_mass/{planning,execution}` (share of `sum |A|`), `advantage/mean_abs`. The
//! credit stages add `groups/zero_variance_frac`, `groups/zero_variance`, `groups/dropped` and
//! `perplexity/planning_over_execution_rel_first`; the strategic-gram tagger adds
//! `semantic_entropy`, `semantic_entropy/ratio_to_first` and `strategic_grams/per_response`.
//! A figure with nothing to average over (no planning tokens, no log-probs) is left out rather
//! than reported as 0 or NaN.

use std::collections::BTreeMap;

use hicra_messages::{Metrics, RolloutBatch};

/// Running sums over one token subset.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    tokens: usize,
    entropy: f64,
    entropy_tokens: usize,
    nll: f64,
    nll_tokens: usize,
    abs_advantage: f64,
}

impl Sums {
    fn mean_entropy(&self) -> Option<f64> {
        (self.entropy_tokens > 0).then(|| self.entropy / self.entropy_tokens as f64)
    }

    fn perplexity(&self) -> Option<f64> {
        (self.nll_tokens > 0).then(|| (self.nll / self.nll_tokens as f64).exp())
    }
}

/// Token-level figures split by the mask `planning_mask` (execution = the rest).
pub fn token_metrics(batch: &RolloutBatch, planning_mask: &str) -> Metrics {
    let (mut planning, mut execution) = (Sums::default(), Sums::default());
    for r in batch.rollouts() {
        let mask = r.mask(planning_mask);
        let entropies_ok = r.entropies.len() == r.len();
        let logprobs_ok = r.logprobs.len() == r.len();
        for t in 0..r.len() {
            let s = if mask.get(t).copied().unwrap_or(false) {
                &mut planning
            } else {
                &mut execution
            };
            s.tokens += 1;
            // a non-finite value is left out rather than turning the batch figure into NaN
            if entropies_ok && r.entropies[t].is_finite() {
                s.entropy += f64::from(r.entropies[t]);
                s.entropy_tokens += 1;
            }
            if logprobs_ok && r.logprobs[t].is_finite() {
                s.nll -= f64::from(r.logprobs[t]);
                s.nll_tokens += 1;
            }
            if let Some(a) = r.advantages.get(t) {
                s.abs_advantage += f64::from(a.abs());
            }
        }
    }
    let all = Sums {
        tokens: planning.tokens + execution.tokens,
        entropy: planning.entropy + execution.entropy,
        entropy_tokens: planning.entropy_tokens + execution.entropy_tokens,
        nll: planning.nll + execution.nll,
        nll_tokens: planning.nll_tokens + execution.nll_tokens,
        abs_advantage: planning.abs_advantage + execution.abs_advantage,
    };
    let mut m = Metrics::new();
    if all.tokens > 0 {
        m.insert(
            "planning_ratio".into(),
            planning.tokens as f64 / all.tokens as f64,
        );
    }
    for (name, s) in [
        ("all", all),
        ("planning", planning),
        ("execution", execution),
    ] {
        if let Some(e) = s.mean_entropy() {
            m.insert(format!("entropy/{name}"), e);
        }
        if let Some(p) = s.perplexity() {
            m.insert(format!("perplexity/{name}"), p);
        }
    }
    if let (Some(p), Some(e)) = (planning.perplexity(), execution.perplexity()) {
        m.insert("perplexity/planning_over_execution".into(), p / e);
    }
    if all.abs_advantage > 0.0 {
        m.insert(
            "advantage_mass/planning".into(),
            planning.abs_advantage / all.abs_advantage,
        );
        m.insert(
            "advantage_mass/execution".into(),
            execution.abs_advantage / all.abs_advantage,
        );
    }
    if all.tokens > 0 {
        m.insert(
            "advantage/mean_abs".into(),
            all.abs_advantage / all.tokens as f64,
        );
    }
    m
}

/// Shannon entropy (nats) of the frequency distribution of gram occurrences:
/// `H = -sum_g p(g) ln p(g)`, `p(g) = count(g) / total`. Zero when nothing matched.
pub fn semantic_entropy(counts: &BTreeMap<String, usize>) -> f64 {
    let total: usize = counts.values().sum();
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .filter(|c| **c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum()
}

/// Remembers the first value seen of each metric, for "ratio to the first step" figures.
/// With a state file (`BuildContext::state_path`), the values survive a resume: the file is
/// rewritten whenever a new metric is first seen and read back when the run resumes, so a
/// resumed run divides by the same first values as the uninterrupted one.
#[derive(Debug, Default, Clone)]
pub struct FirstValues {
    first: BTreeMap<String, f64>,
    state_file: Option<std::path::PathBuf>,
}

impl FirstValues {
    /// Kept in `path`; read back from it when `resuming`.
    pub fn persisted(path: std::path::PathBuf, resuming: bool) -> Self {
        let first = resuming
            .then(|| hicra_flow::checkpoint::read_state(&path))
            .flatten()
            .unwrap_or_default();
        Self {
            first,
            state_file: Some(path),
        }
    }

    /// `value / first value` (the first call records the value and returns 1).
    pub fn ratio(&mut self, name: &str, value: f64) -> Option<f64> {
        let first = match self.first.get(name) {
            Some(first) => *first,
            None => {
                self.first.insert(name.to_string(), value);
                self.save();
                value
            }
        };
        (first != 0.0 && first.is_finite()).then(|| value / first)
    }

    fn save(&self) {
        if let Some(path) = &self.state_file {
            hicra_flow::checkpoint::write_state(path, &self.first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hicra_messages::{Group, Prompt, Rollout};
    use std::sync::Arc;

    fn prompt() -> Arc<Prompt> {
        Arc::new(Prompt::new("p", "", ""))
    }

    #[test]
    fn semantic_entropy_by_hand() {
        let counts: BTreeMap<String, usize> =
            [("but wait".to_string(), 2), ("so".to_string(), 2)].into();
        assert!((semantic_entropy(&counts) - 2f64.ln()).abs() < 1e-12);
        let one: BTreeMap<String, usize> = [("so".to_string(), 5)].into();
        assert_eq!(semantic_entropy(&one), 0.0);
        assert_eq!(semantic_entropy(&BTreeMap::new()), 0.0);
        let skewed: BTreeMap<String, usize> = [("a".to_string(), 3), ("b".to_string(), 1)].into();
        let expected = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        assert!((semantic_entropy(&skewed) - expected).abs() < 1e-12);
    }

    #[test]
    fn token_metrics_by_hand() {
        let r = Rollout {
            tokens: vec![1, 2, 3, 4],
            entropies: vec![2.0, 1.0, 0.5, 0.5],
            logprobs: vec![-1.0, -1.0, -0.5, -0.5],
            advantages: vec![1.2, 1.0, 1.0, 1.0],
            masks: [("planning".to_string(), vec![true, false, false, false])].into(),
            ..Default::default()
        };
        let batch = RolloutBatch::new(0, vec![Group::new(prompt(), vec![r])]);
        let m = token_metrics(&batch, "planning");
        assert_eq!(m["planning_ratio"], 0.25);
        assert_eq!(m["entropy/planning"], 2.0);
        assert!((m["entropy/execution"] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m["entropy/all"], 1.0);
        assert!((m["perplexity/planning"] - 1f64.exp()).abs() < 1e-12);
        assert!((m["perplexity/execution"] - (2.0f64 / 3.0).exp()).abs() < 1e-12);
        assert!((m["advantage_mass/planning"] - 1.2 / 4.2).abs() < 1e-6);
        assert!((m["advantage/mean_abs"] - 4.2 / 4.0).abs() < 1e-6);
        let ratio = 1f64.exp() / (2.0f64 / 3.0).exp();
        assert!((m["perplexity/planning_over_execution"] - ratio).abs() < 1e-12);
    }

    #[test]
    fn metrics_skip_missing_and_non_finite_values() {
        let r = Rollout {
            tokens: vec![1, 2],
            entropies: vec![f32::NAN, 1.0],
            logprobs: vec![],
            masks: [("planning".to_string(), vec![false, true])].into(),
            ..Default::default()
        };
        let batch = RolloutBatch::new(0, vec![Group::new(prompt(), vec![r])]);
        let m = token_metrics(&batch, "planning");
        assert_eq!(m["entropy/all"], 1.0);
        assert!(!m.contains_key("entropy/execution"));
        assert!(!m.keys().any(|k| k.starts_with("perplexity")));
        assert!(
            !m.contains_key("advantage_mass/planning"),
            "no advantages yet"
        );
        assert_eq!(m["planning_ratio"], 0.5);
    }

    #[test]
    fn first_values_give_ratios() {
        let mut f = FirstValues::default();
        assert_eq!(f.ratio("h", 2.0), Some(1.0));
        assert_eq!(f.ratio("h", 1.0), Some(0.5));
        assert_eq!(f.ratio("z", 0.0), None);
    }
}
