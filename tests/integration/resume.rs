//! Checkpoint and resume: a run killed in the middle and resumed with `hicra run --resume DIR`
//! logs the same training metrics as a run that was never interrupted (CPU backend).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{hicra, run_args, small_quickstart, text};

const STEPS: u64 = 24;

/// A quickstart pipeline (`None`: the built-in one), small enough to run in seconds,
/// checkpointing every 4 steps.
fn args(pipeline: Option<&str>, out: &Path) -> Vec<String> {
    let length = match pipeline {
        Some(_) => format!("stages.dynamic.steps={STEPS}"),
        None => format!("stages.sampler.steps={STEPS}"),
    };
    let mut sets = vec![
        length,
        format!("stages.metrics.total_steps={STEPS}"),
        "stages.learner.checkpoint_every=4".into(),
        "stages.learner.keep_checkpoints=0".into(),
    ];
    // its entropy and KL terms give gradients on every step even before any reward (the
    // optimiser state matters), and a KL reference that must come back from the checkpoint
    sets.extend(small_quickstart());
    run_args(pipeline, out, &sets)
}

/// Training rows by step, without timings and evaluation figures (the evaluator samples
/// whichever policy version is newest when it looks, which depends on thread timing).
fn training_rows(dir: &Path) -> BTreeMap<u64, BTreeMap<String, serde_json::Value>> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(l).unwrap())
        .map(|mut row| {
            let step = row.remove("step").unwrap().as_u64().unwrap();
            row.retain(|k, _| {
                !(k.starts_with("timing/") || k.starts_with("tokens_per_sec") || k.contains("eval"))
            });
            (step, row)
        })
        .filter(|(_, row)| row.contains_key("loss/policy"))
        .collect()
}

#[test]
fn a_killed_run_resumes_to_the_same_metrics() {
    kill_and_resume(None);
}

/// With dynamic sampling the number of generation batches per step varies; the filter's
/// state tells the resumed sampler how many batches of prompts to replay.
#[test]
fn a_killed_run_with_dynamic_sampling_resumes_to_the_same_metrics() {
    kill_and_resume(Some("pipelines/quickstart-dapo.toml"));
}

fn kill_and_resume(pipeline: Option<&str>) {
    let full = tempfile::tempdir().unwrap();
    let args_full = args(pipeline, full.path());
    let out = hicra(&args_full.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = training_rows(full.path());
    assert_eq!(expected.len() as u64, STEPS);

    // Start the same run and kill it (SIGKILL: no clean shutdown) once step 8 is checkpointed.
    let killed = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hicra"))
        .args(args(pipeline, killed.path()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HICRA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = killed
        .path()
        .join("checkpoints/step-000008/checkpoint.json");
    let started = Instant::now();
    while !checkpoint.exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let was_running = child.try_wait().unwrap().is_none();
    eprintln!("killed while running: {was_running}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(checkpoint.exists(), "no checkpoint after 120 s");

    // `--resume RUN_DIR` alone: the run's own invocation and its newest checkpoint.
    let out = hicra(&["run", "--resume", killed.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let resumed = training_rows(killed.path());
    let resume_step = if was_running { 8 } else { STEPS };
    for (step, row) in &expected {
        if *step >= resume_step || resumed.contains_key(step) {
            assert_eq!(
                resumed.get(step),
                Some(row),
                "step {step} differs after resuming"
            );
        }
    }
    assert_eq!(resumed.keys().last(), Some(&(STEPS - 1)));
    let moved = expected
        .values()
        .filter(|r| r["grad_norm"].as_f64() > Some(0.0))
        .count();
    assert!(
        moved as u64 >= STEPS - 1,
        "the policy must change on (almost) every step"
    );
}

#[test]
fn resuming_from_nothing_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = hicra(&["run", "--resume", empty.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("holds no complete checkpoint"),
        "{}",
        text(&out.stderr)
    );
}
