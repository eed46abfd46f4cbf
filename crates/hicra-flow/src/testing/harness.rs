//! Runs a single stage, with given input messages, on the real runtime and collects what it
//! sends. Feeders and collectors are ordinary stages wired by the same code as a pipeline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::cancel::Cancel;
use crate::de::from_value;
use crate::io::{Envelope, StageContext};
use crate::pipeline::Pipeline;
use crate::port::{Edge, InputMode, Message, PortType, Ports};
use crate::registry::{ConfiguredStage, PlannedStage};
use crate::report::{RunError, RunReport};
use crate::source::Sources;
use crate::stage::{BoxError, BuildContext, RunSettings, Stage, StageConfig, StageResult};
use crate::value::Value;

/// ```
/// # use hicra_flow::testing::{StageHarness, register_mocks};
/// # use hicra_flow::testing::__doc::AddOne;
/// let mut out = StageHarness::new::<AddOne>("add = 10").input("numbers", vec![1u64, 2]).run().unwrap();
/// assert_eq!(out.take::<u64>("numbers"), vec![11, 12]);
/// ```
pub struct StageHarness {
    id: String,
    kind: String,
    config: Box<dyn ConfiguredStage>,
    ports: Ports,
    feeds: Vec<(String, PortType, InputMode, Vec<Envelope>)>,
    run: RunSettings,
}

/// Messages each output port sent, in order.
#[derive(Debug, Default)]
pub struct Outputs {
    ports: BTreeMap<String, Vec<Envelope>>,
    /// Counters of the harness run.
    pub report: Option<RunReport>,
}

impl Outputs {
    /// The messages sent on `port` (empty if none).
    pub fn take<T: Message + Clone>(&mut self, port: &str) -> Vec<T> {
        let envelopes = self.ports.remove(port).unwrap_or_default();
        envelopes
            .into_iter()
            .map(|e| match e.downcast::<T>() {
                Ok(m) => Arc::unwrap_or_clone(m),
                Err(_) => panic!("output `{port}` does not carry {:?}", PortType::of::<T>()),
            })
            .collect()
    }
}

impl StageHarness {
    /// Parses `params` (the stage table without `kind`/`inputs`) through the real TOML path.
    ///
    /// # Panics
    /// On invalid parameters, with the diagnostic: this is test support.
    pub fn new<C: StageConfig>(params: &str) -> Self {
        let mut sources = Sources::default();
        let file = sources.add("<harness>", None, params);
        let value = Value::parse_document(params, file)
            .unwrap_or_else(|(m, _)| panic!("invalid TOML: {m}"));
        let config: C = from_value(&value)
            .unwrap_or_else(|e| panic!("invalid parameters for {}: {e:?}", C::KIND));
        let ports = config.ports();
        // one directory per harness: tests of one process run side by side, and two learners
        // finishing checkpoints in one directory race
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_dir = std::env::temp_dir().join(format!(
            "hicra-harness-{}-{}-{n}",
            std::process::id(),
            C::KIND
        ));
        let run = RunSettings {
            out_dir,
            ..RunSettings::default()
        };
        Self {
            id: "stage".into(),
            kind: C::KIND.into(),
            config: Box::new(config),
            ports,
            feeds: Vec::new(),
            run,
        }
    }

    /// A stage of any registered `kind` from its TOML table (`kind` and `inputs` keys are
    /// ignored), under the id `id` (stage seeds derive from it) and the given run settings.
    /// Besides tests, `hicra eval` runs a pipeline's prompt source alone with it.
    pub fn from_registry(
        registry: &crate::registry::Registry,
        id: &str,
        kind: &str,
        table: &Value,
        run: RunSettings,
    ) -> Result<Self, String> {
        let mut params = table.clone();
        if let crate::value::ValueKind::Table(t) = &mut params.kind {
            t.remove("kind");
            t.remove("inputs");
        }
        let config = registry
            .parse(kind, &params)
            .ok_or_else(|| format!("unknown stage kind `{kind}`"))?
            .map_err(|e| format!("stage `{id}` ({kind}): {}", e.message))?;
        Ok(Self {
            id: id.into(),
            kind: kind.into(),
            ports: config.ports(),
            config,
            feeds: Vec::new(),
            run,
        })
    }

    /// Whether the stage declares any input port.
    pub fn has_input(&self) -> bool {
        !self.ports.inputs.is_empty()
    }

    /// Settings the stage sees (seed, output directory...).
    pub fn settings(mut self, edit: impl FnOnce(&mut RunSettings)) -> Self {
        edit(&mut self.run);
        self
    }

