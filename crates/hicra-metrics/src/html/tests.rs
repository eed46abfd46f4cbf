use std::collections::BTreeMap;
use std::path::Path;

use hicra_messages::{FinishReason, RolloutRecord};
use serde_json::Value;

use super::data::{ROLLOUTS_PER_FILE, spread_within};
use super::*;
use crate::rollouts::files::file_name;

/// A rollout of `prompt` whose response is `words`, one token each, the first tagged planning.
fn record(step: u64, eval: bool, prompt: &str, sample: usize, words: &[&str]) -> RolloutRecord {
    let response: String = words.concat();
    let mut spans = Vec::new();
    let mut at = 0;
    for w in words {
        spans.push((at, at + w.len()));
        at += w.len();
    }
    let n = words.len();
    let planning: Vec<u8> = (0..n).map(|t| u8::from(t == 0)).collect();
    RolloutRecord {
        step,
        policy_version: step,
        eval,
        prompt_id: prompt.into(),
        task: "arithmetic".into(),
        question: "Compute 2 + 3.".into(),
        gold: "5".into(),
        sample,
        response,
        tokens: words.iter().map(|w| w.to_string()).collect(),
        token_spans: spans,
        token_ids: (0..n as u32).collect(),
        prompt_token_ids: vec![1, 2],
        reward: Some(1.0),
        correct: Some(true),
        answer: Some("5".into()),
        finish: Some(FinishReason::Stop),
        advantages: if eval { vec![] } else { vec![0.123456; n] },
        entropies: vec![0.5; n],
        logprobs: vec![-0.25; n],
        masks: BTreeMap::from([("planning".to_string(), planning)]),
        tree: None,
        step_rewards: vec![],
    }
}

fn write_rollouts(dir: &Path, step: u64, eval: bool, records: &[RolloutRecord]) {
    let folder = dir.join("rollouts");
    std::fs::create_dir_all(&folder).unwrap();
    let lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    std::fs::write(folder.join(file_name(step, eval)), lines.join("\n") + "\n").unwrap();
}

/// The JSON block the page embeds, parsed back.
fn page_data(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"report-data\">";
    let start = html.find(open).expect("a data block") + open.len();
    let end = start + html[start..].find("</script>").expect("the block ends");
    serde_json::from_str(&html[start..end]).expect("the data block is JSON")
}

/// A run with a learner, two shadow credit assigners, rollouts and a mining.
fn shadow_run(dir: &Path) {
    let lines: Vec<String> = (0..4)
        .map(|s| {
            let v = s as f64 / 10.0;
            format!(
                "{{\"step\":{s},\"reward/mean\":{v},\"advantage_mass/planning\":{v},\
                 \"planning_ratio\":0.1,\"grpo_shadow/advantage_mass/planning\":{},\
                 \"grpo_shadow/planning_ratio\":0.1,\"placebo_shadow/advantage_mass/planning\":0.2,\
                 \"placebo_shadow/planning_ratio\":0.1,\"grad_norm\":1.5,\"grad_norm/max\":2.0}}",
                v / 2.0
            )
        })
        .collect();
    std::fs::write(dir.join("metrics.jsonl"), lines.join("\n")).unwrap();
    let words = ["Let me", " try", " 2 + 3 = 5", "</script><b>"];
    let train: Vec<RolloutRecord> = (0..2).map(|i| record(2, false, "p-1", i, &words)).collect();
    write_rollouts(dir, 2, false, &train);
    write_rollouts(dir, 3, true, &[record(3, true, "p-9", 0, &words)]);
    std::fs::write(
        dir.join("mined_grams.jsonl"),
        "{\"step\":2,\"policy_version\":2,\"documents\":2,\"candidates\":1,\"clusters\":[{\"grams\":\
         [\"let me try\"],\"doc_freq\":2,\"kept\":true}],\"grams\":[\"let me try\"],\"lexicon_size\":1}\n",
    )
    .unwrap();
}

