//! Pipelines built in code: typed stage configs, wired by name, checked as a pipeline file is.
//!
//! [`PipelineBuilder`] takes each stage as its config struct (`SamplerConfig { steps: 4,
//! ..Default::default() }`) with its inputs as `("port", "stage.port")` pairs, and
//! [`build`](PipelineBuilder::build) runs the checks [`Pipeline::from_files`] runs after
//! parsing: each config's `check`, every edge and port type, required inputs, endless sources
//! and cycles. No registry is needed (the configs are typed already) and no TOML is written by
//! hand, but diagnostics still point into a text: the builder writes the wiring as the
//! pipeline file it stands for (`[stages.ID]`, `kind`, `inputs`; the parameters are Rust
//! values and stay out) under the name [`SOURCE_NAME`], so a misspelt port reads
//! `<pipeline built in code>:7:21: error: stage `sampler` (sampler.policy) has no output ...`,
//! and a refused parameter value points at its stage's table.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::pipeline::Pipeline;
use crate::registry::ConfiguredStage;
use crate::source::Sources;
use crate::spec::read_spec;
use crate::stage::{RunSettings, StageConfig};
use crate::validate::plan;
use crate::value::Value;

/// The name diagnostics give the wiring of a pipeline built in code.
pub const SOURCE_NAME: &str = "<pipeline built in code>";

/// A pipeline assembled from typed stage configs; see the module docs.
pub struct PipelineBuilder {
    run: RunSettings,
    stages: Vec<BuiltStage>,
}

struct BuiltStage {
    id: String,
    kind: &'static str,
    config: Box<dyn ConfiguredStage>,
    /// (input port, upstream `stage.port`), in the order given.
    inputs: Vec<(String, String)>,
}

impl PipelineBuilder {
    /// An empty pipeline with these run settings (seed, default edge capacity, output
    /// directory; `base_dir` resolves relative paths in stage parameters).
    pub fn new(run: RunSettings) -> Self {
        Self {
            run,
            stages: Vec::new(),
        }
    }

    /// Adds the stage `id` configured by `config`, each input port connected to an upstream
    /// output: `&[("rollouts", "sampler.rollouts")]`. A port named more than once is fed by
    /// each of its sources (fan-in).
    pub fn stage<C: StageConfig>(mut self, id: &str, config: C, inputs: &[(&str, &str)]) -> Self {
        self.stages.push(BuiltStage {
            id: id.to_string(),
            kind: C::KIND,
            config: Box::new(config),
            inputs: inputs
                .iter()
                .map(|(port, from)| (port.to_string(), from.to_string()))
                .collect(),
        });
        self
    }

    /// Checks the graph; every problem is returned at once, located in the wiring text.
    pub fn build(self) -> Result<Pipeline, Diagnostics> {
        let text = wiring(&self.stages);
        let mut sources = Sources::default();
        let file = sources.add(SOURCE_NAME, None, &text);
        let root = match Value::parse_document(&text, file) {
            Ok(root) => root,
            Err((message, span)) => {
                let d = Diagnostic::new(format!("invalid stage wiring: {message}"), Some(span))
                    .help("each stage needs an id of its own");
                return Err(Diagnostics {
                    sources,
                    items: vec![d],
                });
            }
        };
        let mut items = Vec::new();
        let spec = read_spec(&root, &mut items);
        let mut by_id: HashMap<String, Box<dyn ConfiguredStage>> =
            self.stages.into_iter().map(|s| (s.id, s.config)).collect();
        let configs = spec
            .stages
            .iter()
            .map(|s| by_id.remove(&s.id.name))
            .collect();
        let run = RunSettings {
            channel_capacity: self.run.channel_capacity.max(1),
            ..self.run
        };
        match plan(&spec, configs, false, &run, &mut items) {
            Some((stages, edges, order, placement)) if items.is_empty() => Ok(Pipeline {
                sources,
                run,
                stages,
                edges,
                order,
                placement,
            }),
            _ => Err(Diagnostics { sources, items }),
        }
    }
}

/// The pipeline file the stages stand for, parameters left out.
fn wiring(stages: &[BuiltStage]) -> String {
    let mut text = String::new();
    for stage in stages {
        let _ = writeln!(text, "[stages.{}]", key(&stage.id));
        let _ = writeln!(text, "kind = {}", quoted(stage.kind));
        let mut ports: Vec<(&str, Vec<&str>)> = Vec::new();
        for (port, from) in &stage.inputs {
            match ports.iter_mut().find(|(p, _)| p == port) {
                Some((_, sources)) => sources.push(from),
                None => ports.push((port, vec![from])),
            }
        }
        if !ports.is_empty() {
            let entries: Vec<String> = ports
                .iter()
                .map(|(port, from)| match from.as_slice() {
                    [one] => format!("{} = {}", key(port), quoted(one)),
                    many => {
                        let list: Vec<String> = many.iter().map(|f| quoted(f)).collect();
                        format!("{} = [{}]", key(port), list.join(", "))
                    }
                })
                .collect();
            let _ = writeln!(text, "inputs = {{ {} }}", entries.join(", "));
        }
        text.push('\n');
    }
    text
}