    /// Messages to deliver on input `port`, in order; the input closes after the last one.
    pub fn input<T: Message>(mut self, port: &str, messages: Vec<T>) -> Self {
        let declared = self
            .ports
            .find_input(port)
            .unwrap_or_else(|| panic!("stage has no input `{port}`"));
        assert!(
            declared.ty == PortType::of::<T>(),
            "input `{port}` expects {:?}",
            declared.ty
        );
        let envelopes = messages
            .into_iter()
            .map(|m| Arc::new(m) as Envelope)
            .collect();
        self.feeds
            .push((port.to_string(), declared.ty, declared.mode, envelopes));
        self
    }

    /// Runs the stage until it returns; feeders and collectors run on their own threads.
    pub fn run(self) -> Result<Outputs, RunError> {
        self.run_with(&Cancel::new())
    }

    pub fn run_with(self, cancel: &Cancel) -> Result<Outputs, RunError> {
        let collected: Arc<Mutex<BTreeMap<String, Vec<Envelope>>>> = Arc::default();
        let mut stages = vec![PlannedStage {
            id: self.id,
            kind: self.kind,
            ports: self.ports.clone(),
            config: self.config,
        }];
        let mut edges = Vec::new();
        for (port, ty, mode, messages) in self.feeds {
            let ports = Ports {
                inputs: vec![],
                outputs: vec![output("out", ty)],
            };
            let feeder = Feeder(Mutex::new(Some(messages)));
            edges.push(edge(stages.len(), "out", 0, &port, ty, mode));
            stages.push(planned(format!("feed-{port}"), ports, feeder));
        }
        for out in &self.ports.outputs {
            let mut ports = Ports::new();
            ports.inputs.push(crate::port::InputPort {
                name: "in",
                ty: out.ty,
                mode: InputMode::Queue,
                required: true,
                fan_in: false,
                doc: "",
            });
            let collector = Collector {
                port: out.name.to_string(),
                into: collected.clone(),
            };
            edges.push(edge(
                0,
                out.name,
                stages.len(),
                "in",
                out.ty,
                InputMode::Queue,
            ));
            stages.push(planned(format!("collect-{}", out.name), ports, collector));
        }
        let order = (0..stages.len()).collect();
        let pipeline = Pipeline {
            sources: Sources::default(),
            run: self.run,
            placement: crate::placement::Placement::single(stages.len()),
            stages,
            edges,
            order,
        };
        let report = pipeline.run(cancel)?;
        let ports = std::mem::take(&mut *collected.lock().unwrap());
        Ok(Outputs {
            ports,
            report: Some(report),
        })
    }
}

fn output(name: &'static str, ty: PortType) -> crate::port::OutputPort {
    crate::port::OutputPort { name, ty, doc: "" }
}

fn edge(
    from: usize,
    from_port: &str,
    to: usize,
    to_port: &str,
    ty: PortType,
    mode: InputMode,
) -> Edge {
    let capacity = if mode == InputMode::Latest { 1 } else { 4 };
    Edge {
        from_stage: from,
        from_port: from_port.into(),
        to_stage: to,
        to_port: to_port.into(),
        ty,
        mode,
        capacity,
    }
}

/// A prebuilt stage wrapped as a config, for wiring harness helpers without a registry.
struct Prebuilt<S>(Mutex<Option<S>>, Ports);

impl<S: Stage> ConfiguredStage for Prebuilt<S> {
    fn ports(&self) -> Ports {
        self.1.clone()
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<crate::stage::Invalid> {
        Vec::new()
    }

    fn endless(&self) -> bool {
        false
    }

    fn replication(&self) -> crate::world::Replication {
        crate::world::Replication::Single
    }

    fn build(self: Box<Self>, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        let stage = self
            .0
            .lock()
            .unwrap()
            .take()
            .ok_or("harness stage built twice")?;
        Ok(Box::new(stage))
    }
}

fn planned<S: Stage>(id: String, ports: Ports, stage: S) -> PlannedStage {
    PlannedStage {
        kind: "harness.internal".into(),
        id,
        ports: ports.clone(),
        config: Box::new(Prebuilt(Mutex::new(Some(stage)), ports)),
    }
}

struct Feeder(Mutex<Option<Vec<Envelope>>>);

impl Stage for Feeder {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let edges = ctx.outputs.remove("out").unwrap_or_default();
        let out = crate::io::Outbox::<Envelope>::new(edges, ctx.cancel.clone());
        for envelope in self.0.lock().unwrap().take().unwrap_or_default() {
            out.send_envelope(envelope)?;
        }
        Ok(())
    }
}

struct Collector {
    port: String,
    into: Arc<Mutex<BTreeMap<String, Vec<Envelope>>>>,
}

impl Stage for Collector {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let Some(rx) = ctx.inputs.remove("in") else {
            return Ok(());
        };
        while let Ok(envelope) = rx.recv() {
            self.into
                .lock()
                .unwrap()
                .entry(self.port.clone())
                .or_default()
                .push(envelope);
        }
        Ok(())
    }
}
