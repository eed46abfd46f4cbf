//! The problems of an evaluation: any prompt source a pipeline can name, run alone until it
//! ends (a dataset file with a preset or a field mapping, or a training run's own held-out
//! source), with the checker of the verifier that judges them.

use std::path::{Path, PathBuf};

use hicra_flow::testing::StageHarness;
use hicra_flow::{Registry, RunSettings, Value};
use hicra_messages::Prompt;

/// Where the prompts of a dataset file are read from, as `source.dataset` reads them.
#[derive(Clone, Debug, Default)]
pub struct DatasetSpec {
    pub path: PathBuf,
    /// `gsm8k`, `math500` or `custom` (then both fields are needed).
    pub preset: Option<String>,
    pub question_field: Option<String>,
    pub answer_field: Option<String>,
    /// The first this many rows, in file order (0 = all).
    pub count: usize,
}

impl DatasetSpec {
    /// The `source.dataset` table this describes (no shuffle: the first `count` rows).
    pub fn table(&self) -> Result<Value, String> {
        let mut table = toml::Table::new();
        let path = self.path.to_str().ok_or("the data path is not UTF-8")?;
        table.insert("path".into(), path.into());
        if let Some(preset) = &self.preset {
            table.insert("preset".into(), preset.as_str().into());
        }
        for (key, field) in [
            ("question_field", &self.question_field),
            ("answer_field", &self.answer_field),
        ] {
            if let Some(field) = field {
                table.insert(key.into(), field.as_str().into());
            }
        }
        table.insert("shuffle".into(), false.into());
        table.insert("count".into(), (self.count as i64).into());
        let text = toml::to_string(&table).map_err(|e| e.to_string())?;
        Value::parse_document(&text, 0).map_err(|(m, _)| m)
    }
}

/// Runs the source stage `id` of `kind` (its TOML table) alone and returns every prompt it
/// sends; the stage sees `seed` as the run seed, as it would in its pipeline.
pub fn prompts_of_source(
    registry: &Registry,
    id: &str,
    kind: &str,
    table: &Value,
    seed: u64,
    base_dir: &Path,
) -> Result<Vec<Prompt>, String> {
    let run = RunSettings {
        seed,
        base_dir: base_dir.to_path_buf(),
        out_dir: std::env::temp_dir().join(format!("hicra-eval-{}", std::process::id())),
        ..RunSettings::default()
    };
    let harness = StageHarness::from_registry(registry, id, kind, table, run)?;
    if harness.has_input() {
        return Err(format!(
            "stage `{id}` ({kind}) has inputs: only a prompt source can feed an evaluation"
        ));
    }
    let mut outputs = harness.run().map_err(|e| e.to_string())?;
    let prompts: Vec<Prompt> = outputs.take("prompts");
    if prompts.is_empty() {
        return Err(format!("stage `{id}` ({kind}) produced no prompts"));
    }
    Ok(prompts)
}
