//! Every file in `pipelines/` validates with the binary's own stage kinds, and runs end to end
//! for two steps with a tiny model and short warm-up.

use std::path::{Path, PathBuf};

use crate::cli::{hicra, text};

fn pipelines() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

/// `--set` overrides that shrink a pipeline to a smoke run, chosen by each stage's kind (read
/// from the merged document, so stages inherited through `extends` count too).
fn smoke_overrides(file: &Path) -> Vec<String> {
    use hicra::flow::value::ValueKind;
    let loaded = hicra::flow::load::load(&[file.to_path_buf()], &[])
        .unwrap_or_else(|(_, d)| panic!("{d:?}"));
    let int = |stage: &hicra::flow::value::Table, key: &str| match stage.get(key).map(|v| &v.kind) {
        Some(ValueKind::Integer(n)) => *n,
        _ => 0,
    };
    let mut sets = Vec::new();
    let root = loaded.root.as_table().unwrap();
    let stages = root
        .get("stages")
        .and_then(|s| s.as_table())
        .cloned()
        .unwrap_or_default();
    for (id, stage) in &stages.entries {
        let stage = stage.as_table().unwrap();
        let kind = stage
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        let id = &id.name;
        let on_demand = stage
            .get("inputs")
            .and_then(|i| i.as_table())
            .is_some_and(|i| i.get("demand").is_some());
        match kind {
            "sampler.policy" if int(stage, "eval_every") == 0 && !on_demand => {
                sets.push(format!("stages.{id}.steps=2"))
            }
            "filter.dynamic_sampling" => sets.push(format!("stages.{id}.steps=2")),
            "sampler.policy" => sets.push(format!("stages.{id}.group_size=2")),
            "learner.policy_gradient" => {
                sets.push(format!("stages.{id}.sft.steps=2"));
                sets.push(format!("stages.{id}.sft.batch_size=4"));
                sets.push(format!("stages.{id}.model.hidden_size=16"));
                sets.push(format!("stages.{id}.model.intermediate_size=32"));
                sets.push(format!("stages.{id}.model.num_layers=1"));
            }
            "sink.metrics" => sets.push(format!("stages.{id}.total_steps=2")),
            k if k.starts_with("source.") && int(stage, "count") > 0 => {
                sets.push(format!("stages.{id}.count=4"))
            }
            _ => {}
        }
    }
    sets
}

#[test]
fn every_pipeline_validates() {
    for path in pipelines() {
        let out = hicra(&["validate", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}:\n{}",
            path.display(),
            text(&out.stderr)
        );
    }
}

#[test]
fn every_pipeline_runs_two_steps_with_a_tiny_model() {
    for path in pipelines() {
        let out_dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "run".to_string(),
            path.display().to_string(),
            "--out".into(),
            out_dir.path().display().to_string(),
        ];
        for set in smoke_overrides(&path) {
            args.push("--set".into());
            args.push(set);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = hicra(&args);
        assert!(
            out.status.success(),
            "{}:\n{}",
            path.display(),
            text(&out.stderr)
        );
        let metrics = std::fs::read_to_string(out_dir.path().join("metrics.jsonl")).unwrap();
        let steps: Vec<serde_json::Value> = metrics
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // two training steps, plus a final evaluation record when the pipeline has an evaluator
        assert!(
            (2..=3).contains(&steps.len()),
            "{}: {metrics}",
            path.display()
        );
        for key in [
            "reward/mean",
            "accuracy/train",
            "loss/policy",
            "grad_norm",
            "planning_ratio",
            "entropy/all",
        ] {
            assert!(
                steps[1].get(key).is_some_and(|v| v.is_number()),
                "{}: no `{key}` in {}",
                path.display(),
                steps[1]
            );
        }
        let events = std::fs::read_dir(out_dir.path().join("tensorboard"))
            .unwrap()
            .count();
        assert_eq!(events, 1, "one TensorBoard event file");
    }
}
