//! Runs under `mpirun` (built with `--features mpi`; CI installs Open MPI): data-parallel
//! learner replicas train exactly as one process does, the three-rank quickstart runs, and a
//! rank that dies stops the job with its rank named.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hicra::model::RuntimeBackend;
use hicra::train::flat;

use crate::cli::{assert_ran, hicra_run, run_args, small_quickstart, text};

/// `mpirun -np N hicra ARGS...`, oversubscribed (CI has 2 cores), as root if need be.
fn mpirun(np: usize, args: &[String]) -> Command {
    let mut command = Command::new("mpirun");
    command
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            &np.to_string(),
        ])
        .arg(env!("CARGO_BIN_EXE_hicra"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("HICRA_LOG", "warn")
        // containers often forbid the cross-process memory copies Open MPI tries first
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    command
}

/// A quickstart of `steps` steps with a small model, checkpointing at its end.
fn small(steps: u64) -> Vec<String> {
    let mut sets = vec![
        format!("stages.sampler.steps={steps}"),
        format!("stages.metrics.total_steps={steps}"),
        format!("stages.learner.checkpoint_every={steps}"),
    ];
    sets.extend(small_quickstart());
    sets
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn weights(run: &Path, step: u64) -> Vec<f32> {
    let dir = run.join(format!("checkpoints/step-{step:06}"));
    let loaded = hicra::train::trained::load_policy::<RuntimeBackend>(
        dir.to_str().unwrap(),
        None,
        &hicra::model::cpu(),
    )
    .unwrap();
    flat::parameters(&loaded.model)
}

/// Trains the quickstart (with `extra` settings) for `steps` steps in one process and as two
/// learner replicas under `mpirun`; checks that both give the same weights and gradient norms
/// and returns the replicas' metrics.
fn replicas_match_one_process(steps: u64, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut sets = small(steps);
    sets.extend(extra.iter().map(|s| s.to_string()));
    let one = tempfile::tempdir().unwrap();
    let out = hicra_run(Some("pipelines/quickstart.toml"), one.path(), &sets);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let two = tempfile::tempdir().unwrap();
    sets.push("run.placement.learner=0-1".into());
    let out = mpirun(
        2,
        &run_args(Some("pipelines/quickstart.toml"), two.path(), &sets),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (a, b) = (weights(one.path(), steps), weights(two.path(), steps));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1e-5, "weights differ by up to {worst}");
    eprintln!("2 replicas vs 1 process: weights differ by up to {worst:e} after {steps} steps");
    let (m1, m2) = (metrics(one.path()), metrics(two.path()));
    for step in 0..steps as usize {
        let norm = m1[step]["grad_norm"].as_f64().unwrap();
        assert!(
            norm > 0.0,
            "no gradient at step {step}: nothing was compared"
        );
        let other = m2[step]["grad_norm"].as_f64().unwrap();
        assert!(
            (norm - other).abs() <= 1e-4 * norm,
            "grad_norm {norm} vs {other}"
        );
        assert_eq!(m2[step]["distributed/learner_replicas"], 2.0);
        assert_eq!(m2[step]["distributed/world_size"], 2.0);
    }
    m2
}

#[test]
fn two_learner_replicas_on_half_batches_match_one_process_on_the_full_batch() {
    replicas_match_one_process(3, &[]);
}

#[test]
fn lora_replicas_match_one_process_and_exchange_only_adapter_gradients() {
    let m = replicas_match_one_process(3, &["stages.learner.lora={rank=2,alpha=4}"]);
    for step in &m[..3] {
        // per optimiser step: the adapters' gradients and seven figures as f32, the largest
        // log-prob gap as f64; before the first, the lead's adapters broadcast once
        let adapters = step["lora/trainable_params"].as_f64().unwrap();
        let steps = step["learner/optimizer_steps"].as_f64().unwrap();
        let mib = step["distributed/collective_mib"].as_f64().unwrap() * 1024.0 * 1024.0;
        let least = steps * ((adapters + 7.0) * 4.0 + 8.0);
        let most = least + adapters * 4.0 + 64.0;
        assert!(
            (least..=most).contains(&mib),
            "{mib} bytes sent for {adapters} adapter parameters over {steps} steps"
        );
    }
}

#[test]
fn the_three_rank_quickstart_runs_with_its_world_in_the_metrics() {
    let run = tempfile::tempdir().unwrap();
    let out = mpirun(
        3,
        &run_args(
            Some("pipelines/quickstart-distributed.toml"),
            run.path(),
            &small(6),
        ),
    )
    .output()
    .unwrap();
    assert_ran(&out, Path::new("pipelines/quickstart-distributed.toml"));
    let stderr = text(&out.stderr);
    for line in ["rank 0 of 3", "rank 1 of 3", "rank 2 of 3"] {
        assert!(stderr.contains(line), "{stderr}");
    }
    assert!(stderr.contains("runs sampler"), "{stderr}");
    let rows = metrics(run.path());
    let trained: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r.get("grad_norm").is_some())
        .collect();
    assert_eq!(trained.len(), 6, "{rows:?}");
    for row in trained {
        assert_eq!(row["distributed/world_size"], 3.0);
        assert!(row["distributed/collective_mib"].as_f64().unwrap() > 0.0);
        assert!(row["reward/mean"].is_number());
    }
    // the lead replica wrote the checkpoint, with every file
    assert!(
        run.path()
            .join("checkpoints/step-000006/model.mpk")
            .exists()
    );
}

#[test]
fn killing_the_sampler_rank_stops_the_job_and_names_the_rank() {
    let run = tempfile::tempdir().unwrap();
    let mut sets = small(100_000);
    sets.push("stages.learner.checkpoint_every=0".into());
    let mut child = mpirun(
        3,
        &run_args(
            Some("pipelines/quickstart-distributed.toml"),
            run.path(),
            &sets,
        ),
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let pid = loop {
        let line = lines.next().expect("the job ended early").unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("rank 2 of 3") {
            let pid = line
                .split("(pid ")
                .nth(1)
                .unwrap()
                .split(')')
                .next()
                .unwrap();
            break pid.to_string();
        }
    };
    // wait until training is under way: some steps in the metrics
    let started = Instant::now();
    while std::fs::read_to_string(run.path().join("metrics.jsonl")).map_or(0, |m| m.lines().count())
        < 3
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success());
    let killed_at = Instant::now();
    let rest =
        std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if killed_at.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("the job still runs 30 s after its sampler rank died:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stopped_in = killed_at.elapsed();
    log.push_str(&rest.join().unwrap());
    assert!(!status.success());
    assert!(log.contains("rank 2"), "{log}");
    assert!(
        stopped_in < Duration::from_secs(20),
        "stopped after {stopped_in:?}"
    );
    eprintln!("stopped {stopped_in:?} after the kill:\n{log}");
}

/// The processes a placed pipeline needs: one more than the highest rank it names.
fn world_size_of(path: &Path) -> usize {
    let loaded = hicra::flow::load::load(&[path.to_path_buf()], &[]).unwrap();
    let run = loaded.root.as_table().unwrap().get("run").unwrap();
    let placement = run.as_table().unwrap().get("placement").unwrap();
    placement
        .as_table()
        .unwrap()
        .entries
        .iter()
        .flat_map(|(_, v)| hicra::flow::placement::parse_ranks(v.as_str().unwrap()).unwrap())
        .max()
        .map_or(1, |m| m + 1)
}

#[test]
fn every_placed_pipeline_runs_two_steps_under_mpirun() {
    use crate::pipelines::{pipelines, placed, smoke_overrides};
    let placed: Vec<_> = pipelines().into_iter().filter(|p| placed(p)).collect();
    assert!(placed.len() >= 2, "{placed:?}");
    for path in placed {
        let run = tempfile::tempdir().unwrap();
        let mut sets = smoke_overrides(&path);
        // CI has no GPU: every stage that names a device runs on the CPU
        let text_of = std::fs::read_to_string(&path).unwrap();
        for id in ["learner", "sampler", "evaluator"] {
            if text_of.contains(&format!("[stages.{id}]")) {
                sets.push(format!("stages.{id}.device=cpu"));
            }
        }
        let np = world_size_of(&path);
        let out = mpirun(np, &run_args(path.to_str(), run.path(), &sets))
            .output()
            .unwrap();
        assert_ran(&out, &path);
        let rows = metrics(run.path());
        let trained: Vec<_> = rows
            .iter()
            .filter(|r| r.get("grad_norm").is_some())
            .collect();
        assert_eq!(trained.len(), 2, "{}: {rows:?}", path.display());
        assert_eq!(trained[1]["distributed/world_size"], np as f64);
    }
}

#[test]
fn a_three_rank_run_resumes_from_its_checkpoint_with_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, resumed) = (dir.path().join("whole"), dir.path().join("resumed"));
    let mut sets = small(6);
    sets.extend([
        "stages.learner.checkpoint_every=3".into(),
        "stages.learner.keep_checkpoints=0".into(),
    ]);
    let pipeline = "pipelines/quickstart-distributed.toml";
    let out = mpirun(3, &run_args(Some(pipeline), &whole, &sets))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // the resumed run starts from the step-3 checkpoint of a copy, without the later one
    let copy = Command::new("cp")
        .args(["-r"])
        .arg(&whole)
        .arg(&resumed)
        .status()
        .unwrap();
    assert!(copy.success());
    std::fs::remove_dir_all(resumed.join("checkpoints/step-000006")).unwrap();
    let mut args = run_args(Some(pipeline), &resumed, &sets);
    args.insert(1, "--resume".into());
    args.insert(
        2,
        resumed
            .join("checkpoints/step-000003")
            .display()
            .to_string(),
    );
    let out = mpirun(3, &args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let figures = |run: &Path| -> Vec<(u64, f64)> {
        metrics(run)
            .iter()
            .filter(|r| r.get("grad_norm").is_some())
            .map(|r| {
                (
                    r["step"].as_u64().unwrap(),
                    r["loss/policy"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (figures(&whole), figures(&resumed));
    assert_eq!(a.len(), 6);
    assert_eq!(
        a, b,
        "the resumed steps 3-5 differ from the uninterrupted run's"
    );
    assert_eq!(weights(&whole, 6), weights(&resumed, 6));
}

/// A stage that fails on a rank other than 0 (here: its GPU is absent, which only building the
/// stage finds) stops the whole job, and the message names the rank and the stage.
#[cfg(feature = "cuda")]
#[test]
fn a_stage_failing_on_another_rank_stops_the_job_naming_rank_and_stage() {
    let run = tempfile::tempdir().unwrap();
    let mut sets = small(100_000);
    sets.push("stages.sampler.device=cuda:63".into());
    let started = Instant::now();
    let out = mpirun(
        3,
        &run_args(
            Some("pipelines/quickstart-distributed.toml"),
            run.path(),
            &sets,
        ),
    )
    .output()
    .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rank 2 of 3 failed: stage `sampler` (sampler.policy) could not be built"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(120), "{stderr}");
}
