//! The shape of a pipeline document: a `[run]` table and one `[stages.<id>]` table per stage,
//! each with `kind`, optional `inputs` and its own parameters.
//!
//! ```toml
//! [run]
//! seed = 7
//! channel_capacity = 4
//!
//! [stages.credit]
//! kind = "credit.hicra"
//! inputs = { rollouts = "tagger.rollouts" }
//! alpha = 0.2
//! ```
//!
//! An input names one source `"stage.port"`, several (`["a.metrics", "b.metrics"]`, for
//! fan-in ports), or a table with a per-edge capacity (`{ from = "a.out", capacity = 16 }`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::de::{from_value, valid_choices_help};
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::value::{Key, Table, Value, ValueKind};

/// The `[run]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunTable {
    /// Name of the run, used for the default output directory; absent = the file's stem.
    pub name: Option<String>,
    /// Base random seed of the run.
    pub seed: u64,
    /// Capacity (messages) of every queue edge unless the edge sets its own.
    pub channel_capacity: usize,
    /// Output directory for metrics, checkpoints and plots; absent = `runs/<name>`.
    pub out_dir: Option<PathBuf>,
}

impl Default for RunTable {
    fn default() -> Self {
        Self {
            name: None,
            seed: 0,
            channel_capacity: 4,
            out_dir: None,
        }
    }
}

