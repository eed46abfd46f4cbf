//! Process supervision end to end on the tiny chains testbed, as a user runs it: a policy
//! trained from scratch (`pipelines/chains-policy.toml`, shrunk), Monte-Carlo step labels
//! (`pipelines/process/chains-labels.toml` and `hicra annotate`), a PRM trained on them
//! (`pipelines/process/chains-prm.toml`), measured (`hicra prm eval`), and used to pick
//! best-of-N responses and to guide MCTS (`hicra eval`), and in RL
//! (`pipelines/process/chains-step-credit.toml`: tree rollouts with tree credit and HICRA,
//! PRM process rewards); then the inputs the loop refuses.

use std::path::Path;

use crate::cli::{hicra, hicra_run, text};

const TINY_GGUF: &str = "crates/hicra-pretrained/tests/fixtures/tiny_llama.gguf";

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Stderr with miette's line wrapping undone.
fn said(out: &std::process::Output) -> String {
    text(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn labels_then_a_prm_then_prm_guided_best_of_n_and_mcts_and_step_credit_in_rl() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let (policy, labels, prm_run) = (at("policy"), at("labels"), at("prm"));

    // a small policy: short warm-up, one RL step
    let out = hicra_run(
        Some("pipelines/chains-policy.toml"),
        Path::new(&policy),
        &[
            "stages.learner.sft.steps=120",
            "stages.sampler.steps=1",
            "stages.sampler.prompts_per_step=2",
            "stages.sampler.group_size=2",
            "stages.metrics.total_steps=1",
            "stages.heldout.count=2",
        ],
    );
    ok(&out, "chains-policy");

    // labels in a pipeline
    let out = hicra_run(
        Some("pipelines/process/chains-labels.toml"),
        Path::new(&labels),
        &[
            format!("stages.labels.model={policy}"),
            "stages.problems.count=10".into(),
            "stages.labels.solutions=2".into(),
            "stages.labels.completions=4".into(),
            "stages.metrics.total_steps=10".into(),
        ],
    );
    ok(&out, "chains-labels");
    let file = format!("{labels}/labels.jsonl");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20, "two solutions for each of ten problems");
    for l in &lines {
        let steps = l["steps"].as_array().unwrap().len();
        assert!(steps >= 1);
        assert_eq!(l["soft"].as_array().unwrap().len(), steps);
        assert_eq!(
            l["truth"].as_array().unwrap().len(),
            steps,
            "chains judge steps"
        );
        assert_eq!(l["segmentation"], "newline");
    }
    let summary = json(&dir.path().join("labels/labels.summary.json"));
    assert_eq!(summary["cost"]["solutions"], 20);
    assert!(summary["labels"]["hard_accuracy"].is_number(), "{summary}");

    // the PRM in a pipeline, from the policy
    let out = hicra_run(
        Some("pipelines/process/chains-prm.toml"),
        Path::new(&prm_run),
        &[
            format!("stages.prm.labels={file}"),
            format!("stages.prm.model={policy}"),
            "stages.prm.train.epochs=2".into(),
            "stages.prm.train.batch_size=4".into(),
            "stages.prm.train.holdout_fraction=0.3".into(),
            "stages.metrics.total_steps=10".into(),
        ],
    );
    ok(&out, "chains-prm");
    let prm = format!("{prm_run}/prm");
    let info = json(&dir.path().join("prm/prm/prm.json"));
    assert_eq!(info["segmentation"], "newline");
    let metrics = std::fs::read_to_string(format!("{prm_run}/metrics.jsonl")).unwrap();
    assert!(metrics.contains("heldout/loss"), "{metrics}");

    // measured on its own labels
    let out = hicra(&[
        "prm",
        "eval",
        "--prm",
        &prm,
        "--labels",
        &file,
        "--baselines",
        "confidence",
        "--policy",
        &policy,
        "--max-seq-len",
        "80",
    ]);
    ok(&out, "prm eval");
    let figures: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert!(
        figures["prm"]["loss"].as_f64().unwrap().is_finite(),
        "{figures}"
    );
    assert!(
        figures["confidence"]["steps"].as_f64().unwrap() > 0.0,
        "{figures}"
    );

    // best-of-4 with the PRM beside the oracle
    let problems = "pipelines/chains-policy.toml:heldout";
    let best_of = at("best-of");
    let out = hicra(&[
        "eval",
        "--model",
        &policy,
        "--problems",
        problems,
        "--count",
        "3",
        "--samples",
        "4",
        "--max-new-tokens",
        "40",
        "--scorers",
        &format!("verifier,prm:{prm_run}"),
        "--out",
        &best_of,
    ]);
    ok(&out, "eval best-of-4 with the PRM");
    let s = json(&dir.path().join("best-of/summary.json"));
    let m = &s["metrics"];
    let (prm_pick, oracle) = (
        m["best_of_4/prm"].as_f64().unwrap(),
        m["best_of_4/verifier"].as_f64().unwrap(),
    );
    assert!(prm_pick <= oracle, "nothing beats the oracle: {m}");

    // MCTS guided by the PRM, within its token budget
    let mcts = at("mcts");
    let out = hicra(&[
        "eval",
        "--model",
        &policy,
        "--problems",
        problems,
        "--count",
        "2",
        "--max-new-tokens",
        "40",
        "--search",
        "mcts:120",
        "--step-scorer",
        &format!("prm:{prm}"),
        "--steps",
        "newline",
        "--step-tokens",
        "16",
        "--out",
        &mcts,
    ]);
    ok(&out, "eval mcts with the PRM");
    let s = json(&dir.path().join("mcts/summary.json"));
    let drawn = s["metrics"]["search/mcts:120/prm/tokens_drawn"]
        .as_f64()
        .unwrap();
    assert!(drawn <= 120.0, "{}", s["metrics"]);

    // step-level credit in RL: tree rollouts with tree credit + HICRA, then PRM process rewards
    let shrink = |name: &str| {
        vec![
            format!("stages.learner.model.checkpoint={policy}"),
            "stages.sampler.steps=2".into(),
            "stages.sampler.prompts_per_step=2".into(),
            "stages.sampler.max_new_tokens=40".into(),
            "stages.evaluator.max_new_tokens=40".into(),
            "stages.heldout.count=2".into(),
            "stages.metrics.total_steps=2".into(),
            format!("run.name={name}"),
        ]
    };
    let tree_run = at("tree");
    let mut sets = shrink("tree");
    sets.extend([
        "stages.sampler.group_size=2".to_string(),
        "stages.sampler.tree={depth=2,points=1,children=1,max_leaves=5}".into(),
        "stages.credit.step_credit={kind=\"tree\"}".into(),
        "stages.credit.kind=credit.hicra".into(),
    ]);
    let step_credit = "pipelines/process/chains-step-credit.toml";
    let out = hicra_run(Some(step_credit), Path::new(&tree_run), &sets);
    ok(&out, "tree rollouts with tree credit and HICRA");
    let metrics = std::fs::read_to_string(format!("{tree_run}/metrics.jsonl")).unwrap();
    for figure in [
        "tree/sampled_over_leaf_tokens",
        "tree/leaves_per_prompt",
        "tree/value_spread",
        "learner/tree_repeat_frac",
    ] {
        assert!(metrics.contains(figure), "{figure}: {metrics}");
    }
    let prm_rl = at("prm-rl");
    let mut sets = shrink("prm-rl");
    sets.extend([
        "stages.sampler.group_size=3".to_string(),
        "stages.process.kind=reward.process".into(),
        "stages.process.inputs.rollouts=verifier.rollouts".into(),
        format!("stages.process.prm={prm_run}"),
        "stages.process.max_seq_len=80".into(),
        "stages.tagger.inputs.rollouts=process.rollouts".into(),
        "stages.credit.step_credit={kind=\"process\",weight=0.2}".into(),
        "stages.metrics.inputs.metrics=[\"learner.metrics\",\"credit.metrics\",\"process.metrics\"]".into(),
    ]);
    let out = hicra_run(Some(step_credit), Path::new(&prm_rl), &sets);
    ok(&out, "PRM process rewards in RL");
    let metrics = std::fs::read_to_string(format!("{prm_rl}/metrics.jsonl")).unwrap();
    assert!(metrics.contains("process/step_score_mean"), "{metrics}");

    // the command, with a binary search for the first bad step
    let annotated = at("annotated.jsonl");
    let out = hicra(&[
        "annotate",
        "--model",
        &policy,
        "--problems",
        "pipelines/chains-policy.toml:problems",
        "--count",
        "3",
        "--solutions",
        "2",
        "--completions",
        "4",
        "--strategy",
        "binary-search",
        "--max-seq-len",
        "80",
        "--out",
        &annotated,
    ]);
    ok(&out, "annotate --strategy binary-search");
    assert_eq!(
        std::fs::read_to_string(&annotated).unwrap().lines().count(),
        6
    );

    // a PRM that reads text with another tokenizer than the policy is refused
    let out = hicra(&[
        "eval",
        "--model",
        TINY_GGUF,
        "--problems",
        problems,
        "--count",
        "1",
        "--samples",
        "2",
        "--scorers",
        &format!("prm:{prm}"),
        "--out",
        &at("never"),
    ]);
    assert!(!out.status.success());
    assert!(said(&out).contains("another tokenizer"), "{}", said(&out));
}

