//! Validation reports every problem at once, each at its place with a help line.

use hicra_flow::testing::register_mocks;
use hicra_flow::{Diagnostics, Pipeline, Registry};

/// Asserts that the plain text of `d` says each of `wanted`.
fn assert_says(d: &Diagnostics, wanted: &[&str]) {
    let plain = d.plain();
    for w in wanted {
        assert!(plain.contains(w), "`{w}` missing from:\n{plain}");
    }
}

fn errors(text: &str) -> Diagnostics {
    let mut r = Registry::new();
    register_mocks(&mut r);
    match Pipeline::from_str(&r, "p.toml", text) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d,
    }
}

#[test]
fn all_problems_are_reported_together_with_places() {
    let d = errors(
        r#"[stages.src]
kind = "mock.sorce"
[stages.map]
kind = "mock.map"
inputs = { numbers = "src.numbers" }
ad = 3
[stages.sink]
kind = "mock.sink"
inputs = { numbers = "map.numbers", extra = "map.numbers" }
"#,
    );
    let plain = d.plain();
    let lines: Vec<&str> = plain.lines().filter(|l| !l.starts_with("  help")).collect();
    assert_eq!(
        lines,
        [
            "p.toml:2:8: error: unknown stage kind `mock.sorce`",
            "p.toml:6:1: error: unknown key `ad` (stage `map`, kind mock.map)",
            "p.toml:9:37: error: stage `sink` (mock.sink) has no input `extra`",
        ],
        "{plain}"
    );
    assert_says(
        &d,
        &[
            "help: did you mean `mock.source`? `mock.*` kinds: mock.map, mock.sink, mock.source (`hicra stages` lists them all)",
            "help: did you mean `add`?",
        ],
    );
}

#[test]
fn edges_are_checked_once_stages_parse() {
    let d = errors(
        r#"[stages]
src = { kind = "mock.source" }
map = { kind = "mock.map", inputs = { numbers = "nowhere.numbers" } }
map2 = { kind = "mock.map", inputs = { numbers = "src.number" } }
sink = { kind = "mock.sink", inputs = { numbers = "src.numbers" } }
typed = { kind = "mock.map", inputs = { numbers = "sink.acks" } }
lonely = { kind = "mock.map" }
"#,
    );
    assert_says(
        &d,
        &[
            "p.toml:3:49: error: edge from unknown stage `nowhere`",
            "p.toml:4:50: error: stage `src` (mock.source) has no output `number`",
            "help: did you mean `numbers`? outputs: numbers",
            "p.toml:6:51: error: port type mismatch: `sink.acks` sends usize but input `numbers` of `typed` expects u64",
            "p.toml:7:1: error: required input `numbers` of stage `lonely` (mock.map) is not connected",
        ],
    );
}

#[test]
fn a_cycle_of_queue_edges_is_an_error_naming_its_members() {
    let d = errors(
        r#"[stages]
a = { kind = "mock.map", inputs = { numbers = "b.numbers" } }
b = { kind = "mock.map", inputs = { numbers = "a.numbers" } }
"#,
    );
    assert_says(&d, &["error: cycle through stages a, b", "keep-latest"]);
}

#[test]
fn wrong_types_and_bad_run_settings_are_reported() {
    let d = errors(
        r#"[run]
seed = "seven"
[stages.src]
kind = "mock.source"
count = -1
"#,
    );
    assert_says(
        &d,
        &[
            "p.toml:2:8: error: wrong type: expected u64, found string \"seven\"",
            "p.toml:5:9: error: invalid value: expected u64, found integer `-1`",
        ],
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    let d = errors("[stages.src]\nkind = \"mock.source\"\ncount = = 3\n");
    assert!(d.plain().starts_with("p.toml:3:"), "{}", d.plain());
}
