//! The experiment file: `[experiment]` (the pipeline, seeds, the metric and how a run's value
//! is taken from its curve, the baseline arm, overrides for every arm) and one `[arms.NAME]`
//! table per arm with its own overrides. Every problem is reported at `FILE:LINE:COL` with a
//! hint, all of them at once.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// A parsed and checked experiment file.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The file it was read from.
    pub path: PathBuf,
    pub name: String,
    /// The pipeline every run starts from, resolved against the file's directory (`None`: the
    /// built-in quickstart).
    pub pipeline: Option<PathBuf>,
    pub seeds: Vec<u64>,
    pub metric: String,
    pub take: Take,
    pub higher_is_better: bool,
    pub baseline: Option<String>,
    pub parallel: usize,
    pub interval: Interval,
    /// `--set` overrides for every run, as `dotted.key=value`.
    pub set: Vec<String>,
    /// Arms in the order written, each with its overrides.
    pub arms: Vec<(String, Vec<String>)>,
}

/// How a run's value is read from its metric curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Take {
    /// The value at the last step that has it.
    Last,
    /// The best value over the run (`higher_is_better` says which way).
    Best,
    /// The mean of the last `k` values.
    MeanLast(usize),
    /// The last value minus the first (what a run gained).
    Gain,
}

/// The kind of 95% interval reported.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Student's t interval over seeds.
    T,
    /// Percentile bootstrap over seeds (10 000 resamples, seeded).
    Bootstrap,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    experiment: ExperimentTable,
    arms: Spanned<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentTable {
    /// Name of the experiment (the output directory's default name).
    name: String,
    /// Pipeline file, relative to the experiment file; absent: the built-in quickstart.
    pipeline: Option<Spanned<String>>,
    /// Seeds: each arm runs once per seed, as `run.seed`.
    seeds: Spanned<Vec<u64>>,
    /// Metric compared, as named in `metrics.jsonl` (e.g. `accuracy/eval`).
    #[serde(default = "default_metric")]
    metric: String,
    /// `last`, `best`, `mean_last` (of `last_k` values) or `gain` (last minus first).
    #[serde(default = "default_take")]
    take: Spanned<String>,
    /// Values averaged by `take = "mean_last"`.
    #[serde(default = "default_last_k")]
    last_k: Spanned<usize>,
    /// Whether larger values of the metric are better (for `take = "best"`).
    #[serde(default = "default_higher")]
    higher_is_better: bool,
    /// Arm the others are compared with, paired by seed.
    baseline: Option<Spanned<String>>,
    /// Runs at once (separate processes).
    #[serde(default = "default_parallel")]
    parallel: Spanned<usize>,
    /// `t` or `bootstrap`.
    #[serde(default = "default_interval")]
    interval: Interval,
    /// Overrides for every arm: `{ "stages.sampler.steps" = 120 }`.
    #[serde(default)]
    set: toml::Table,
}

fn default_metric() -> String {
    "accuracy/eval".into()
}
fn default_take() -> Spanned<String> {
    Spanned::new(0..0, "last".into())
}
fn default_last_k() -> Spanned<usize> {
    Spanned::new(0..0, 3)
}
fn default_higher() -> bool {
    true
}
fn default_parallel() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}
fn default_interval() -> Interval {
    Interval::T
}

/// Problems found in an experiment file.
#[derive(Debug)]
pub struct SpecError {
    pub problems: Vec<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problems.join("\n"))
    }
}

impl std::error::Error for SpecError {}

/// `FILE:LINE:COL` of a byte offset.
fn at(path: &Path, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{col}", path.display())
}

