//! `hicra experiment`: a 2 arm x 2 seed experiment on a tiny quickstart runs every (arm, seed),
//! summarises them with intervals and a seed-paired comparison, refuses to overwrite without
//! `--resume`, and on `--resume` skips the finished runs; an arm that does not validate is
//! refused before anything runs (a run failing at run time: `runs`' unit test).

use std::path::Path;

use crate::cli::{hicra, text};

const SPEC: &str = r#"
[experiment]
name = "tiny"
seeds = [1, 2]
metric = "reward/mean"
take = "mean_last"
last_k = 2
baseline = "grpo"
parallel = 2
set = { "stages.sampler.steps" = 4, "stages.metrics.total_steps" = 4, "stages.learner.sft.steps" = 10, "stages.learner.model.hidden_size" = 32, "stages.learner.model.intermediate_size" = 64, "stages.sampler.prompts_per_step" = 4, "stages.sampler.group_size" = 4, "stages.heldout.count" = 4, "stages.evaluator.eval_every" = 2 }

[arms.grpo]
set = { "stages.credit.kind" = "credit.grpo" }

[arms.hicra]
set = { "stages.credit.kind" = "credit.hicra" }
"#;

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn an_experiment_runs_resumes_and_skips_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("tiny.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = dir.path().join("out");
    let (spec_s, out_s) = (spec.display().to_string(), out.display().to_string());

    let first = hicra(&["experiment", &spec_s, "--out", &out_s]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let s = summary(&out);
    for arm in ["grpo", "hicra"] {
        assert_eq!(s["arms"][arm]["n"], 2, "{s}");
        assert_eq!(
            s["arms"][arm]["values"].as_object().unwrap().len(),
            2,
            "{s}"
        );
        assert!(s["arms"][arm]["mean"].as_f64().unwrap().is_finite(), "{s}");
        assert!(out.join(arm).join("seed-2").join("metrics.jsonl").is_file());
    }
    let cmp = &s["comparisons"][0];
    assert_eq!(
        (cmp["arm"].as_str(), cmp["baseline"].as_str()),
        (Some("hicra"), Some("grpo"))
    );
    assert_eq!(cmp["n"], 2);
    let table = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(table.contains("| hicra | 2 |"), "{table}");
    assert!(out.join("curves.png").is_file());

    let again = hicra(&["experiment", &spec_s, "--out", &out_s]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("--resume"),
        "{}",
        text(&again.stderr)
    );

    // a third arm that does not validate: refused before anything runs
    let broken =
        format!("{SPEC}\n[arms.broken]\nset = {{ \"stages.learner.learning_rate\" = -1.0 }}\n");
    std::fs::write(&spec, broken).unwrap();
    let refused = hicra(&["experiment", &spec_s, "--out", &out_s, "--resume"]);
    let log = text(&refused.stderr);
    assert!(!refused.status.success(), "{log}");
    assert!(
        log.contains("arm `broken`") && log.contains("learning_rate"),
        "{log}"
    );
    assert!(
        log.contains("1 of 3 arms refused; nothing was run"),
        "{log}"
    );
    assert!(!out.join("broken").exists());

    // a third arm that validates: the four finished runs are skipped, two new ones run
    let third =
        format!("{SPEC}\n[arms.hicra2]\nset = {{ \"stages.credit.kind\" = \"credit.hicra\" }}\n");
    std::fs::write(&spec, third).unwrap();
    let resumed = hicra(&["experiment", &spec_s, "--out", &out_s, "--resume"]);
    let log = text(&resumed.stderr);
    assert!(resumed.status.success(), "{log}");
    assert_eq!(log.matches("finished before, skipped").count(), 4, "{log}");
    assert_eq!(log.matches("done in").count(), 2, "{log}");
    let after = summary(&out);
    assert_eq!(after["arms"]["grpo"], s["arms"]["grpo"]);
    // runs are deterministic: the same arm under another name gives the same values
    assert_eq!(
        after["arms"]["hicra2"]["values"],
        s["arms"]["hicra"]["values"]
    );
}