/// One reference to an upstream output.
#[derive(Clone, Debug)]
pub struct SourceRef {
    pub stage: String,
    pub port: String,
    pub span: Span,
    /// Per-edge capacity override.
    pub capacity: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct InputSpec {
    pub port: Key,
    pub sources: Vec<SourceRef>,
}

#[derive(Clone, Debug)]
pub struct StageSpec {
    pub id: Key,
    pub kind: String,
    /// Span of the `kind` value (or of the stage table when `kind` is missing).
    pub kind_span: Span,
    pub inputs: Vec<InputSpec>,
    /// Everything but `kind` and `inputs`: handed to the stage's own config.
    pub params: Value,
}

#[derive(Clone, Debug)]
pub struct PipelineSpec {
    pub run: RunTable,
    pub stages: Vec<StageSpec>,
    /// `[run.placement]`: which ranks run which stage (empty: everything on rank 0).
    pub placement: Vec<crate::placement::PlacementEntry>,
}

const TOP_LEVEL_KEYS: [&str; 3] = ["run", "stages", "extends"];

/// Splits a merged document into run settings and stage specs, collecting every problem.
pub fn read_spec(root: &Value, diags: &mut Vec<Diagnostic>) -> PipelineSpec {
    let table = root.as_table().expect("documents are tables");
    for (key, _) in &table.entries {
        if !TOP_LEVEL_KEYS.contains(&key.name.as_str()) {
            let help = valid_choices_help(
                &key.name,
                TOP_LEVEL_KEYS.iter().copied(),
                "valid top-level keys",
            );
            diags.push(
                Diagnostic::new(
                    format!("unknown top-level key `{}`", key.name),
                    Some(key.span.clone()),
                )
                .help(help),
            );
        }
    }
    let mut placement = Vec::new();
    let run = match table.get("run") {
        Some(v) => {
            // `placement` is read with its spans; the rest of the table by serde
            let mut v = v.clone();
            if let Some((_, value)) = v.as_table_mut().and_then(|t| t.remove("placement")) {
                placement = crate::placement::read_entries(&value, diags);
            }
            from_value::<RunTable>(&v).unwrap_or_else(|e| {
                diags.push(de_diagnostic(e, &v));
                RunTable::default()
            })
        }
        None => RunTable::default(),
    };
    let mut stages = Vec::new();
    match table.get("stages").map(|v| (v, v.as_table())) {
        None => diags.push(
            Diagnostic::new("the pipeline has no stages", Some(root.span.clone()))
                .help("add one table per stage: [stages.<id>] with kind = \"family.name\""),
        ),
        Some((v, None)) => diags.push(type_error("a table of stages", v)),
        Some((_, Some(t))) => {
            for (id, value) in &t.entries {
                if let Some(stage) = read_stage(id, value, diags) {
                    stages.push(stage);
                }
            }
        }
    }
    PipelineSpec {
        run,
        stages,
        placement,
    }
}

fn read_stage(id: &Key, value: &Value, diags: &mut Vec<Diagnostic>) -> Option<StageSpec> {
    let Some(table) = value.as_table() else {
        diags.push(type_error("a stage table", value));
        return None;
    };
    let kind_value = table.get("kind");
    let kind = match kind_value {
        Some(v) => match v.as_str() {
            Some(kind) => kind.to_string(),
            None => {
                diags.push(type_error("a string `family.name`", v));
                return None;
            }
        },
        None => {
            let msg = format!("stage `{}` has no `kind`", id.name);
            diags.push(
                Diagnostic::new(msg, Some(id.span.clone()))
                    .help("add kind = \"family.name\"; `hicra stages` lists them"),
            );
            return None;
        }
    };
    let inputs = match table.get("inputs") {
        Some(v) => read_inputs(v, diags),
        None => Vec::new(),
    };
    let mut params = Table::default();
    for (key, value) in &table.entries {
        if key.name != "kind" && key.name != "inputs" {
            params.entries.push((key.clone(), value.clone()));
        }
    }
    let kind_span = kind_value.map_or_else(|| value.span.clone(), |v| v.span.clone());
    let params = Value {
        kind: ValueKind::Table(params),
        span: value.span.clone(),
    };
    Some(StageSpec {
        id: id.clone(),
        kind,
        kind_span,
        inputs,
        params,
    })
}

fn read_inputs(value: &Value, diags: &mut Vec<Diagnostic>) -> Vec<InputSpec> {
    let Some(table) = value.as_table() else {
        diags.push(type_error("a table `{ port = \"stage.port\" }`", value));
        return Vec::new();
    };
    let mut inputs = Vec::new();
    for (port, v) in &table.entries {
        let items: Vec<&Value> = match &v.kind {
            ValueKind::Array(items) => items.iter().collect(),
            _ => vec![v],
        };
        let sources = items
            .into_iter()
            .filter_map(|item| read_source(item, diags))
            .collect();
        inputs.push(InputSpec {
            port: port.clone(),
            sources,
        });
    }
    inputs
}

fn read_source(value: &Value, diags: &mut Vec<Diagnostic>) -> Option<SourceRef> {
    let (text_value, capacity) = match &value.kind {
        ValueKind::String(_) => (value, None),
        ValueKind::Table(t) => {
            let Some(from) = t.get("from") else {
                diags.push(
                    Diagnostic::new("edge table without `from`", Some(value.span.clone()))
                        .help("write { from = \"stage.port\", capacity = 16 }"),
                );
                return None;
            };
            let capacity = match t.get("capacity").map(|c| &c.kind) {
                None => None,
                Some(ValueKind::Integer(n)) if *n > 0 => Some(*n as usize),
                Some(_) => {
                    let c = t.get("capacity").unwrap();
                    diags.push(Diagnostic::new(
                        "`capacity` must be a positive integer",
                        Some(c.span.clone()),
                    ));
                    return None;
                }
            };
            for (key, _) in &t.entries {
                if key.name != "from" && key.name != "capacity" {
                    let help = valid_choices_help(
                        &key.name,
                        ["from", "capacity"].into_iter(),
                        "valid keys",
                    );
                    diags.push(
                        Diagnostic::new(
                            format!("unknown key `{}`", key.name),
                            Some(key.span.clone()),
                        )
                        .help(help),
                    );
                }
            }
            (from, capacity)
        }
        _ => {
            diags.push(type_error("\"stage.port\"", value));
            return None;
        }
    };
    let Some(text) = text_value.as_str() else {
        diags.push(type_error("\"stage.port\"", text_value));
        return None;
    };
    match text.rsplit_once('.') {
        Some((stage, port)) if !stage.is_empty() && !port.is_empty() => Some(SourceRef {
            stage: stage.to_string(),
            port: port.to_string(),
            span: text_value.span.clone(),
            capacity,
        }),
        _ => {
            diags.push(
                Diagnostic::new(
                    format!("`{text}` is not of the form `stage.port`"),
                    Some(text_value.span.clone()),
                )
                .help("name the upstream stage and its output port, e.g. \"sampler.rollouts\""),
            );
            None
        }
    }
}

pub(crate) fn de_diagnostic(e: crate::de::DeError, fallback: &Value) -> Diagnostic {
    let span = e.span.clone().unwrap_or_else(|| fallback.span.clone());
    let mut d = Diagnostic::new(e.message, Some(span));
    d.help = e.help;
    d
}

fn type_error(expected: &str, value: &Value) -> Diagnostic {
    Diagnostic::new(
        format!(
            "wrong type: expected {expected}, found {}",
            value.type_name()
        ),
        Some(value.span.clone()),
    )
}
