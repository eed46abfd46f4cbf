//! The runs of an experiment, one per (arm, seed), each a `hicra run` process in its own
//! directory `OUT/ARM/seed-N` with its output in `log.txt`. A run that ends well leaves
//! `experiment-run.json` with `"status": "done"`; `--resume` skips those and runs the rest again
//! (an interrupted run starts over). A failed run is recorded and reported; the others go on.
//! At most `parallel` processes run at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::spec::Spec;

/// One (arm, seed) run.
#[derive(Clone, Debug)]
pub struct Run {
    pub arm: String,
    pub seed: u64,
    pub dir: PathBuf,
    /// Everything after `hicra`: `run [PIPELINE] --set ... --out DIR`.
    pub args: Vec<String>,
}

/// `experiment-run.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    /// `done` or `failed`.
    pub status: String,
    pub seconds: f64,
    /// Exit code of a failed run and the end of its log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub const MARKER: &str = "experiment-run.json";

/// Every run of `spec` under `out`, arm by arm, seed by seed.
pub fn plan(spec: &Spec, out: &Path) -> Vec<Run> {
    let mut runs = Vec::new();
    for (arm, arm_set) in &spec.arms {
        for &seed in &spec.seeds {
            let dir = out.join(arm).join(format!("seed-{seed}"));
            let mut args = vec!["run".to_string()];
            if let Some(p) = &spec.pipeline {
                args.push(p.display().to_string());
            }
            for o in spec.set.iter().chain(arm_set) {
                args.push("--set".into());
                args.push(o.clone());
            }
            args.push("--set".into());
            args.push(format!("run.seed={seed}"));
            args.push("--out".into());
            args.push(dir.display().to_string());
            runs.push(Run {
                arm: arm.clone(),
                seed,
                dir,
                args,
            });
        }
    }
    runs
}

/// Checks each arm's pipeline once (`hicra validate` with the arm's overrides and the first
/// seed) before anything runs: a mistyped override fails in seconds, not after other arms'
/// runs. Returns `(arm, what validate said)` for each arm that is refused.
pub fn validate_arms(hicra: &Path, runs: &[Run]) -> Vec<(String, String)> {
    let mut refused = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for run in runs {
        if !seen.insert(run.arm.clone()) {
            continue;
        }
        let end = run.args.len() - 2; // without `--out DIR`
        let output = Command::new(hicra)
            .arg("validate")
            .args(&run.args[1..end])
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(o) if o.status.success() => {}
            Ok(o) => refused.push((
                run.arm.clone(),
                String::from_utf8_lossy(&o.stderr).trim().to_string(),
            )),
            Err(e) => refused.push((
                run.arm.clone(),
                format!("cannot start {}: {e}", hicra.display()),
            )),
        }
    }
    refused
}

/// The marker of a run directory, if it has one.
pub fn marker(dir: &Path) -> Option<Marker> {
    let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    serde_json::from_str(&text).ok()
}

/// What happened to one run in this invocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Finished before (`--resume`).
    Skipped,
    Done,
    Failed(String),
}

/// Runs `runs` with `hicra` (the executable), `parallel` at a time; `progress` hears of each
/// run as it ends (index, outcome, seconds). Runs already done are skipped.
pub fn execute(
    hicra: &Path,
    runs: &[Run],
    parallel: usize,
    progress: &(dyn Fn(usize, &Outcome, f64) + Sync),
) -> Vec<Outcome> {
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; runs.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(run) = runs.get(i) else { break };
                    let started = Instant::now();
                    let outcome = if marker(&run.dir).is_some_and(|m| m.status == "done") {
                        Outcome::Skipped
                    } else {
                        run_one(hicra, run)
                    };
                    progress(i, &outcome, started.elapsed().as_secs_f64());
                    outcomes.lock().unwrap()[i] = Some(outcome);
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    outcomes
        .into_iter()
        .map(|o| o.expect("every run was taken"))
        .collect()
}

fn run_one(hicra: &Path, run: &Run) -> Outcome {
    let started = Instant::now();
    let result = (|| -> Result<(), String> {
        std::fs::create_dir_all(&run.dir).map_err(|e| format!("{}: {e}", run.dir.display()))?;
        let _ = std::fs::remove_file(run.dir.join(MARKER));
        let log_path = run.dir.join("log.txt");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let status = Command::new(hicra)
            .args(&run.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .status()
            .map_err(|e| format!("cannot start {}: {e}", hicra.display()))?;
        if status.success() {
            Ok(())
        } else {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!(
                "exit {}; {}: ...{}",
                status.code().map_or("by signal".into(), |c| c.to_string()),
                log_path.display(),
                tail.join("\n")
            ))
        }
    })();
    let marker = Marker {
        status: if result.is_ok() { "done" } else { "failed" }.into(),
        seconds: started.elapsed().as_secs_f64(),
        error: result.as_ref().err().cloned(),
    };
    if let Ok(text) = serde_json::to_string_pretty(&marker) {
        let _ = std::fs::write(run.dir.join(MARKER), text);
    }
    match result {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, seed: u64) -> Run {
        Run {
            arm: "a".into(),
            seed,
            dir: dir.join(format!("seed-{seed}")),
            args: vec!["run".into()],
        }
    }

    /// With stand-ins for `hicra` (`true` ends well, `false` fails): markers are written,
    /// failures recorded with their exit code, finished runs skipped next time.
    #[test]
    fn runs_are_marked_failed_runs_recorded_finished_runs_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let runs = [run(dir.path(), 1), run(dir.path(), 2)];
        let quiet = |_: usize, _: &Outcome, _: f64| {};
        let done = execute(Path::new("true"), &runs[..1], 2, &quiet);
        assert_eq!(done, [Outcome::Done]);
        assert_eq!(marker(&runs[0].dir).unwrap().status, "done");
        let again = execute(Path::new("false"), &runs, 2, &quiet);
        assert_eq!(again[0], Outcome::Skipped);
        let Outcome::Failed(why) = &again[1] else {
            panic!("{again:?}")
        };
        assert!(why.starts_with("exit 1"), "{why}");
        let m = marker(&runs[1].dir).unwrap();
        assert_eq!((m.status.as_str(), m.error.is_some()), ("failed", true));
        let missing = execute(Path::new("/nonexistent/hicra"), &runs[1..], 1, &quiet);
        assert!(matches!(&missing[0], Outcome::Failed(e) if e.starts_with("cannot start")));
    }
}
