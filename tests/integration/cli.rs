//! Running the `hicra` binary.

use std::path::Path;
use std::process::{Command, Output};

pub fn hicra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hicra"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("HICRA_LOG", "warn")
        .output()
        .expect("the hicra binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that the command that gave `out` succeeded, else shows what ran (`what`), its exit
/// status, stderr and stdout.
pub fn assert_ran(out: &Output, what: &Path) {
    assert!(
        out.status.success(),
        "{}: {}\n--- stderr\n{}\n--- stdout\n{}",
        what.display(),
        out.status,
        text(&out.stderr),
        text(&out.stdout)
    );
}

/// `run [PIPELINE] --out OUT` (the built-in quickstart when no pipeline is named), with each
/// of `sets` as a `--set` override.
pub fn run_args<S: AsRef<str>>(pipeline: Option<&str>, out: &Path, sets: &[S]) -> Vec<String> {
    let mut args = vec!["run".to_string()];
    args.extend(pipeline.map(String::from));
    args.extend(["--out".to_string(), out.display().to_string()]);
    for set in sets {
        args.extend(["--set".to_string(), set.as_ref().to_string()]);
    }
    args
}

/// `hicra run` of [`run_args`].
pub fn hicra_run<S: AsRef<str>>(pipeline: Option<&str>, out: &Path, sets: &[S]) -> Output {
    let args = run_args(pipeline, out, sets);
    hicra(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Overrides that make the quickstart small and quick: a model of width 32, four prompts of
/// four responses a step, a 20-step SFT warm-up, four held-out prompts, and entropy and KL
/// terms so that every step has a gradient before any reward does (and a KL reference that
/// a checkpoint must bring back).
pub fn small_quickstart() -> Vec<String> {
    [
        "stages.learner.sft.steps=20",
        "stages.learner.model.hidden_size=32",
        "stages.learner.model.intermediate_size=64",
        "stages.sampler.prompts_per_step=4",
        "stages.sampler.group_size=4",
        "stages.heldout.count=4",
        "stages.learner.entropy_coef=0.01",
        "stages.learner.kl_coef=0.01",
    ]
    .map(String::from)
    .into()
}

#[test]
fn stages_lists_every_kind_with_an_example() {
    let out = hicra(&["--test-stages", "stages"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for kind in hicra::registry().kinds() {
        assert!(
            stdout.contains(&format!("# {}: ", kind.kind)),
            "{} missing",
            kind.kind
        );
    }
    assert!(stdout.contains("# mock.map: "));
}

#[test]
fn unknown_stage_filter_is_an_error() {
    let out = hicra(&["stages", "nope"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no stage kind matches"));
}

#[test]
fn graph_prints_text_and_dot() {
    let file = Path::new("tests/fixtures/valid/cycle.toml");
    let out = hicra(&["--test-stages", "graph", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("feedback <- sink.acks  [usize, keep-latest]"),
        "{}",
        text(&out.stdout)
    );
    let out = hicra(&[
        "--test-stages",
        "graph",
        "--format",
        "dot",
        file.to_str().unwrap(),
    ]);
    let dot = text(&out.stdout);
    assert!(
        dot.starts_with("digraph pipeline {") && dot.contains("style=dashed"),
        "{dot}"
    );
}

#[test]
fn set_overrides_a_value_and_a_bad_override_is_located() {
    let file = "tests/fixtures/valid/cycle.toml";
    let out = hicra(&[
        "--test-stages",
        "validate",
        file,
        "--set",
        "stages.src.count=3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = hicra(&[
        "--test-stages",
        "validate",
        file,
        "--set",
        "stages.src.cont=3",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--set stages.src.cont=3:1:12: unknown key `cont`"),
        "{stderr}"
    );
}

#[test]
fn run_reports_a_failing_stage_by_name_and_exits_non_zero() {
    let out = hicra(&["--test-stages", "run", "tests/fixtures/valid/failing.toml"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("stage `flaky` (mock.map) failed: mock failure at 3"),
        "{stderr}"
    );
}

/// Runs `hicra` with `input` on its standard input.
pub fn hicra_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hicra"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn credit_prints_advantages_per_line_in_input_order() {
    let input = "{\"group\":\"a\",\"reward\":1,\"tags\":[1,0]}\n{\"group\":\"b\",\"reward\":0.5,\"tags\":[]}\n{\"group\":\"a\",\"reward\":0,\"tags\":[1]}\n";
    let out = hicra_stdin(
        &[
            "credit",
            "--input",
            "-",
            "--estimator",
            "drgrpo",
            "--transform",
            "hicra:0.5",
        ],
        input,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["advantages"], serde_json::json!([0.75, 0.5]));
    assert_eq!(lines[1]["advantages"], serde_json::json!([]));
    assert_eq!(lines[2]["advantages"], serde_json::json!([-0.25]));
    assert_eq!(lines[2]["group"], "a", "input fields are kept");
}

#[test]
fn credit_rejects_a_bad_line_with_its_number() {
    let out = hicra_stdin(
        &["credit", "--input", "-"],
        "{\"group\":\"a\",\"reward\":1,\"tags\":[0]}\nnot json\n",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("-:2: invalid JSON"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tag_reports_grams_with_character_spans() {
    let out = hicra(&[
        "tag",
        "--text",
        "Hmm, but wait: déjà vu, let's check if it holds",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let grams: Vec<(&str, u64, u64)> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["gram"].as_str().unwrap(),
                m["start"].as_u64().unwrap(),
                m["end"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        grams,
        [
            ("hmm,", 0, 4),
            ("but wait", 5, 13),
            ("let's", 24, 29),
            ("check if", 30, 38)
        ]
    );
}
