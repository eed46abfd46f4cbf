//! `sink.metrics`: gathers every stage's [`MetricsRecord`]s, merges them per step and writes
//! `metrics.jsonl` (one object per step), TensorBoard event files and a progress line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};

use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult, refuse,
};
use hicra_messages::{Metrics, MetricsRecord};
use serde::Deserialize;

use crate::progress::Progress;
use crate::tfevents::EventWriter;

/// Parameters of `sink.metrics`.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSinkConfig {
    /// File name of the JSON-lines log inside the run directory.
    pub jsonl: String,
    /// Also write TensorBoard event files under `<run dir>/tensorboard`.
    pub tensorboard: bool,
    /// Steps expected in the run, for the progress bar (0 = unknown).
    pub total_steps: u64,
    /// Metrics shown beside the progress bar.
    pub show: Vec<String>,
    /// Records of a step may arrive after those of later steps (an evaluator lagging behind
    /// the learner); a step is written once a record `window` steps newer has arrived.
    pub window: u64,
}

impl Default for MetricsSinkConfig {
    fn default() -> Self {
        Self {
            jsonl: "metrics.jsonl".into(),
            tensorboard: true,
            total_steps: 0,
            show: ["reward/mean", "accuracy/train", "accuracy/eval"]
                .map(String::from)
                .to_vec(),
            window: 2,
        }
    }
}

impl StageConfig for MetricsSinkConfig {
    const KIND: &'static str = "sink.metrics";
    const SUMMARY: &'static str =
        "merges metrics per step into metrics.jsonl, TensorBoard events and a progress bar";
    const EXAMPLE: &'static str = r#"[stages.metrics]
kind = "sink.metrics"
inputs = { metrics = ["learner.metrics", "evaluator.metrics"] }
jsonl = "metrics.jsonl"
tensorboard = true
total_steps = 0
show = ["reward/mean", "accuracy/train", "accuracy/eval"]
window = 2
"#;

    fn ports(&self) -> Ports {
        Ports::new()
            .fan_in::<MetricsRecord>("metrics", "per-step figures from any number of stages")
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        if self.jsonl.is_empty() {
            vec![Invalid::new("jsonl", "`jsonl` must name a file")]
        } else {
            Vec::new()
        }
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        Ok(Box::new(MetricsSink {
            config: self,
            pending: BTreeMap::new(),
            newest: 0,
            resume_step: ctx.run.resume.as_ref().map(|r| r.step),
        }))
    }
}

pub struct MetricsSink {
    config: MetricsSinkConfig,
    /// Steps not written yet.
    pending: BTreeMap<u64, Metrics>,
    newest: u64,
    /// On a resumed run, the step it resumes at: earlier log rows are kept, later ones
    /// (written after the checkpoint by the interrupted run) are dropped and written again.
    resume_step: Option<u64>,
}

impl MetricsSink {
    /// Adds a record; returns the steps that are now complete, in order.
    pub fn step(&mut self, record: &MetricsRecord) -> Vec<(u64, Metrics)> {
        self.newest = self.newest.max(record.step);
        let merged = self.pending.entry(record.step).or_default();
        merged.extend(record.values.iter().map(|(k, v)| (k.clone(), *v)));
        let keep_from = self.newest.saturating_sub(self.config.window);
        let later = self.pending.split_off(&keep_from);
        std::mem::replace(&mut self.pending, later)
            .into_iter()
            .collect()
    }

    /// Every step still pending (end of run).
    pub fn finish(&mut self) -> Vec<(u64, Metrics)> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }
}

impl Stage for MetricsSink {
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let input = ctx.input::<MetricsRecord>("metrics");
        let path = ctx.out_dir().join(&self.config.jsonl);
        let kept = match self.resume_step {
            Some(step) => rows_before(&path, step)?,
            None => String::new(),
        };
        let mut jsonl = BufWriter::new(
            File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        );
        jsonl.write_all(kept.as_bytes())?;
        let mut events = match self.config.tensorboard {
            true => Some(EventWriter::create(&ctx.out_dir().join("tensorboard"))?),
            false => None,
        };
        let mut progress = Progress::new(self.config.total_steps, self.config.show.clone());
        let mut write = |steps: Vec<(u64, Metrics)>| -> StageResult {
            for (step, metrics) in steps {
                let mut line = serde_json::Map::new();
                line.insert("step".into(), step.into());
                for (k, v) in &metrics {
                    line.insert(
                        k.clone(),
                        serde_json::Number::from_f64(*v)
                            .map_or(serde_json::Value::Null, Into::into),
                    );
                }
                writeln!(jsonl, "{}", serde_json::Value::Object(line))?;
                jsonl.flush()?;
                if let Some(events) = events.as_mut() {
                    events.write_scalars(step, metrics.iter().map(|(k, v)| (k.as_str(), *v)))?;
                }
                progress.update(step, &metrics);
            }
            Ok(())
        };
        while let Some(record) = input.recv() {
            let done = self.step(&record);
            write(done)?;
        }
        let rest = self.finish();
        write(rest)?;
        progress.finish();
        Ok(())
    }
}

/// The lines of an earlier log whose `step` is below `step` (a missing log keeps nothing).
fn rows_before(path: &std::path::Path, step: u64) -> Result<String, BoxError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(String::new());
    };
    let mut kept = String::new();
    for (i, line) in text.lines().enumerate() {
        let row: serde_json::Value = match serde_json::from_str(line) {
            Ok(row) => row,
            // the interrupted run may have died mid-line
            Err(_) if i + 1 == text.lines().count() => break,
            Err(e) => return Err(format!("{}:{}: {e}", path.display(), i + 1).into()),
        };
        if row["step"].as_u64().is_some_and(|s| s < step) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: u64, source: &str, pairs: &[(&str, f64)]) -> MetricsRecord {
        let values = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        MetricsRecord {
            step,
            source: source.into(),
            values,
        }
    }

    fn sink(window: u64) -> MetricsSink {
        let mut config: MetricsSinkConfig = serde_json::from_str("{}").unwrap();
        config.window = window;
        MetricsSink {
            config,
            pending: BTreeMap::new(),
            newest: 0,
            resume_step: None,
        }
    }

    #[test]
    fn records_of_one_step_merge_and_steps_are_released_in_order() {
        let mut s = sink(1);
        assert!(s.step(&record(0, "learner", &[("loss", 1.0)])).is_empty());
        assert!(
            s.step(&record(0, "shadow", &[("grpo/adv", 2.0)]))
                .is_empty()
        );
        let done = s.step(&record(1, "learner", &[("loss", 0.5)]));
        assert!(
            done.is_empty(),
            "step 0 waits for a record {} steps newer",
            1
        );
        let done = s.step(&record(2, "learner", &[("loss", 0.2)]));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, 0);
        assert_eq!(done[0].1.len(), 2);
        let late = s.step(&record(1, "eval", &[("accuracy/eval", 0.3)]));
        assert!(late.is_empty());
        let rest = s.finish();
        assert_eq!(rest.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(rest[0].1["accuracy/eval"], 0.3);
    }
}
