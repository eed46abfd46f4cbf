//! Which curves share a chart: a metric and the same metric under another stage's prefix.
//!
//! A shadow credit assigner reports its figures as `STAGE/NAME` (`grpo_shadow/planning_ratio`
//! beside the learner's `planning_ratio`), and evaluation figures often mirror training ones
//! (`eval/response_length/mean`). A prefix `P` is an *overlay prefix* when at least
//! [`MIN_PAIRS`] metrics `P/REST` exist whose `REST` is itself a metric of the run; each such
//! `P/REST` is then drawn on `REST`'s chart instead of a chart of its own. One shared name is
//! not enough (`grad_norm/max` and a metric `max` would be a coincidence), and the rule needs
//! no knowledge of the pipeline, so a report of any run, old or new, groups the same way.

use std::collections::{BTreeMap, BTreeSet};

/// A prefix must pair this many of its metrics with metrics of the run to overlay them.
pub const MIN_PAIRS: usize = 2;

/// One chart: its main metric and the overlaid ones, as (label, metric name).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Chart {
    pub main: String,
    pub overlays: Vec<(String, String)>,
}

/// The charts for `names` (every metric of the run) in the order given by `order` (a
/// ranking of main metrics: earlier first); every name is on exactly one chart.
pub fn charts(names: &BTreeSet<String>, order: impl Fn(&str) -> usize) -> Vec<Chart> {
    let mut pairs: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for name in names {
        // Every split point: `a/b/c` may pair as `a` + `b/c` or `a/b` + `c`.
        for (at, _) in name.match_indices('/') {
            let (prefix, rest) = (&name[..at], &name[at + 1..]);
            if names.contains(rest) {
                pairs.entry(prefix).or_default().push((name, rest));
            }
        }
    }
    // Each overlaid name points at the metric it mirrors (its shortest valid prefix cut off).
    let mut mirrors: BTreeMap<&str, &str> = BTreeMap::new();
    for found in pairs.values().filter(|found| found.len() >= MIN_PAIRS) {
        for &(name, rest) in found {
            let longer_rest = mirrors.get(name).is_none_or(|r| r.len() < rest.len());
            if longer_rest {
                mirrors.insert(name, rest);
            }
        }
    }
    let mut overlays: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for &name in mirrors.keys() {
        let main = chart_of(&mirrors, name);
        let label = &name[..name.len() - main.len() - 1];
        overlays
            .entry(main)
            .or_default()
            .push((label.to_string(), name.to_string()));
    }
    let mut charts: Vec<Chart> = names
        .iter()
        .filter(|n| !mirrors.contains_key(n.as_str()))
        .map(|main| Chart {
            main: main.clone(),
            overlays: overlays.remove(main.as_str()).unwrap_or_default(),
        })
        .collect();
    charts.sort_by_key(|c| order(&c.main));
    charts
}

/// The chart `name` is drawn on: `a/b/c` mirroring `b/c` that mirrors `c` goes on `c`'s
/// (rests only get shorter, so this ends).
fn chart_of<'a>(mirrors: &BTreeMap<&'a str, &'a str>, mut name: &'a str) -> &'a str {
    while let Some(rest) = mirrors.get(name) {
        name = rest;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shadow_assigners_are_drawn_on_their_main_metric() {
        let all = names(&[
            "advantage_mass/planning",
            "planning_ratio",
            "reward/mean",
            "grpo_shadow/advantage_mass/planning",
            "grpo_shadow/planning_ratio",
            "placebo_shadow/advantage_mass/planning",
            "placebo_shadow/planning_ratio",
            "grad_norm",
            "grad_norm/max",
            "max",
        ]);
        let charts = charts(&all, |_| 0);
        let mains: Vec<&str> = charts.iter().map(|c| c.main.as_str()).collect();
        assert_eq!(
            mains,
            [
                "advantage_mass/planning",
                "grad_norm",
                "grad_norm/max",
                "max",
                "planning_ratio",
                "reward/mean"
            ],
            "a single coincidental pair (grad_norm/max, max) is not an overlay"
        );
        assert_eq!(
            charts[0].overlays,
            [
                (
                    "grpo_shadow".into(),
                    "grpo_shadow/advantage_mass/planning".into()
                ),
                (
                    "placebo_shadow".into(),
                    "placebo_shadow/advantage_mass/planning".into()
                ),
            ]
        );
        assert_eq!(charts[4].overlays.len(), 2);
    }

    #[test]
    fn every_metric_is_on_exactly_one_chart_in_the_given_order() {
        let all = names(&["b", "a", "eval/a", "eval/b", "eval/c", "c/x"]);
        let order = |n: &str| if n == "b" { 0 } else { 1 };
        let charts = charts(&all, order);
        assert_eq!(charts[0].main, "b");
        let drawn: BTreeSet<String> = charts
            .iter()
            .flat_map(|c| {
                std::iter::once(c.main.clone()).chain(c.overlays.iter().map(|o| o.1.clone()))
            })
            .collect();
        assert_eq!(drawn, all);
        assert_eq!(charts.len(), 4, "b (+eval/b), a (+eval/a), eval/c, c/x");
    }

    #[test]
    fn a_shadow_of_an_overlay_lands_on_the_innermost_chart() {
        let all = names(&["a", "b", "eval/a", "eval/b", "s/eval/a", "s/eval/b"]);
        let charts = charts(&all, |_| 0);
        assert_eq!(charts.len(), 2);
        assert_eq!(
            charts[0].overlays,
            [
                ("eval".into(), "eval/a".into()),
                ("s/eval".into(), "s/eval/a".into())
            ]
        );
    }
}