#[test]
fn a_run_with_shadow_assigners_renders_them_on_their_main_charts() {
    let dir = tempfile::tempdir().unwrap();
    shadow_run(dir.path());
    let report = write_html_report(dir.path()).unwrap();
    assert_eq!(report.path, dir.path().join("report.html"));
    assert_eq!((report.charts, report.overlaid), (5, 4), "{report:?}");
    assert_eq!(
        (report.rollout_batches, report.rollouts, report.minings),
        (2, 3, 1)
    );
    let html = std::fs::read_to_string(&report.path).unwrap();

    let data = page_data(&html);
    let charts = data["charts"].as_array().unwrap();
    let mains: Vec<&str> = charts.iter().map(|c| c["main"].as_str().unwrap()).collect();
    assert_eq!(
        mains,
        [
            "reward/mean",
            "planning_ratio",
            "grad_norm",
            "advantage_mass/planning",
            "grad_norm/max"
        ],
        "the main curves first, then the rest by name"
    );
    let mass = &charts[3]["overlays"];
    assert_eq!(mass[0][0], "grpo_shadow");
    assert_eq!(mass[0][1], "grpo_shadow/advantage_mass/planning");
    assert_eq!(mass[1][0], "placebo_shadow");
    assert_eq!(
        data["series"]["grpo_shadow/advantage_mass/planning"][3][1], 0.15,
        "the shadow's series travels with the page"
    );

    let batch = &data["rollouts"][0];
    assert_eq!(
        (batch["step"].as_u64(), batch["eval"].as_bool()),
        (Some(2), Some(false))
    );
    let rollout = &batch["records"][0];
    assert_eq!(rollout["tokens"][0], "Let me");
    assert_eq!(rollout["masks"]["planning"], "1000");
    assert_eq!(rollout["advantages"][0], 0.1235, "rounded to 4 decimals");
    assert_eq!(
        rollout["tokens"][3], "</script><b>",
        "text survives the embedding"
    );
    assert_eq!(data["rollouts"][1]["eval"], true);
    assert_eq!(data["mined"][0]["grams"][0], "let me try");

    // Self-contained: one inline style, two inline scripts, nothing fetched.
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "the response's </script> is escaped"
    );
    for fetch in ["src=", "<link", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(fetch),
            "the page fetches nothing: found {fetch}"
        );
    }
    assert!(html.contains("<title>hicra report: "));
}

#[test]
fn big_batches_are_trimmed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metrics.jsonl"), "{\"step\":0,\"x\":1}\n").unwrap();
    let many: Vec<RolloutRecord> = (0..ROLLOUTS_PER_FILE + 6)
        .map(|i| record(0, false, &format!("p-{:03}", i / 2), i % 2, &["a", "b"]))
        .collect();
    write_rollouts(dir.path(), 0, false, &many);
    let report = write_html_report(dir.path()).unwrap();
    assert_eq!(report.rollouts, ROLLOUTS_PER_FILE);
    assert_eq!(report.left_out.records, 6);
    let html = std::fs::read_to_string(&report.path).unwrap();
    let shown = &page_data(&html)["rollouts"][0];
    assert_eq!(shown["total"], ROLLOUTS_PER_FILE + 6);
    let last = &shown["records"][ROLLOUTS_PER_FILE - 1];
    assert_eq!(
        (last["prompt_id"].as_str(), last["sample"].as_u64()),
        (Some("p-031"), Some(1)),
        "whole groups in prompt order"
    );
}

#[test]
fn files_over_the_token_budget_are_spread_evenly() {
    assert_eq!(spread_within(&[5, 5, 5], 20).len(), 3);
    let kept: Vec<usize> = spread_within(&[10; 9], 50).into_iter().collect();
    assert_eq!(kept, [0, 2, 4, 6, 8], "first, last and evenly between");
    let kept: Vec<usize> = spread_within(&[10; 9], 25).into_iter().collect();
    assert_eq!(kept, [0, 8]);
    assert!(spread_within(&[100], 10).is_empty());
}

#[test]
fn a_run_without_metrics_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_html_report(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read ") && err.contains("metrics.jsonl"),
        "{err}"
    );
}
