//! `hicra verify`: judging JSON lines with the math and Countdown checkers.

use crate::cli::{hicra, hicra_stdin, text};

fn lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn verify_adds_the_verdict_to_each_line_in_order() {
    let input = [
        "{\"id\": 1, \"gold\": \"#### 1,000\", \"response\": \"so the total is \\\\boxed{1000}.\"}",
        r#"{"id": 2, "gold": "\\frac{1}{2}", "response": "The final answer is $0.5$"}"#,
        r#"{"id": 3, "gold": "7", "response": "I do not know"}"#,
        r#"{"id": 4, "gold": 7, "response": "\\boxed{8}"}"#,
        r#"{"id": 5, "gold": "1", "response": "\\boxed{9^{9^{9}}}"}"#,
    ]
    .join("\n");
    let out = hicra_stdin(
        &["verify", "--input", "-", "--no-last-number-fallback"],
        &input,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = lines(&out.stdout);
    let ids: Vec<i64> = got.iter().map(|v| v["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let verdicts: Vec<bool> = got
        .iter()
        .map(|v| v["equivalent"].as_bool().unwrap())
        .collect();
    assert_eq!(verdicts, [true, true, false, false, false]);
    assert_eq!(got[0]["extracted"], "1000");
    assert!(got[2]["extracted"].is_null());
    assert_eq!(got[3]["extracted"], "8");
    assert!(got[4]["reason"].as_str().unwrap().len() > 3);
}

#[test]
fn verify_judges_countdown_and_reports_bad_lines_by_number() {
    let out = hicra(&[
        "verify",
        "--checker",
        "countdown",
        "--response",
        "<answer>(25 - 1) * 3</answer>",
        "--numbers",
        "1,3,25,50",
        "--target",
        "72",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = &lines(&out.stdout)[0];
    assert_eq!(v["equivalent"], true);
    assert_eq!(v["extracted"], "(25 - 1) * 3");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(
        &path,
        "{\"gold\": \"1\", \"response\": \"1\"}\n{\"gold\": \"1\"}\n",
    )
    .unwrap();
    let out = hicra(&["verify", "--input", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("in.jsonl:2") && err.contains("`response`"),
        "{err}"
    );
}

/// A correct (or wrong) rollout of `text`, one token per byte as a byte-level tokenizer gives.
fn mining_record(step: u64, sample: usize, text: &str, correct: bool) -> String {
    let n = text.len();
    let record = hicra::messages::RolloutRecord {
        step,
        policy_version: step,
        eval: false,
        prompt_id: format!("p-{sample}"),
        task: "arithmetic".into(),
        question: "Compute 2 + 3.".into(),
        gold: "5".into(),
        sample,
        response: text.into(),
        tokens: text.chars().map(String::from).collect(),
        token_spans: (0..n).map(|i| (i, i + 1)).collect(),
        token_ids: text.bytes().map(|b| u32::from(b) + 3).collect(),
        prompt_token_ids: vec![1, 40, 41],
        reward: Some(f64::from(u8::from(correct))),
        correct: Some(correct),
        answer: None,
        finish: None,
        advantages: vec![],
        entropies: vec![0.5; n],
        logprobs: vec![-0.5; n],
        masks: Default::default(),
        tree: None,
        step_rewards: vec![],
    };
    serde_json::to_string(&record).unwrap()
}

#[test]
fn mine_finds_the_phrases_correct_rollouts_share_and_writes_a_lexicon_tag_reads() {
    let dir = tempfile::tempdir().unwrap();
    let rollouts = dir.path().join("rollouts");
    std::fs::create_dir(&rollouts).unwrap();
    let fillers = [
        "add two",
        "carry one",
        "count up",
        "sum it",
        "go on",
        "check it",
    ];
    let mut lines: Vec<String> = (0..12)
        .map(|i| {
            let opening = if i < 9 {
                "wait let me rethink this. "
            } else {
                ""
            };
            let filler = fillers[i % fillers.len()];
            let text = format!("{opening}{filler} {i}, then {} more.", i + 1);
            mining_record(0, i, &text, true)
        })
        .collect();
    // Wrong responses are never mined, however often their phrases occur.
    lines.extend((12..20).map(|i| mining_record(0, i, "a totally wrong guess indeed", false)));
    std::fs::write(
        rollouts.join("step-00000000.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();

    let grams = dir.path().join("grams.json");
    let run = dir.path().to_str().unwrap();
    let model = "crates/hicra-pretrained/tests/fixtures/tiny_llama.gguf";
    let out = hicra(&[
        "mine",
        "--input",
        run,
        "--model",
        model,
        "--out",
        grams.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mined: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mined["documents"], 12, "the correct responses only");
    let kept: Vec<&str> = mined["grams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    let top = &mined["clusters"][0];
    assert_eq!(top["doc_freq"], 9, "the shared opening ranks first: {top}");
    assert!(top["kept"].as_bool().unwrap());
    assert!(
        kept.iter().any(|g| g.contains("let me rethink")),
        "the shared opening is kept: {kept:?}"
    );
    let candidates = mined["clusters"].to_string();
    assert!(
        !candidates.contains("totally"),
        "wrong responses are not mined"
    );

    let tagged = hicra(&[
        "tag",
        "--lexicon",
        grams.to_str().unwrap(),
        "--text",
        "hmm, wait let me rethink this. 2 + 3 = 5",
    ]);
    assert!(tagged.status.success(), "{}", text(&tagged.stderr));
    assert!(
        text(&tagged.stdout).contains("let me rethink"),
        "the written lexicon tags the phrase: {}",
        text(&tagged.stdout)
    );
}