/// A TOML key: bare when it can be.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { name.to_string() } else { quoted(name) }
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::io::StageContext;
    use crate::port::Ports;
    use crate::stage::{BoxError, BuildContext, Invalid, Stage, StageResult};

    /// Emits 0..n on `numbers`.
    #[derive(Debug, Deserialize)]
    struct Count {
        n: u64,
    }

    impl StageConfig for Count {
        const KIND: &'static str = "test.count";
        const SUMMARY: &'static str = "test";
        const EXAMPLE: &'static str = "[stages.count]\nkind = \"test.count\"\nn = 3\n";

        fn ports(&self) -> Ports {
            Ports::new().output::<u64>("numbers", "0..n")
        }

        fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
            let too_many = self.n > 100;
            let problem = Invalid::new("n", format!("n must be at most 100, got {}", self.n));
            too_many.then_some(problem).into_iter().collect()
        }

        fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
            Ok(Box::new(self))
        }
    }

    impl Stage for Count {
        fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
            let out = ctx.output::<u64>("numbers");
            for i in 0..self.n {
                out.send(i)?;
            }
            Ok(())
        }
    }

    /// Writes the sum of what its fan-in `numbers` port receives to `OUT/<id>.sum`.
    #[derive(Debug, Deserialize)]
    struct Sum;

    impl StageConfig for Sum {
        const KIND: &'static str = "test.sum";
        const SUMMARY: &'static str = "test";
        const EXAMPLE: &'static str = "[stages.sum]\nkind = \"test.sum\"\n";

        fn ports(&self) -> Ports {
            Ports::new().fan_in::<u64>("numbers", "numbers to add up")
        }

        fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
            Ok(Box::new(self))
        }
    }

    impl Stage for Sum {
        fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
            let sum: u64 = ctx.input::<u64>("numbers").iter().map(|n| *n).sum();
            std::fs::write(
                ctx.out_dir().join(format!("{}.sum", ctx.id())),
                sum.to_string(),
            )?;
            Ok(())
        }
    }

    fn run_settings(out_dir: &std::path::Path) -> RunSettings {
        RunSettings {
            out_dir: out_dir.to_path_buf(),
            ..RunSettings::default()
        }
    }

    #[test]
    fn a_built_pipeline_runs_with_fan_in() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = PipelineBuilder::new(run_settings(dir.path()))
            .stage("a", Count { n: 4 }, &[])
            .stage("b", Count { n: 3 }, &[])
            .stage(
                "total",
                Sum,
                &[("numbers", "a.numbers"), ("numbers", "b.numbers")],
            )
            .build()
            .unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(pipeline.order.last(), Some(&2), "the sink runs last");
        pipeline.run(&crate::Cancel::new()).unwrap();
        let sum = std::fs::read_to_string(dir.path().join("total.sum")).unwrap();
        assert_eq!(sum, "9", "0+1+2+3 and 0+1+2");
    }

    #[test]
    fn wiring_and_value_problems_are_all_reported_in_the_wiring_text() {
        let dir = tempfile::tempdir().unwrap();
        let error = PipelineBuilder::new(run_settings(dir.path()))
            .stage("a", Count { n: 1000 }, &[])
            .stage(
                "total",
                Sum,
                &[("numbers", "a.number"), ("extra", "a.numbers")],
            )
            .build()
            .err()
            .expect("refused");
        let text = error.plain();
        assert!(
            text.contains(
                "<pipeline built in code>:1:9: error: stage `a` (test.count): `n`: n must be at \
                 most 100, got 1000"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "<pipeline built in code>:6:22: error: stage `a` (test.count) has no output \
                 `number`"
            ),
            "{text}"
        );
        assert!(
            text.contains("stage `total` (test.sum) has no input `extra`"),
            "{text}"
        );
    }

    #[test]
    fn ids_that_are_not_bare_keys_are_quoted() {
        assert_eq!(key("sampler_2"), "sampler_2");
        assert_eq!(key("my stage"), "\"my stage\"");
        assert_eq!(quoted("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}
