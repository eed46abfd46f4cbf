//! `source.dataset` on small files written here (the committed GSM8K/MATH-500 samples are
//! read in `tests/datasets.rs`).

use super::*;

fn ctx() -> BuildContext {
    BuildContext {
        id: "data".into(),
        run: Default::default(),
    }
}

fn config(path: &std::path::Path, extra: &str) -> DatasetConfig {
    let text = format!("path = {:?}\n{extra}", path.display().to_string());
    toml::from_str(&text).unwrap()
}

fn file(lines: &[&str]) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), lines.join("\n")).unwrap();
    file
}

fn all(dataset: &Dataset) -> Vec<Prompt> {
    dataset.first(usize::MAX)
}

fn rows(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"q": "question {i}", "a": {i}, "k": "id{i}"}}"#))
        .collect()
}

const CUSTOM: &str = "question_field = \"q\"\nanswer_field = \"a\"\nid_field = \"k\"\n";

#[test]
fn custom_fields_map_onto_prompts() {
    let lines = rows(3);
    let f = file(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let d = Dataset::load(
        config(f.path(), &format!("{CUSTOM}shuffle = false")),
        &ctx(),
    )
    .unwrap();
    let prompts = all(&d);
    assert_eq!(prompts.len(), 3);
    assert_eq!(prompts[2].id, "id2");
    assert_eq!(prompts[2].answer, "2");
    assert_eq!(prompts[2].question, "question 2");
    assert_eq!(prompts[2].cursor, 2);
    assert!(prompts[2].messages[0].content.starts_with("question 2\n"));
    let task = prompts[0].task.clone();
    assert!(!task.is_empty(), "task from the file stem");
}

#[test]
fn epochs_reshuffle_repeat_and_count_are_deterministic() {
    let lines = rows(10);
    let f = file(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let load =
        |extra: &str| Dataset::load(config(f.path(), &format!("{CUSTOM}{extra}")), &ctx()).unwrap();
    let a = all(&load("epochs = 2"));
    assert_eq!(a.len(), 20);
    let first: Vec<&str> = a[..10].iter().map(|p| p.id.as_str()).collect();
    let second: Vec<&str> = a[10..].iter().map(|p| p.id.as_str()).collect();
    assert_ne!(first, second, "each epoch is shuffled afresh");
    let mut sorted = first.clone();
    sorted.sort();
    let mut sorted2 = second.clone();
    sorted2.sort();
    assert_eq!(sorted, sorted2, "an epoch holds every row once");
    assert_eq!(a, all(&load("epochs = 2")), "same seed, same stream");

    let r = all(&load("repeat = 3\ncount = 7"));
    assert_eq!(r.len(), 7);
    assert_eq!(r[0].question, r[2].question);
    assert_ne!(r[0].id, r[1].id);
    assert_eq!(
        r.iter().map(|p| p.cursor).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );

    assert_eq!(
        load("epochs = 0").first(25).len(),
        25,
        "a preview of an endless stream ends"
    );
    let mut endless = 0;
    let d = load("epochs = 0");
    let stopped = d.stream(|_| {
        endless += 1;
        if endless == 35 {
            Err("enough".into())
        } else {
            Ok(())
        }
    });
    assert!(stopped.is_err() && endless == 35);
}

#[test]
fn train_and_eval_splits_are_disjoint_and_complete() {
    let lines = rows(200);
    let f = file(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let load = |split: &str| {
        all(&Dataset::load(
            config(
                f.path(),
                &format!("{CUSTOM}split = \"{split}\"\neval_fraction = 0.25"),
            ),
            &ctx(),
        )
        .unwrap())
    };
    let (train, eval) = (load("train"), load("eval"));
    assert_eq!(train.len() + eval.len(), 200);
    assert!((30..70).contains(&eval.len()), "{}", eval.len());
    for p in &eval {
        assert!(train.iter().all(|t| t.id != p.id));
    }
}

#[test]
fn bad_rows_are_skipped_or_fatal_and_named_by_line() {
    let f = file(&[
        r#"{"q": "fine", "a": "1"}"#,
        r#"{"q": "trunc"#,
        r#"{"q": "no answer"}"#,
        r#"{"q": "", "a": "2"}"#,
        r#"{"q": "fine too", "a": "3"}"#,
    ]);
    let custom = "question_field = \"q\"\nanswer_field = \"a\"\n";
    let d = Dataset::load(config(f.path(), custom), &ctx()).unwrap();
    assert_eq!(d.len(), 2);
    let err = Dataset::load(
        config(f.path(), &format!("{custom}on_bad_row = \"fail\"")),
        &ctx(),
    )
    .err()
    .unwrap();
    assert!(err.starts_with("3 unreadable row(s)"), "{err}");
    for needle in [
        "line 2: invalid JSON",
        "line 3: missing field `a`",
        "line 4: field `q` is empty",
    ] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
}

#[test]
fn configuration_mistakes_are_errors() {
    let f = file(&[r#"{"q": "x", "a": "1"}"#]);
    let load = |extra: &str| {
        Dataset::load(config(f.path(), extra), &ctx())
            .err()
            .unwrap()
    };
    assert!(load("").contains("question_field is required"));
    assert!(
        load("question_field = \"q\"\nanswer_field = \"a\"\neval_fraction = 2.0")
            .contains("eval_fraction")
    );
    assert!(
        load("question_field = \"q\"\nanswer_field = \"a\"\nprompt = { template = \"x\" }")
            .contains("{question}")
    );
    assert!(
        load("question_field = \"q\"\nanswer_field = \"a\"\nsplit = \"eval\"")
            .contains("no prompts")
    );
    let missing = Dataset::load(config(std::path::Path::new("nope/x.jsonl"), CUSTOM), &ctx())
        .err()
        .unwrap();
    assert!(missing.contains("nope/x.jsonl"), "{missing}");
}

#[test]
fn a_missing_file_says_how_to_get_it_and_a_device_is_not_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = config(&dir.path().join("gsm8k.jsonl"), CUSTOM).check(&ctx());
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].field, "path");
    assert!(missing[0].message.starts_with("no such file: "));
    assert!(
        missing[0]
            .help
            .as_deref()
            .unwrap()
            .contains("scripts/fetch-data.sh")
    );

    let device = config(std::path::Path::new("/dev/null"), CUSTOM).check(&ctx());
    assert_eq!(device.len(), 1, "{device:?}");
    assert_eq!(
        device[0].message,
        "/dev/null is a character device, not a regular file"
    );
    let folder = config(dir.path(), CUSTOM).check(&ctx());
    assert!(
        folder[0]
            .message
            .ends_with("is a directory, not a regular file")
    );
}
