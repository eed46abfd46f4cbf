//! `hicra eval`: a run's checkpoint evaluated on the run's own held-out prompts gives the
//! run's last evaluation figures, twice the same; a dataset evaluated with a tiny pretrained
//! model; bad input refused before anything is sampled.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::{hicra, hicra_run, text};

const TINY: &str = "crates/hicra-pretrained/tests/fixtures/tiny_llama.gguf";

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("seconds");
    value
}

/// The last evaluation row of a run's metrics.
fn last_eval_row(run: &Path) -> BTreeMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(l).unwrap())
        .rfind(|row| row.contains_key("accuracy/eval"))
        .expect("the run evaluated")
}

#[test]
fn a_run_is_evaluated_as_its_evaluator_did_and_reproducibly() {
    let run = tempfile::tempdir().unwrap();
    let out = hicra_run(
        None,
        run.path(),
        &[
            "stages.sampler.steps=4",
            "stages.metrics.total_steps=4",
            "stages.learner.sft.steps=30",
            "stages.evaluator.eval_every=2",
            "stages.heldout.count=12",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let row = last_eval_row(run.path());
    assert_eq!(row["step"], 4);
    let (a, b) = (run.path().join("eval-a"), run.path().join("eval-b"));
    for dir in [&a, &b] {
        let out = hicra(&[
            "eval",
            "--model",
            run.path().to_str().unwrap(),
            "--scorers",
            "confidence,verifier",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("pass@1"),
            "{}",
            text(&out.stdout)
        );
    }
    let (sa, sb) = (summary(&a), summary(&b));
    assert_eq!(sa, sb, "one seed, one summary");
    let read = |d: &Path| std::fs::read_to_string(d.join("responses.jsonl")).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_eq!(read(&a).lines().count(), 12 * 4);
    assert_eq!(sa["policy_version"], 4);
    assert_eq!(sa["problems"], 12);
    let metrics = &sa["metrics"];
    // the same figures as the run's own evaluation of the same version
    for (ours, theirs) in [
        ("pass@1", "accuracy/eval"),
        ("pass@4", "pass@4/eval"),
        ("maj@4", "maj@4/eval"),
    ] {
        let (x, y) = (
            metrics[ours].as_f64().unwrap(),
            row[theirs].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() < 1e-12,
            "{ours} {x} vs the run's {theirs} {y}"
        );
    }
    assert!(
        sa["notes"]["best_of_4/verifier"]
            .as_str()
            .unwrap()
            .contains("oracle")
    );
    // an older checkpoint is another version
    let old = run.path().join("checkpoints").join("step-000004");
    assert!(old.is_dir());
}

#[test]
fn a_dataset_is_evaluated_with_a_pretrained_model_and_searched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tiny.jsonl");
    let rows: String = (0..3)
        .map(|i| {
            format!(
                "{{\"question\": \"What is {i} + {i}?\", \"answer\": \"so #### {}\"}}\n",
                2 * i
            )
        })
        .collect();
    std::fs::write(&data, rows).unwrap();
    let out_dir = dir.path().join("out");
    let base = [
        "eval",
        "--model",
        TINY,
        "--data",
        data.to_str().unwrap(),
        "--preset",
        "gsm8k",
        "--max-new-tokens",
        "8",
        "--max-seq-len",
        "256",
    ];
    let mut args: Vec<&str> = base.to_vec();
    args.extend([
        "--samples",
        "2",
        "--scorers",
        "confidence,judge",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let out = hicra(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = summary(&out_dir);
    assert_eq!(s["problems"], 3);
    for key in [
        "pass@1",
        "pass@2",
        "maj@2",
        "best_of_2/confidence",
        "best_of_2/judge",
        "unparsed_frac",
    ] {
        assert!(s["metrics"][key].is_number(), "{key} missing: {s}");
    }
    let search_dir = dir.path().join("search");
    let mut args: Vec<&str> = base.to_vec();
    args.extend([
        "--search",
        "beam:2",
        "--step-tokens",
        "3",
        "--max-steps",
        "2",
        "--out",
        search_dir.to_str().unwrap(),
    ]);
    let out = hicra(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = summary(&search_dir);
    assert_eq!(s["search"], "beam:2/judge");
    assert!(s["metrics"]["search/beam:2/judge"].is_number());
    assert_eq!(
        std::fs::read_to_string(search_dir.join("responses.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn bad_input_is_refused_before_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, "{\"question\": \"q\", \"answer\": \"#### 1\"}\n").unwrap();
    let out_dir = dir.path().join("never");
    let d = data.to_str().unwrap();
    let o = out_dir.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--data", "no/such.jsonl"], "no such file"),
        (&["--data", d, "--preset", "gsm9k"], "gsm9k"),
        (&["--data", d, "--scorers", "best"], "unknown scorer"),
        (&["--data", d, "--search", "tree:3"], "beam:W"),
        (
            &["--data", d, "--preset", "gsm8k", "--verifier", "nope"],
            "verifier.math",
        ),
        (&[], "--data"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["eval", "--model", TINY, "--out", o];
        args.extend_from_slice(extra);
        let out = hicra(&args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{extra:?} should fail");
        assert!(
            err.contains(expected),
            "{extra:?}: expected `{expected}` in {err}"
        );
        assert!(!out_dir.exists(), "{extra:?}: nothing may be written");
    }
    let out = hicra(&[
        "eval",
        "--model",
        "no/such/model.gguf",
        "--data",
        d,
        "--preset",
        "gsm8k",
        "--out",
        o,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no/such/model.gguf"),
        "{}",
        text(&out.stderr)
    );
}
