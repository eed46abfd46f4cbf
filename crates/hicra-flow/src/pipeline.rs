//! A validated pipeline: typed stage configs and checked edges, ready to run.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::load::{Loaded, load, load_str};
use crate::placement::Placement;
use crate::port::{Edge, InputMode};
use crate::registry::{PlannedStage, Registry};
use crate::source::Sources;
use crate::stage::RunSettings;
use crate::validate::validate;

/// A pipeline that passed validation.
pub struct Pipeline {
    pub sources: Sources,
    pub run: RunSettings,
    pub stages: Vec<PlannedStage>,
    pub edges: Vec<Edge>,
    /// Stage indices in dataflow order (keep-latest edges ignored).
    pub order: Vec<usize>,
    /// Which ranks run each stage (`[run.placement]`; all on rank 0 unless placed).
    pub placement: Placement,
}

impl Pipeline {
    /// Loads, merges and validates pipeline files; every problem is returned at once.
    pub fn from_files(
        registry: &Registry,
        files: &[PathBuf],
        overrides: &[String],
    ) -> Result<Self, Diagnostics> {
        let loaded =
            load(files, overrides).map_err(|(sources, items)| Diagnostics { sources, items })?;
        let default_name = files
            .first()
            .and_then(|f| f.file_stem())
            .map(|s| s.to_string_lossy().to_string());
        Self::from_loaded(registry, loaded, default_name)
    }

    /// Validates pipeline text that is not on disk.
    pub fn from_str(registry: &Registry, name: &str, text: &str) -> Result<Self, Diagnostics> {
        let loaded =
            load_str(name, text).map_err(|(sources, items)| Diagnostics { sources, items })?;
        Self::from_loaded(registry, loaded, None)
    }

    fn from_loaded(
        registry: &Registry,
        loaded: Loaded,
        default_name: Option<String>,
    ) -> Result<Self, Diagnostics> {
        let mut items: Vec<Diagnostic> = Vec::new();
        let spec = crate::spec::read_spec(&loaded.root, &mut items);
        let name = spec
            .run
            .name
            .clone()
            .or(default_name)
            .unwrap_or_else(|| "pipeline".to_string());
        let run = RunSettings {
            seed: spec.run.seed,
            channel_capacity: spec.run.channel_capacity.max(1),
            out_dir: spec
                .run
                .out_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(&name)),
            base_dir: loaded.base_dir.clone(),
            resume: None,
        };
        let planned = validate(registry, &spec, &run, &mut items);
        match planned {
            Some((stages, edges, order, placement)) if items.is_empty() => Ok(Pipeline {
                sources: loaded.sources,
                run,
                stages,
                edges,
                order,
                placement,
            }),
            _ => Err(Diagnostics {
                sources: loaded.sources,
                items,
            }),
        }
    }

    /// The graph as indented text, one stage per block in dataflow order.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for &i in &self.order {
            let stage = &self.stages[i];
            let ranks = &self.placement.ranks[i];
            let place = match (ranks.as_slice(), self.placement.replication[i]) {
                ([0], _) => String::new(),
                ([r], _) => format!("  [rank {r}]"),
                (many, how) => {
                    let list: Vec<String> = many.iter().map(usize::to_string).collect();
                    format!("  [ranks {}, {how:?}]", list.join(","))
                }
            };
            let _ = writeln!(out, "{} ({}){place}", stage.id, stage.kind);
            for edge in self.edges.iter().filter(|e| e.to_stage == i) {
                let from = &self.stages[edge.from_stage].id;
                let how = match edge.mode {
                    InputMode::Queue => format!("queue of {}", edge.capacity),
                    InputMode::Latest => "keep-latest".to_string(),
                };
                let _ = writeln!(
                    out,
                    "  {} <- {from}.{}  [{:?}, {how}]",
                    edge.to_port, edge.from_port, edge.ty
                );
            }
        }
        out
    }

    /// The graph in Graphviz dot; keep-latest edges are dashed.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph pipeline {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for stage in &self.stages {
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\\n{}\"];",
                stage.id, stage.id, stage.kind
            );
        }
        for e in &self.edges {
            let style = if e.mode == InputMode::Latest {
                ", style=dashed"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{} -> {}\\n{:?}\"{style}];",
                self.stages[e.from_stage].id,
                self.stages[e.to_stage].id,
                e.from_port,
                e.to_port,
                e.ty
            );
        }
        out.push_str("}\n");
        out
    }
}
