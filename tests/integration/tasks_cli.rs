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
