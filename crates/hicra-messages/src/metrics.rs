use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Named scalar figures, e.g. `reward/mean`, `entropy/planning`, `timing/sample_secs`.
pub type Metrics = BTreeMap<String, f64>;

/// One step's figures from one stage, sent to the metrics sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    pub step: u64,
    /// Id of the stage that produced them; shadow assigners prefix their names with it.
    pub source: String,
    pub values: Metrics,
}
