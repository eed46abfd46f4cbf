//! A [`RolloutBatch`] is what map-like stages (verifiers, taggers, shaping, credit) take and
//! pass on: hicra-flow's [`MapLoop`](hicra_flow::map::MapLoop) runs them over the `rollouts`
//! port and sends their figures to `metrics` as [`MetricsRecord`]s.

use hicra_flow::map::{Batch, Figures};

use crate::{MetricsRecord, RolloutBatch};

impl Batch for RolloutBatch {
    const PORT: &'static str = "rollouts";
    type Record = MetricsRecord;

    fn step(&self) -> u64 {
        self.step
    }

    fn is_eval(&self) -> bool {
        self.eval
    }

    fn figures(&self) -> &Figures {
        &self.metrics
    }

    fn figures_mut(&mut self) -> &mut Figures {
        &mut self.metrics
    }

    fn record(&self, source: &str, values: Figures) -> MetricsRecord {
        MetricsRecord {
            step: self.step,
            source: source.to_string(),
            values,
        }
    }
}
