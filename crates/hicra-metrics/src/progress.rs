//! The progress bar: step count, rate and the chosen metrics. indicatif hides it when
//! stderr is not a terminal; a log line every few steps keeps pipes and CI informed.

use std::time::{Duration, Instant};

use hicra_messages::Metrics;
use indicatif::{ProgressBar, ProgressStyle};

/// How often the step summary is also logged through tracing.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: ProgressBar,
    show: Vec<String>,
    last_log: Option<Instant>,
}

impl Progress {
    pub fn new(total_steps: u64, show: Vec<String>) -> Self {
        let bar = if total_steps > 0 {
            ProgressBar::new(total_steps)
        } else {
            ProgressBar::no_length()
        };
        let template = if total_steps > 0 {
            "{spinner} step {pos}/{len} [{bar:30}] {elapsed_precise} eta {eta} {msg}"
        } else {
            "{spinner} step {pos} {elapsed_precise} {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            show,
            last_log: None,
        }
    }

    pub fn update(&mut self, step: u64, metrics: &Metrics) {
        let summary: Vec<String> = self
            .show
            .iter()
            .filter_map(|name| metrics.get(name).map(|v| format!("{name}={v:.3}")))
            .collect();
        let summary = summary.join(" ");
        self.bar.set_position(step + 1);
        self.bar.set_message(summary.clone());
        if self.last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            self.last_log = Some(Instant::now());
            tracing::info!(step, "{summary}");
        }
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}
