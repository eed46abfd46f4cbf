//! # hicra-experiment: arms x seeds, with intervals
//!
//! HICRA's claim is comparative ("credit on planning tokens learns faster than GRPO"), and a
//! single run answers nothing: float results differ between machines and seeds move a curve
//! more than most changes do. An experiment file names a pipeline, a list of seeds, a metric
//! and arms (each a set of `--set` overrides); [`run`] starts one `hicra run` process per
//! (arm, seed) in `OUT/ARM/seed-N` (at most `parallel` at once, a failed run reported without
//! stopping the others, finished ones skipped on resume), then reads each run's metric from its
//! `metrics.jsonl` and writes
//!
//! * `OUT/summary.json`: per arm `n`, `mean`, `std`, `ci95` (Student's t over seeds, or a
//!   seeded percentile bootstrap) and the `values` by seed; per non-baseline arm the
//!   comparison with the baseline paired by seed: `mean_diff`, its `ci95` and the paired
//!   t-test's two-sided `p_value`;
//! * `OUT/summary.md`, the same as a table, and `OUT/curves.png`, each arm's mean curve with
//!   its 95% band.
//!
//! Every arm's pipeline is validated (`hicra validate`) before the first run starts.
//!
//! Modules: [`spec`] (the file, checked with `FILE:LINE:COL` diagnostics), [`runs`] (the
//! processes and their markers), [`stats`] (intervals and the paired test), [`summary`] and
//! [`curves`].

pub mod curves;
pub mod runs;
pub mod spec;
pub mod stats;
pub mod summary;

use std::path::{Path, PathBuf};

pub use runs::Outcome;
pub use spec::{Spec, SpecError};
pub use summary::ExperimentSummary;

/// How one invocation runs an experiment.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `hicra` executable each run is started with.
    pub hicra: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// Runs at once (overrides the file's `parallel`).
    pub parallel: Option<usize>,
    /// Skip runs that finished before; without it an output directory holding runs is refused.
    pub resume: bool,
}

/// What an invocation did.
#[derive(Debug)]
pub struct Report {
    pub summary: ExperimentSummary,
    /// Each run's directory and outcome, in plan order.
    pub outcomes: Vec<(PathBuf, Outcome)>,
    pub files: Vec<PathBuf>,
}

impl Report {
    pub fn failed(&self) -> usize {
        let failed = |o: &&(PathBuf, Outcome)| matches!(o.1, Outcome::Failed(_));
        self.outcomes.iter().filter(failed).count()
    }
}

/// Runs the experiment `spec` (every run not yet done), then summarises it. `progress` hears
/// one line per run as it ends.
pub fn run(
    spec: &Spec,
    options: &Options,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Report, String> {
    let plan = runs::plan(spec, &options.out);
    if !options.resume && plan.iter().any(|r| r.dir.exists()) {
        return Err(format!(
            "{} already holds runs of an experiment; pass --resume to finish it or choose another --out",
            options.out.display()
        ));
    }
    let refused = runs::validate_arms(&options.hicra, &plan);
    if !refused.is_empty() {
        let lines: Vec<String> = refused
            .iter()
            .map(|(arm, why)| format!("arm `{arm}`:\n{why}"))
            .collect();
        return Err(format!(
            "{}\n{} of {} arms refused; nothing was run",
            lines.join("\n"),
            refused.len(),
            spec.arms.len()
        ));
    }
    std::fs::create_dir_all(&options.out).map_err(|e| format!("{}: {e}", options.out.display()))?;
    std::fs::copy(&spec.path, options.out.join("experiment.toml"))
        .map_err(|e| format!("cannot copy {}: {e}", spec.path.display()))?;
    let total = plan.len();
    let ended = std::sync::atomic::AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let outcomes = runs::execute(
        &options.hicra,
        &plan,
        options.parallel.unwrap_or(spec.parallel),
        &|i, outcome, seconds| {
            let k = ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let run = &plan[i];
            let what = match outcome {
                Outcome::Skipped => "finished before, skipped".to_string(),
                Outcome::Done => format!("done in {seconds:.0} s"),
                Outcome::Failed(e) => format!("FAILED after {seconds:.0} s: {e}"),
            };
            let elapsed = started.elapsed().as_secs_f64();
            progress(&format!(
                "[{k}/{total}] {} seed {}: {what} ({elapsed:.0} s elapsed)",
                run.arm, run.seed
            ));
        },
    );
    let summary = summary::summarize_runs(spec, &plan);
    let files = write(spec, &summary, &options.out)?;
    Ok(Report {
        summary,
        outcomes: plan.iter().map(|r| r.dir.clone()).zip(outcomes).collect(),
        files,
    })
}

fn write(spec: &Spec, s: &ExperimentSummary, out: &Path) -> Result<Vec<PathBuf>, String> {
    let json = out.join("summary.json");
    let text = serde_json::to_string_pretty(s).map_err(|e| e.to_string())?;
    std::fs::write(&json, text + "\n").map_err(|e| format!("{}: {e}", json.display()))?;
    let md = out.join("summary.md");
    std::fs::write(&md, s.markdown()).map_err(|e| format!("{}: {e}", md.display()))?;
    let mut files = vec![json, md];
    let arms: Vec<(String, curves::MeanCurve)> = s
        .order
        .iter()
        .map(|name| {
            let runs: Vec<Vec<(f64, f64)>> = s.arms[name].curves.values().cloned().collect();
            (name.clone(), curves::mean_curve(&runs))
        })
        .collect();
    let png = out.join("curves.png");
    if curves::draw(&png, &spec.metric, &arms).is_ok() {
        files.push(png);
    }
    Ok(files)
}
