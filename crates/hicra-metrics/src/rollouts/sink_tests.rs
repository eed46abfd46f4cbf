use std::collections::BTreeMap;

use hicra_messages::{FinishReason, Group, Prompt, Rollout, RolloutBatch};

use super::*;
use crate::rollouts::files::{read_all, read_rollouts, rollout_files};

fn rollout(text: &str, reward: f64) -> Rollout {
    // one token per character, the last character two bytes long
    let mut spans = Vec::new();
    for (i, c) in text.char_indices() {
        spans.push((i, i + c.len_utf8()));
    }
    let n = spans.len();
    Rollout {
        prompt_tokens: vec![1, 2, 3],
        tokens: (10..10 + n as u32).collect(),
        text: text.to_string(),
        token_spans: spans,
        logprobs: (0..n).map(|i| -0.1 * i as f32 - 1e-7).collect(),
        entropies: (0..n).map(|i| 0.3 + i as f32 / 7.0).collect(),
        sampling: None,
        finish: Some(FinishReason::Stop),
        reward: Some(reward),
        correct: Some(reward > 0.5),
        answer: Some("49".into()),
        masks: BTreeMap::from([("planning".to_string(), (0..n).map(|i| i < 3).collect())]),
        advantages: (0..n).map(|i| 0.5 - i as f32 / 3.0).collect(),
        ..Default::default()
    }
}

fn batch(step: u64, eval: bool, groups: usize) -> RolloutBatch {
    let groups = (0..groups)
        .map(|g| {
            let prompt = Prompt {
                task: "plan_puzzles".into(),
                cursor: g as u64,
                ..Prompt::new(format!("p{g}"), format!("B {g} <script>"), "49")
            };
            let rollouts = vec![rollout("let me square: 49é", 1.0), rollout("no", 0.0)];
            Group::new(prompt, rollouts)
        })
        .collect();
    RolloutBatch {
        eval,
        ..RolloutBatch::new(step, groups)
    }
}

fn sink(dir: &Path, config: RolloutSinkConfig) -> RolloutSink {
    RolloutSink {
        budget: (config.max_megabytes * 1024.0 * 1024.0) as u64,
        config,
        seed: 7,
        dir: dir.to_path_buf(),
        used: 0,
        over_budget: false,
    }
}

#[test]
fn written_files_read_back_to_the_same_rollouts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), RolloutSinkConfig::default());
    let b = batch(20, false, 3);
    let path = s.write(&b).unwrap().expect("step 20 is written");
    assert_eq!(path.file_name().unwrap(), "step-00000020.jsonl");
    let records = read_rollouts(&path).unwrap();
    assert_eq!(records.len(), 6);
    for (record, (group, sample)) in records.iter().zip(
        b.groups
            .iter()
            .flat_map(|g| (0..g.rollouts.len()).map(move |i| (g, i))),
    ) {
        assert_eq!(record.to_rollout(), group.rollouts[sample]);
        assert_eq!(record.question, group.prompt.question);
        assert_eq!(record.step, 20);
        assert_eq!(record.sample, sample);
    }
    let first = &records[0];
    assert_eq!(first.tokens.concat(), first.response);
    assert_eq!(first.tokens.last().unwrap(), "é");
    assert_eq!(first.mask("planning")[..4], [true, true, true, false]);
}

#[test]
fn steps_between_every_n_are_skipped_and_evaluations_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), RolloutSinkConfig::default());
    for step in 0..25 {
        s.write(&batch(step, false, 1)).unwrap();
    }
    s.write(&batch(13, true, 1)).unwrap();
    let files = rollout_files(dir.path()).unwrap();
    let names: Vec<(u64, bool)> = files.iter().map(|f| (f.step, f.eval)).collect();
    assert_eq!(names, [(0, false), (10, false), (13, true), (20, false)]);
    assert_eq!(read_all(dir.path()).unwrap().len(), 8);
}

#[test]
fn a_sample_is_seeded_by_the_step_and_keeps_batch_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = RolloutSinkConfig {
        sample: 5,
        ..RolloutSinkConfig::default()
    };
    let s = sink(dir.path(), config);
    let b = batch(10, false, 8);
    let picked = s.records(&b);
    assert_eq!(picked.len(), 5);
    assert_eq!(picked, s.records(&b), "the same step draws the same sample");
    let keys: Vec<(String, usize)> = picked
        .iter()
        .map(|r| (r.prompt_id.clone(), r.sample))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by_key(|(p, i)| (p[1..].parse::<usize>().unwrap(), *i));
    assert_eq!(keys, sorted);
    assert_ne!(picked, s.records(&batch(20, false, 8)));
}

#[test]
fn the_disk_budget_stops_writing() {
    let dir = tempfile::tempdir().unwrap();
    let one = {
        let mut probe = sink(dir.path(), RolloutSinkConfig::default());
        let path = probe.write(&batch(0, false, 2)).unwrap().unwrap();
        std::fs::metadata(&path).unwrap().len()
    };
    let config = RolloutSinkConfig {
        every_steps: 1,
        // room for two and a half files
        max_megabytes: (one as f64 * 2.5) / (1024.0 * 1024.0),
        ..RolloutSinkConfig::default()
    };
    let mut s = sink(dir.path(), config);
    s.used = folder_bytes(dir.path());
    // step 0 replaces its own file: the budget counts it once
    assert!(s.write(&batch(0, false, 2)).unwrap().is_some());
    assert!(s.write(&batch(1, false, 2)).unwrap().is_some());
    assert!(s.write(&batch(2, false, 2)).unwrap().is_none());
    assert!(s.over_budget);
    assert_eq!(rollout_files(dir.path()).unwrap().len(), 2);
    assert!(folder_bytes(dir.path()) <= s.budget);
}

#[test]
fn a_line_cut_short_is_skipped_and_a_bad_line_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), RolloutSinkConfig::default());
    let path = s.write(&batch(0, false, 1)).unwrap().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{{\"step\": 0, \"pol")).unwrap();
    assert_eq!(read_rollouts(&path).unwrap().len(), 2);
    std::fs::write(&path, format!("{{}}\n{text}")).unwrap();
    let err = read_rollouts(&path).unwrap_err().to_string();
    assert!(
        err.contains("step-00000000.jsonl:1: not a rollout record"),
        "{err}"
    );
}
