//! What an evaluation leaves behind: `summary.json` (the settings and every figure, then the
//! seconds each phase took), `responses.jsonl` (every response or searched solution with its
//! answer, verdict, votes and scores) and a table on stdout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// `summary.json`. Two evaluations with the same inputs and seed write the same summary
/// except for `seconds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The policy evaluated (checkpoint path or model name).
    pub model: String,
    /// Its version (training steps behind it; 0 for a pretrained model).
    pub policy_version: u64,
    /// Where the problems came from.
    pub data: String,
    /// The checker that judged the answers.
    pub verifier: String,
    /// The judge model, when one scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// The process reward model, when one scored (its path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prm: Option<String>,
    pub problems: usize,
    /// Responses per problem (K).
    pub samples: usize,
    pub seed: u64,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub max_new_tokens: usize,
    /// Responses decoded together.
    pub batch: usize,
    /// The step-level search, if one ran (`beam:4/judge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// `pass@k` (unbiased estimator), `maj@K`, `best_of_K/<scorer>`, `search/<name>/...`,
    /// `response_length/mean`, `truncated_frac`, `unparsed_frac`.
    pub metrics: BTreeMap<String, f64>,
    /// What a figure means where its name is not enough (oracle figures say so here).
    pub notes: BTreeMap<String, String>,
    /// Seconds per phase (`sampling`, `verifying`, `scoring/<scorer>`, `search`, `total`).
    pub seconds: BTreeMap<String, f64>,
}

impl Summary {
    /// Writes `summary.json` and `responses.jsonl` (one JSON object per record) into `dir`.
    pub fn write<R: Serialize>(&self, dir: &Path, records: &[R]) -> Result<(), String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("cannot write {} in {}: {e}", what, dir.display())
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("the output directory", &e))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| fail("summary.json", &e))?;
        std::fs::write(dir.join("summary.json"), text + "\n")
            .map_err(|e| fail("summary.json", &e))?;
        let mut lines = String::new();
        for r in records {
            let line = serde_json::to_string(r).map_err(|e| fail("responses.jsonl", &e))?;
            lines.push_str(&line);
            lines.push('\n');
        }
        std::fs::write(dir.join("responses.jsonl"), lines).map_err(|e| fail("responses.jsonl", &e))
    }

    /// The figures as an aligned table, notes marked with `*`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} on {} ({} problems x {} samples, T={}, seed {})",
            self.model, self.data, self.problems, self.samples, self.temperature, self.seed
        );
        let width = self
            .metrics
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(out, "{:width$}  value", "metric");
        for (name, value) in &self.metrics {
            let mark = if self.notes.contains_key(name) {
                " *"
            } else {
                ""
            };
            let _ = writeln!(out, "{name:width$}  {value:.4}{mark}");
        }
        for (name, note) in &self.notes {
            let _ = writeln!(out, "* {name}: {note}");
        }
        let secs: Vec<String> = self
            .seconds
            .iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect();
        let _ = writeln!(out, "seconds: {}", secs.join(", "));
        out
    }
}