/// `--set` strings for a table of overrides (dotted keys as written, values as TOML).
fn overrides(table: &toml::Table) -> Vec<String> {
    table.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

impl Spec {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            problems: vec![format!("{}: {e}", path.display())],
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let place = e.span().map_or_else(
                || path.display().to_string(),
                |s| at(path, text, s.start),
            );
            SpecError {
                problems: vec![format!(
                    "{place}: {}\n  help: an experiment has [experiment] (name, seeds, metric, ...) and [arms.NAME] tables with `set = {{ ... }}`",
                    e.message().trim()
                )],
            }
        })?;
        let mut problems = Vec::new();
        let e = file.experiment;
        let base = path.parent().unwrap_or(Path::new("."));
        let pipeline = e.pipeline.as_ref().map(|p| base.join(p.get_ref()));
        if let (Some(p), Some(s)) = (&pipeline, &e.pipeline)
            && !p.is_file()
        {
            problems.push(format!(
                "{}: pipeline file {} does not exist\n  help: the path is relative to the experiment file; leave `pipeline` out for the built-in quickstart",
                at(path, text, s.span().start),
                p.display()
            ));
        }
        let seeds = e.seeds.get_ref().clone();
        let mut distinct = seeds.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if seeds.is_empty() || distinct.len() != seeds.len() {
            problems.push(format!(
                "{}: `seeds` must list distinct seeds, at least one\n  help: e.g. seeds = [1, 2, 3, 4, 5]",
                at(path, text, e.seeds.span().start)
            ));
        }
        let take = match e.take.get_ref().as_str() {
            "last" => Take::Last,
            "best" => Take::Best,
            "mean_last" => Take::MeanLast(*e.last_k.get_ref()),
            "gain" => Take::Gain,
            other => {
                problems.push(format!(
                    "{}: unknown take {other:?}\n  help: one of \"last\", \"best\", \"mean_last\" (with last_k), \"gain\"",
                    at(path, text, e.take.span().start)
                ));
                Take::Last
            }
        };
        if *e.last_k.get_ref() == 0 {
            problems.push(format!(
                "{}: `last_k` must be at least 1",
                at(path, text, e.last_k.span().start)
            ));
        }
        if *e.parallel.get_ref() == 0 {
            problems.push(format!(
                "{}: `parallel` must be at least 1",
                at(path, text, e.parallel.span().start)
            ));
        }
        let mut arms = Vec::new();
        for (name, value) in file.arms.get_ref() {
            let set = match value.as_table().map(|t| (t.len(), t.get("set"))) {
                Some((1, Some(toml::Value::Table(set)))) => overrides(set),
                Some((0, None)) => Vec::new(),
                _ => {
                    problems.push(format!(
                        "{}: arm `{name}` must be a table holding only `set = {{ ... }}`\n  help: [arms.{name}]\n        set = {{ \"stages.credit.kind\" = \"credit.grpo\" }}",
                        at(path, text, file.arms.span().start)
                    ));
                    Vec::new()
                }
            };
            arms.push((name.clone(), set));
        }
        if arms.is_empty() {
            problems.push(format!(
                "{}: no arms\n  help: add [arms.NAME] tables",
                at(path, text, file.arms.span().start)
            ));
        }
        if let Some(b) = &e.baseline
            && !arms.iter().any(|(n, _)| n == b.get_ref())
        {
            let names: Vec<&str> = arms.iter().map(|(n, _)| n.as_str()).collect();
            problems.push(format!(
                "{}: baseline `{}` is not an arm\n  help: arms: {}",
                at(path, text, b.span().start),
                b.get_ref(),
                names.join(", ")
            ));
        }
        if !problems.is_empty() {
            return Err(SpecError { problems });
        }
        Ok(Spec {
            path: path.to_path_buf(),
            name: e.name,
            pipeline,
            seeds,
            metric: e.metric,
            take,
            higher_is_better: e.higher_is_better,
            baseline: e.baseline.map(|b| b.into_inner()),
            parallel: e.parallel.into_inner(),
            interval: e.interval,
            set: overrides(&e.set),
            arms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[experiment]
name = "x"
seeds = [1, 2]
baseline = "grpo"
set = { "stages.sampler.steps" = 4 }

[arms.grpo]
set = { "stages.credit.kind" = "credit.grpo" }

[arms.hicra]
set = { "stages.credit.kind" = "credit.hicra", "stages.credit.alpha" = 0.5 }
"#;

    #[test]
    fn reads_arms_in_order_with_overrides() {
        let s = Spec::parse(Path::new("e.toml"), GOOD).unwrap();
        assert_eq!(s.arms[0].0, "grpo");
        assert_eq!(
            s.arms[1].1,
            [
                r#"stages.credit.kind="credit.hicra""#,
                "stages.credit.alpha=0.5"
            ]
        );
        assert_eq!(s.set, ["stages.sampler.steps=4"]);
        assert_eq!(
            (s.take, s.parallel, s.interval),
            (Take::Last, 1, Interval::T)
        );
    }

    #[test]
    fn every_problem_at_its_place() {
        let bad = GOOD
            .replace(
                "seeds = [1, 2]",
                "seeds = [1, 1]\ntake = \"median\"\nparallel = 0",
            )
            .replace("baseline = \"grpo\"", "baseline = \"ppo\"");
        let err = Spec::parse(Path::new("e.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("e.toml:4:9: `seeds` must list distinct seeds"),
            "{err}"
        );
        assert!(err.contains("e.toml:5:8: unknown take \"median\""), "{err}");
        assert!(
            err.contains("e.toml:6:12: `parallel` must be at least 1"),
            "{err}"
        );
        assert!(
            err.contains("e.toml:7:12: baseline `ppo` is not an arm"),
            "{err}"
        );
        let syntax = Spec::parse(Path::new("e.toml"), "[experiment]\nname = 3\n").unwrap_err();
        assert!(syntax.to_string().starts_with("e.toml:2:8:"), "{syntax}");
    }
}
