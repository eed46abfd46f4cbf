//! Reading each finished run's metric from its `metrics.jsonl`, and the experiment's summary:
//! `summary.json` (per arm `n`, `mean`, `std`, `ci95`, `values` by seed; per non-baseline arm
//! the seed-paired comparison with the baseline) and `summary.md` (the same as a table).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::runs::{Run, marker};
use crate::spec::{Spec, Take};
use crate::stats::{Comparison, Summary, compare, summarize};

/// One arm's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ArmSummary {
    #[serde(flatten)]
    pub summary: Option<Summary>,
    /// The metric's value per seed (finished runs only).
    pub values: BTreeMap<u64, f64>,
    /// Seeds whose run failed, did not finish or has no value of the metric.
    pub missing: Vec<u64>,
    /// The metric's curve of each run that has a value, by seed (for `curves.png`).
    #[serde(skip)]
    pub curves: BTreeMap<u64, Vec<(f64, f64)>>,
}

/// An arm against the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct ArmComparison {
    pub arm: String,
    pub baseline: String,
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentSummary {
    pub experiment: String,
    pub metric: String,
    pub take: String,
    pub interval: String,
    pub arms: BTreeMap<String, ArmSummary>,
    pub comparisons: Vec<ArmComparison>,
    /// Arms in the order the experiment file lists them.
    #[serde(skip)]
    pub order: Vec<String>,
}

/// The metric's curve in a run directory (`(step, value)`, by step).
pub fn curve(dir: &Path, metric: &str) -> Vec<(f64, f64)> {
    hicra_metrics::read_metrics(&dir.join("metrics.jsonl"))
        .ok()
        .and_then(|mut series| series.remove(metric))
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// A run's value of the metric, as `take` says.
pub fn value(curve: &[(f64, f64)], take: Take, higher_is_better: bool) -> Option<f64> {
    let values: Vec<f64> = curve.iter().map(|(_, v)| *v).collect();
    match take {
        Take::Last => values.last().copied(),
        Take::Best => {
            values
                .iter()
                .copied()
                .reduce(if higher_is_better { f64::max } else { f64::min })
        }
        Take::MeanLast(k) => {
            let tail = &values[values.len().saturating_sub(k)..];
            (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64)
        }
        Take::Gain => Some(values.last()? - values.first()?),
    }
}

fn take_name(take: Take) -> String {
    match take {
        Take::Last => "last".into(),
        Take::Best => "best".into(),
        Take::MeanLast(k) => format!("mean of last {k}"),
        Take::Gain => "gain, last minus first".into(),
    }
}

/// The summary of every finished run of `runs`.
pub fn summarize_runs(spec: &Spec, runs: &[Run]) -> ExperimentSummary {
    let mut arms: BTreeMap<String, ArmSummary> = BTreeMap::new();
    for run in runs {
        let entry = arms.entry(run.arm.clone()).or_insert_with(|| ArmSummary {
            summary: None,
            values: BTreeMap::new(),
            missing: Vec::new(),
            curves: BTreeMap::new(),
        });
        let done = marker(&run.dir).is_some_and(|m| m.status == "done");
        let c = if done {
            curve(&run.dir, &spec.metric)
        } else {
            Vec::new()
        };
        match value(&c, spec.take, spec.higher_is_better) {
            Some(v) => {
                entry.values.insert(run.seed, v);
                entry.curves.insert(run.seed, c);
            }
            None => entry.missing.push(run.seed),
        }
    }
    for arm in arms.values_mut() {
        let xs: Vec<f64> = arm.values.values().copied().collect();
        arm.summary = (!xs.is_empty()).then(|| summarize(&xs, spec.interval));
    }
    let mut comparisons = Vec::new();
    if let Some(base) = &spec.baseline {
        for (name, _) in &spec.arms {
            if name == base {
                continue;
            }
            let (a, b) = (&arms[name].values, &arms[base].values);
            let pairs: Vec<(f64, f64)> = a
                .iter()
                .filter_map(|(seed, x)| b.get(seed).map(|y| (*x, *y)))
                .collect();
            if !pairs.is_empty() {
                comparisons.push(ArmComparison {
                    arm: name.clone(),
                    baseline: base.clone(),
                    comparison: compare(&pairs, spec.interval),
                });
            }
        }
    }
    ExperimentSummary {
        experiment: spec.name.clone(),
        metric: spec.metric.clone(),
        take: take_name(spec.take),
        interval: format!("{:?}", spec.interval).to_lowercase(),
        arms,
        comparisons,
        order: spec.arms.iter().map(|(n, _)| n.clone()).collect(),
    }
}

fn interval(ci: Option<[f64; 2]>) -> String {
    ci.map_or("-".into(), |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"))
}

impl ExperimentSummary {
    /// The markdown table.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# {}\n\n{} ({}) over seeds, 95% {} intervals.\n\n| arm | n | mean | std | 95% CI | vs baseline | diff 95% CI | p |\n|---|---|---|---|---|---|---|---|\n",
            self.experiment, self.metric, self.take, self.interval
        );
        for name in &self.order {
            let arm = &self.arms[name];
            let cmp = self.comparisons.iter().find(|c| &c.arm == name);
            let (n, mean, std, ci) = match &arm.summary {
                Some(s) => (
                    s.n.to_string(),
                    format!("{:.3}", s.mean),
                    format!("{:.3}", s.std),
                    interval(s.ci95),
                ),
                None => ("0".into(), "-".into(), "-".into(), "-".into()),
            };
            let (diff, dci, p) = match cmp {
                Some(c) => (
                    format!("{:+.3} (n={})", c.comparison.mean_diff, c.comparison.n),
                    interval(c.comparison.ci95),
                    c.comparison
                        .p_value
                        .map_or("-".into(), |p| format!("{p:.3}")),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            out.push_str(&format!(
                "| {name} | {n} | {mean} | {std} | {ci} | {diff} | {dci} | {p} |\n"
            ));
        }
        let missing: Vec<String> = self
            .order
            .iter()
            .filter(|n| !self.arms[*n].missing.is_empty())
            .map(|n| format!("{n}: seeds {:?}", self.arms[n].missing))
            .collect();
        if !missing.is_empty() {
            out.push_str(&format!(
                "\nMissing (failed or unfinished): {}\n",
                missing.join("; ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_taken_from_a_curve() {
        let c = [(1.0, 0.2), (2.0, 0.6), (3.0, 0.4)];
        assert_eq!(value(&c, Take::Last, true), Some(0.4));
        assert_eq!(value(&c, Take::Best, true), Some(0.6));
        assert_eq!(value(&c, Take::Best, false), Some(0.2));
        assert_eq!(value(&c, Take::MeanLast(2), true), Some(0.5));
        let all = value(&c, Take::MeanLast(10), true).unwrap();
        assert!((all - 0.4).abs() < 1e-12, "{all}");
        assert_eq!(value(&[], Take::Last, true), None);
        let gain = value(&c, Take::Gain, true).unwrap();
        assert!((gain - 0.2).abs() < 1e-12, "{gain}");
        assert_eq!(value(&[], Take::Gain, true), None);
    }
}
