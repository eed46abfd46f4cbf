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
