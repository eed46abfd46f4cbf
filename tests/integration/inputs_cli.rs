//! A command's file arguments: every problem reported at once, a path that does not exist
//! named as such (with how to get the file), a special file (`/dev/null`) told apart from a
//! missing one; `hicra validate` checks a pipeline's model file as it checks its data files.

use crate::cli::{hicra, text};

const TINY: &str = "crates/hicra-pretrained/tests/fixtures/tiny_llama.gguf";

/// Runs `args`, which must fail; its stderr on one line (miette wraps long messages).
fn refused<S: AsRef<str> + std::fmt::Debug>(args: &[S]) -> String {
    let out = hicra(&args.iter().map(AsRef::as_ref).collect::<Vec<_>>());
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    let words: Vec<&str> = err.split_whitespace().filter(|w| *w != "|").collect();
    words.join(" ")
}

#[test]
fn eval_reports_a_missing_model_and_missing_data_together() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let err = refused(&[
        "eval",
        "--model",
        "nope.gguf",
        "--data",
        "bad.jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    for expected in [
        "2 problems with the input",
        "--model: no such file or directory: nope.gguf",
        "scripts/fetch-model.sh",
        "--data: no such file: bad.jsonl",
        "scripts/fetch-data.sh",
    ] {
        assert!(err.contains(expected), "`{expected}` in {err}");
    }
    assert!(!out.exists());

    // a data file that is there but unreadable as data, beside a missing model: both too
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, "{\"question\": \"q\", \"answer\": \"#### 1\"}\n").unwrap();
    let err = refused(&[
        "eval",
        "--model",
        "nope.gguf",
        "--data",
        data.to_str().unwrap(),
        "--preset",
        "gsm9k",
    ]);
    assert!(err.contains("2 problems with the input"), "{err}");
    assert!(err.contains("gsm9k") && err.contains("nope.gguf"), "{err}");
}

#[test]
fn mine_names_an_input_that_does_not_exist() {
    let err = refused(&["mine", "--input", "/nonexistent"]);
    assert!(
        err.contains("--input: no such file or directory: /nonexistent"),
        "{err}"
    );
    assert!(err.contains("sink.rollouts"), "how to get rollouts: {err}");
    assert!(!err.contains("no correct responses"), "{err}");

    // an empty folder exists: it holds no rollouts, which is said as such
    let dir = tempfile::tempdir().unwrap();
    let err = refused(&["mine", "--input", dir.path().to_str().unwrap()]);
    assert!(err.contains("no rollouts in"), "{err}");
}

#[test]
fn a_special_file_is_not_called_missing_by_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 11] = [
        (
            &["eval", "--model", TINY, "--data", "/dev/null", "--out", out],
            "--data: /dev/null is a character device, not a regular file",
        ),
        (
            &["mine", "--input", "/dev/null"],
            "--input: /dev/null is a character device, not a regular file or a directory",
        ),
        (
            &["tag", "--input", "/dev/null"],
            "--input: /dev/null is a character device, not a regular file",
        ),
        (
            &["tag", "--text", "x", "--lexicon", "/dev/null"],
            "--lexicon: /dev/null is a character device, not a regular file",
        ),
        (
            &["credit", "--input", "/dev/null"],
            "--input: /dev/null is a character device, not a regular file",
        ),
        (
            &["verify", "--input", "/dev/null"],
            "--input: /dev/null is a character device, not a regular file",
        ),
        (
            &["report", "/dev/null"],
            "DIR: /dev/null is a character device, not a directory",
        ),
        (
            &["export", "/dev/null", "--format", "gguf", "--out", out],
            "MODEL: /dev/null is a character device, not a regular file or a directory",
        ),
        (
            &["generate", "--model", "/dev/null", "--prompt", "hi"],
            "--model: /dev/null is a character device",
        ),
        (
            &["experiment", "/dev/null"],
            "FILE: /dev/null is a character device, not a regular file",
        ),
        (
            &["validate", "/dev/null"],
            "/dev/null is a character device, not a regular file",
        ),
    ];
    for (args, expected) in cases {
        let err = refused(args);
        assert!(err.contains(expected), "{args:?}: `{expected}` in {err}");
        assert!(!err.contains("no such file"), "{args:?}: {err}");
    }
}

#[test]
fn every_command_names_a_missing_path_and_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str, &str); 8] = [
        (
            &["tag", "--text", "x", "--lexicon", "/nonexistent.json"],
            "--lexicon: no such file: /nonexistent.json",
            "hicra mine",
        ),
        (
            &["credit", "--input", "/nonexistent.jsonl"],
            "--input: no such file: /nonexistent.jsonl",
            "",
        ),
        (
            &["report", "/nonexistent/run"],
            "DIR: no such directory: /nonexistent/run",
            "hicra run",
        ),
        (
            &[
                "export",
                "/nonexistent/model.gguf",
                "--format",
                "gguf",
                "--out",
                out,
            ],
            "MODEL: no such file or directory: /nonexistent/model.gguf",
            "scripts/fetch-model.sh",
        ),
        (
            &[
                "generate",
                "--model",
                "/nonexistent/run/checkpoints/step-00000040",
                "--prompt",
                "hi",
            ],
            "--model: no such file or directory: /nonexistent/run/checkpoints/step-00000040",
            "hicra run",
        ),
        (
            &[
                "model",
                "info",
                "/nonexistent/models/SmolLM2-135M-Instruct.Q4_1.gguf",
            ],
            "no such file or directory: /nonexistent/models/SmolLM2-135M-Instruct.Q4_1.gguf",
            "scripts/fetch-model.sh",
        ),
        (
            &["run", "--resume", "/nonexistent/run"],
            "--resume: no such directory: /nonexistent/run",
            "hicra run",
        ),
        (
            &["experiment", "/nonexistent.toml"],
            "FILE: no such file: /nonexistent.toml",
            "",
        ),
    ];
    for (args, expected, help) in cases {
        let err = refused(args);
        assert!(err.contains(expected), "{args:?}: `{expected}` in {err}");
        assert!(err.contains(help), "{args:?}: help `{help}` in {err}");
    }
}

#[test]
fn validate_refuses_a_missing_model_file_with_how_to_get_it() {
    // `validate` of the GSM8K pipeline on the sample rows, `model` the learner's checkpoint
    let validate = |model: &str| {
        let sample = "crates/hicra-tasks/tests/fixtures/gsm8k_sample.jsonl";
        let mut args = vec![
            "validate".to_string(),
            "pipelines/smollm2-gsm8k-hicra.toml".into(),
        ];
        for set in [
            format!("stages.gsm8k.path={sample}"),
            format!("stages.heldout.path={sample}"),
            format!("stages.learner.model.checkpoint={model}"),
        ] {
            args.extend(["--set".to_string(), set]);
        }
        args
    };
    let err = refused(&validate("models/none/SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(
        err.contains("no such file or directory: models/none/SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{err}"
    );
    assert!(err.contains("help: run scripts/fetch-model.sh"), "{err}");
    // the same pipeline with a model that is there validates
    let args = validate(TINY);
    let out = hicra(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out.stderr));
}
