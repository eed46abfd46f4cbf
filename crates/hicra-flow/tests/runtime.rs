//! The runtime on mock stages: delivery, backpressure, shutdown, errors, panics, cycles.

use std::time::{Duration, Instant};

use hicra_flow::testing::{collected, register_mocks};
use hicra_flow::{Cancel, InputMode, Pipeline, Registry, RunError, StageStatus};

fn registry() -> Registry {
    let mut r = Registry::new();
    register_mocks(&mut r);
    r
}

/// The pipeline of the mock stages `text` writes under `[stages]`, one inline table each.
fn pipeline(text: &str) -> Pipeline {
    let out = std::env::temp_dir().join(format!("hicra-flow-test-{}", std::process::id()));
    let text = format!(
        "[run]\nout_dir = {:?}\n[stages]\n{text}",
        out.display().to_string()
    );
    Pipeline::from_str(&registry(), "test.toml", &text).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn messages_flow_in_order_and_are_counted() {
    let p = pipeline(
        r#"
src = { kind = "mock.source", count = 50 }
map = { kind = "mock.map", inputs = { numbers = "src.numbers" }, add = 100 }
sink = { kind = "mock.sink", inputs = { numbers = "map.numbers" }, tag = "order" }
"#,
    );
    let report = p.run(&Cancel::new()).unwrap();
    assert_eq!(collected("order"), (100..150).collect::<Vec<u64>>());
    assert_eq!(
        report.edge("src.numbers", "map.numbers").unwrap().messages,
        50
    );
    assert!(
        report
            .stages
            .iter()
            .all(|s| s.status == StageStatus::Finished)
    );
}

#[test]
fn a_slow_sink_blocks_the_sender_of_a_bounded_edge() {
    let p = pipeline(
        r#"
src = { kind = "mock.source", count = 12 }
[stages.sink]
kind = "mock.sink"
inputs = { numbers = { from = "src.numbers", capacity = 1 } }
delay_ms = 10
tag = "slow"
"#,
    );
    let report = p.run(&Cancel::new()).unwrap();
    let edge = report.edge("src.numbers", "sink.numbers").unwrap();
    assert_eq!(edge.capacity, 1);
    assert_eq!(edge.messages, 12);
    // 12 messages, each held 10 ms by the sink, through a queue of one: the source must wait.
    assert!(
        edge.blocked > Duration::from_millis(20),
        "blocked only {:?}",
        edge.blocked
    );
    assert_eq!(collected("slow").len(), 12);
}

#[test]
fn a_panicking_stage_stops_an_endless_graph_within_a_second() {
    let p = pipeline(
        r#"
src = { kind = "mock.source" }
boom = { kind = "mock.map", inputs = { numbers = "src.numbers" }, panic_at = 200 }
sink = { kind = "mock.sink", inputs = { numbers = "boom.numbers" } }
"#,
    );
    let start = Instant::now();
    let err = p.run(&Cancel::new()).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    let text = err.to_string();
    assert!(matches!(err, RunError::StagePanicked { .. }), "{text}");
    assert!(
        text.contains("`boom` (mock.map)") && text.contains("mock panic at 200"),
        "{text}"
    );
}

#[test]
fn a_stage_panicking_while_built_is_an_error_naming_it() {
    let p = pipeline(
        r#"
src = { kind = "mock.source", count = 3 }
boom = { kind = "mock.map", inputs = { numbers = "src.numbers" }, panic_in_build = true }
"#,
    );
    let err = p.run(&Cancel::new()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RunError::Build { .. }), "{text}");
    assert!(
        text.contains("boom") && text.contains("mock panic while building"),
        "{text}"
    );
}

#[test]
fn the_first_error_names_its_stage_and_stops_the_rest() {
    let p = pipeline(
        r#"
src = { kind = "mock.source", interval_ms = 1 }
fails = { kind = "mock.map", inputs = { numbers = "src.numbers" }, fail_at = 5 }
sink = { kind = "mock.sink", inputs = { numbers = "fails.numbers" } }
"#,
    );
    let err = p.run(&Cancel::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stage `fails` (mock.map) failed: mock failure at 5"
    );
}

#[test]
fn cancelling_from_outside_interrupts_promptly() {
    let p = pipeline(
        r#"
src = { kind = "mock.source" }
sink = { kind = "mock.sink", inputs = { numbers = "src.numbers" }, delay_ms = 1 }
"#,
    );
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    let timer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        trigger.cancel();
        Instant::now()
    });
    let err = p.run(&cancel).unwrap_err();
    let cancelled_at = timer.join().unwrap();
    assert!(matches!(err, RunError::Interrupted));
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_consumer_that_stops_early_stops_an_endless_source_cleanly() {
    let p = pipeline(
        r#"
src = { kind = "mock.source" }
sink = { kind = "mock.sink", inputs = { numbers = "src.numbers" }, stop_after = 7, tag = "early" }
"#,
    );
    let report = p.run(&Cancel::new()).unwrap();
    assert_eq!(collected("early"), (0..7).collect::<Vec<u64>>());
    let src = report.stages.iter().find(|s| s.id == "src").unwrap();
    assert_eq!(src.status, StageStatus::Stopped);
}

#[test]
fn a_cycle_through_a_keep_latest_input_is_legal_and_terminates() {
    let p = pipeline(
        r#"
src = { kind = "mock.source", count = 30 }
map = { kind = "mock.map", inputs = { numbers = "src.numbers", feedback = "sink.acks" } }
sink = { kind = "mock.sink", inputs = { numbers = "map.numbers" }, tag = "cycle" }
"#,
    );
    assert_eq!(p.order, vec![0, 1, 2]);
    let report = p.run(&Cancel::new()).unwrap();
    let feedback = report.edge("sink.acks", "map.feedback").unwrap();
    assert_eq!(feedback.mode, InputMode::Latest);
    assert_eq!(feedback.messages, 30);
    assert_eq!(collected("cycle").len(), 30);
}

#[test]
fn fan_in_merges_two_outputs() {
    let p = pipeline(
        r#"
a = { kind = "mock.source", count = 5 }
b = { kind = "mock.source", count = 5 }
sink = { kind = "mock.sink", inputs = { numbers = ["a.numbers", "b.numbers"] }, tag = "fan" }
"#,
    );
    p.run(&Cancel::new()).unwrap();
    let mut got = collected("fan");
    got.sort_unstable();
    assert_eq!(got, vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
}
