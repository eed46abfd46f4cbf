//! # hicra-metrics: where the figures go
//!
//! Every stage that measures something sends [`MetricsRecord`](hicra_messages::MetricsRecord)s
//! (step, source stage, named scalars) to one `sink.metrics` stage. The sink merges the records
//! of each step (the learner's training figures, shadow credit assigners' comparisons, the
//! evaluator's accuracy) into one JSON object per step in `metrics.jsonl`, mirrors them into
//! TensorBoard event files (`tensorboard --logdir <run dir>`), and keeps a progress bar with the
//! headline numbers. Afterwards `hicra report <run dir>` draws the curves as PNG charts and
//! writes a self-contained web page ([`html`]): interactive curves with shadow assigners on
//! their main metric, per-step tables, rollouts token by token, mined strategic grams.
//!
//! `sink.rollouts` ([`rollouts`]) writes chosen steps' rollouts (text, token strings, reward,
//! per-token advantage, masks, entropy) as JSON lines under `RUN/rollouts/`, within a disk
//! budget, for reports, strategic-gram mining and plain inspection.
//!
//! Nothing here depends on a tensor library: the TensorBoard writer encodes its few protobuf
//! messages by hand ([`tfevents`]), and plots come from plotters with an embedded font.

pub mod html;
pub mod png_canvas;
mod progress;
pub mod report;
pub mod rollouts;
mod sink;
pub mod tfevents;

pub use html::{HtmlReport, write_html_page, write_html_report};
pub use png_canvas::{Canvas, draw_png};
pub use report::{draw_report, read_metrics, read_run_metrics, register_font, write_report};
pub use rollouts::{RolloutSink, RolloutSinkConfig};
pub use sink::{MetricsSink, MetricsSinkConfig};

/// Registers `sink.metrics` and `sink.rollouts`.
pub fn register(registry: &mut hicra_flow::Registry) {
    registry
        .register::<MetricsSinkConfig>()
        .register::<RolloutSinkConfig>();
}