#[test]
fn the_loop_refuses_what_it_cannot_use() {
    // labels that are not there, named with how to make them
    let out = hicra(&[
        "prm",
        "train",
        "--labels",
        "no/such/labels.jsonl",
        "--model",
        TINY_GGUF,
        "--out",
        "never",
    ]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("hicra annotate"),
        "{}",
        text(&out.stderr)
    );
    // a label stage without a policy, and a PRM stage without labels, at validation
    let out = hicra(&[
        "validate",
        "pipelines/process/chains-labels.toml",
        "--set",
        "stages.labels.model=no/such/run",
        "--set",
        "stages.labels.completions=0",
    ]);
    assert!(!out.status.success());
    let err = said(&out);
    assert!(
        err.contains("no/such/run") && err.contains("completions"),
        "{err}"
    );
    let out = hicra(&[
        "validate",
        "pipelines/process/chains-prm.toml",
        "--set",
        &format!("stages.prm.model={TINY_GGUF}"),
        "--set",
        "stages.prm.labels=no/such/labels.jsonl",
    ]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("no/such/labels.jsonl"),
        "{}",
        said(&out)
    );
    // annotating needs problems
    let out = hicra(&["annotate", "--model", TINY_GGUF]);
    assert!(said(&out).contains("--problems"), "{}", text(&out.stderr));
}
