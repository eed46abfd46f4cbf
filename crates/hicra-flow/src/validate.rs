//! Checks a pipeline spec against the registry before anything runs: kinds, parameters,
//! edges, port types, required inputs and cycles. Every problem is collected.

use std::collections::HashMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::DiGraph;

use crate::de::{closest_choice, valid_choices_help};
use crate::diagnostic::Diagnostic;
use crate::placement::{Placement, plan_placement};
use crate::port::{Edge, InputMode, Ports};
use crate::registry::{ConfiguredStage, PlannedStage, Registry};
use crate::source::Span;
use crate::spec::{PipelineSpec, StageSpec, de_diagnostic};
use crate::stage::RunSettings;
use crate::world::Replication;

type Planned = (Vec<PlannedStage>, Vec<Edge>, Vec<usize>, Placement);

pub(crate) fn validate(
    registry: &Registry,
    spec: &PipelineSpec,
    run: &RunSettings,
    diags: &mut Vec<Diagnostic>,
) -> Option<Planned> {
    let configs: Vec<_> = spec
        .stages
        .iter()
        .map(|s| parse_stage(registry, s, diags))
        .collect();
    plan(spec, configs, true, run, diags)
}

/// The checks after parsing, on one config per stage of `spec` (`None`: it did not parse):
/// values, edges, required inputs, endless sources, cycles. `from_text`: the parameters are
/// the spec's (a pipeline file), not Rust values ([`crate::builder`], whose typed configs come
/// in here), so a refused value that is not written there is the config's default.
pub(crate) fn plan(
    spec: &PipelineSpec,
    configs: Vec<Option<Box<dyn ConfiguredStage>>>,
    from_text: bool,
    run: &RunSettings,
    diags: &mut Vec<Diagnostic>,
) -> Option<Planned> {
    let index: HashMap<&str, usize> = spec
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.name.as_str(), i))
        .collect();
    for (stage, config) in spec.stages.iter().zip(&configs) {
        if let Some(config) = config {
            check_values(stage, config.as_ref(), from_text, run, diags);
        }
    }
    let ports: Vec<Option<Ports>> = configs
        .iter()
        .map(|c| c.as_ref().map(|c| c.ports()))
        .collect();

    let before_edges = diags.len();
    let mut edges = Vec::new();
    let mut edge_spans = Vec::new();
    for (to, stage) in spec.stages.iter().enumerate() {
        let Some(to_ports) = &ports[to] else { continue };
        for input in &stage.inputs {
            let Some(port) = to_ports.find_input(&input.port.name) else {
                let names = to_ports.inputs.iter().map(|p| p.name);
                let msg = format!(
                    "stage `{}` ({}) has no input `{}`",
                    stage.id.name, stage.kind, input.port.name
                );
                diags.push(
                    Diagnostic::new(msg, Some(input.port.span.clone())).help(valid_choices_help(
                        &input.port.name,
                        names,
                        "inputs",
                    )),
                );
                continue;
            };
            if input.sources.len() > 1 && !port.fan_in {
                let msg = format!(
                    "input `{}` of stage `{}` takes a single source",
                    port.name, stage.id.name
                );
                diags.push(
                    Diagnostic::new(msg, Some(input.port.span.clone()))
                        .help("keep one `stage.port` here"),
                );
            }
            for source in &input.sources {
                let Some(&from) = index.get(source.stage.as_str()) else {
                    let names = spec.stages.iter().map(|s| s.id.name.as_str());
                    let msg = format!("edge from unknown stage `{}`", source.stage);
                    diags.push(
                        Diagnostic::new(msg, Some(source.span.clone()))
                            .label("dangling edge")
                            .help(valid_choices_help(&source.stage, names, "stages")),
                    );
                    continue;
                };
                let Some(from_ports) = &ports[from] else {
                    continue;
                };
                let Some(out) = from_ports.find_output(&source.port) else {
                    let names = from_ports.outputs.iter().map(|p| p.name);
                    let from_spec = &spec.stages[from];
                    let msg = format!(
                        "stage `{}` ({}) has no output `{}`",
                        source.stage, from_spec.kind, source.port
                    );
                    diags.push(
                        Diagnostic::new(msg, Some(source.span.clone())).help(valid_choices_help(
                            &source.port,
                            names,
                            "outputs",
                        )),
                    );
                    continue;
                };
                if out.ty != port.ty {
                    let msg = format!(
                        "port type mismatch: `{}.{}` sends {:?} but input `{}` of `{}` expects {:?}",
                        source.stage, source.port, out.ty, port.name, stage.id.name, port.ty
                    );
                    diags.push(
                        Diagnostic::new(msg, Some(source.span.clone()))
                            .label("connected here")
                            .help(candidates(spec, &ports, port.ty)),
                    );
                    continue;
                }
                let capacity = match port.mode {
                    InputMode::Latest => 1,
                    InputMode::Queue => source.capacity.unwrap_or(run.channel_capacity),
                };
                let (from_port, to_port) = (source.port.clone(), port.name.to_string());
                edges.push(Edge {
                    from_stage: from,
                    from_port,
                    to_stage: to,
                    to_port,
                    ty: port.ty,
                    mode: port.mode,
                    capacity,
                });
                edge_spans.push(source.span.clone());
            }
        }
        for port in to_ports.inputs.iter().filter(|p| p.required) {
            if !stage.inputs.iter().any(|i| i.port.name == port.name) {
                let msg = format!(
                    "required input `{}` of stage `{}` ({}) is not connected",
                    port.name, stage.id.name, stage.kind
                );
                let help = format!(
                    "add inputs = {{ {} = \"<stage>.<port>\" }}; {}",
                    port.name,
                    candidates(spec, &ports, port.ty)
                );
                diags.push(Diagnostic::new(msg, Some(stage.id.span.clone())).help(help));
            }
        }
    }
    // with a broken edge or stage, an output may look unconnected only because of it
    let edges_ok = diags.len() == before_edges && configs.iter().all(Option::is_some);
    for (index, (stage, config)) in spec.stages.iter().zip(&configs).enumerate() {
        if !edges_ok {
            break;
        }
        let feeds_something = edges.iter().any(|e| e.from_stage == index);
        if config.as_ref().is_some_and(|c| c.endless()) && !feeds_something {
            let msg = format!(
                "stage `{}` ({}) never ends on its own and none of its outputs is connected: \
                 the run would never stop",
                stage.id.name, stage.kind
            );
            let help = "connect one of its outputs to a stage that ends, or give it a count";
            diags.push(Diagnostic::new(msg, Some(stage.id.span.clone())).help(help));
        }
    }
    let order = check_cycles(spec, &edges, &edge_spans, diags);
    let ids: Vec<(&str, &str, Replication)> = spec
        .stages
        .iter()
        .zip(&configs)
        .map(|(s, c)| {
            let replication = c.as_ref().map_or(Replication::Single, |c| c.replication());
            (s.id.name.as_str(), s.kind.as_str(), replication)
        })
        .collect();
    let placement = plan_placement(&spec.placement, &ids, &edges, &edge_spans, diags);
    let stages: Vec<PlannedStage> = spec
        .stages
        .iter()
        .zip(configs)
        .zip(ports)
        .filter_map(|((s, c), p)| {
            Some(PlannedStage {
                id: s.id.name.clone(),
                kind: s.kind.clone(),
                config: c?,
                ports: p?,
            })
        })
        .collect();
    (stages.len() == spec.stages.len()).then_some((stages, edges, order?, placement))
}

fn parse_stage(
    registry: &Registry,
    stage: &StageSpec,
    diags: &mut Vec<Diagnostic>,
) -> Option<Box<dyn ConfiguredStage>> {
    match registry.parse(&stage.kind, &stage.params) {
        Some(Ok(config)) => Some(config),
        Some(Err(e)) => {
            let mut d = de_diagnostic(e, &stage.params);
            d.message = format!(
                "{} (stage `{}`, kind {})",
                d.message, stage.id.name, stage.kind
            );
            diags.push(d);
            None
        }
        None => {
            let msg = format!("unknown stage kind `{}`", stage.kind);
            diags.push(
                Diagnostic::new(msg, Some(stage.kind_span.clone()))
                    .help(unknown_kind_help(&stage.kind, registry)),
            );
            None
        }
    }
}

/// Runs the stage's own value checks; each refused value becomes a diagnostic at its span.
fn check_values(
    stage: &StageSpec,
    config: &dyn ConfiguredStage,
    from_text: bool,
    run: &RunSettings,
    diags: &mut Vec<Diagnostic>,
) {
    let unwritten = if from_text { " (its default)" } else { "" };
    let ctx = crate::stage::BuildContext {
        id: stage.id.name.clone(),
        run: run.clone(),
    };
    for mut invalid in config.check(&ctx) {
        if invalid.field.is_empty() {
            let first = invalid.message.split_whitespace().next().unwrap_or("");
            let first = first.trim_matches(|c: char| c == '`' || c == ':' || c == ',');
            if value_at(&stage.params, first).is_some() {
                invalid.field = first.to_string();
            }
        }
        let at = value_at(&stage.params, &invalid.field);
        let msg = match at {
            Some(_) => format!(
                "{} (stage `{}`, kind {})",
                invalid.message, stage.id.name, stage.kind
            ),
            None if invalid.field.is_empty() => format!(
                "stage `{}` ({}): {}",
                stage.id.name, stage.kind, invalid.message
            ),
            None => format!(
                "stage `{}` ({}): `{}`{unwritten}: {}",
                stage.id.name, stage.kind, invalid.field, invalid.message
            ),
        };
        let span = at.map_or_else(|| stage.id.span.clone(), |v| v.span.clone());
        let mut d = Diagnostic::new(msg, Some(span));
        d.help = invalid.help;
        diags.push(d);
    }
}

/// The value at a dotted path of tables (`sft.steps`), if written.
fn value_at<'a>(table: &'a crate::value::Value, dotted: &str) -> Option<&'a crate::value::Value> {
    if dotted.is_empty() {
        return None;
    }
    dotted
        .split('.')
        .try_fold(table, |value, key| value.as_table()?.get(key))
}

/// Suggests the closest kind and lists the kinds of the same family (`mock.*`), or the
/// families when the prefix matches none; `hicra stages` prints every kind.
fn unknown_kind_help(given: &str, registry: &Registry) -> String {
    let family_of = |kind: &str| kind.split('.').next().unwrap_or_default().to_string();
    let all: Vec<&str> = registry.kinds().map(|k| k.kind).collect();
    let family = family_of(given);
    let same_family: Vec<&str> = all
        .iter()
        .copied()
        .filter(|k| family_of(k) == family)
        .collect();
    let listing = if same_family.is_empty() {
        let mut families: Vec<String> = all.iter().map(|k| family_of(k)).collect();
        families.dedup();
        format!("kind families: {}", families.join(", "))
    } else {
        format!("`{family}.*` kinds: {}", same_family.join(", "))
    };
    let listing = format!("{listing} (`hicra stages` lists them all)");
    match closest_choice(given, all.into_iter()) {
        Some(best) => format!("did you mean `{best}`? {listing}"),
        None => listing,
    }
}

/// "outputs of this type: a.x, b.y" to help connect a port.
fn candidates(spec: &PipelineSpec, ports: &[Option<Ports>], ty: crate::port::PortType) -> String {
    let found: Vec<String> = spec
        .stages
        .iter()
        .zip(ports)
        .filter_map(|(s, p)| Some((s, p.as_ref()?)))
        .flat_map(|(s, p)| {
            p.outputs
                .iter()
                .filter(|o| o.ty == ty)
                .map(move |o| format!("{}.{}", s.id.name, o.name))
        })
        .collect();
    if found.is_empty() {
        format!("no stage in this pipeline outputs {ty:?}")
    } else {
        format!("outputs of type {ty:?}: {}", found.join(", "))
    }
}

/// Orders the queue edges; a cycle not broken by a keep-latest input is an error naming its
/// members. Returns `None` when there is such a cycle.
fn check_cycles(
    spec: &PipelineSpec,
    edges: &[Edge],
    spans: &[Span],
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<usize>> {
    let mut graph = DiGraph::<usize, usize>::new();
    let nodes: Vec<_> = (0..spec.stages.len()).map(|i| graph.add_node(i)).collect();
    for (i, e) in edges
        .iter()
        .enumerate()
        .filter(|(_, e)| e.mode == InputMode::Queue)
    {
        graph.add_edge(nodes[e.from_stage], nodes[e.to_stage], i);
    }
    if let Ok(order) = toposort(&graph, None) {
        return Some(order.into_iter().map(|n| graph[n]).collect());
    }
    for component in tarjan_scc(&graph) {
        let members: Vec<usize> = component.iter().map(|n| graph[*n]).collect();
        let self_loop = members.len() == 1 && graph.contains_edge(component[0], component[0]);
        if members.len() < 2 && !self_loop {
            continue;
        }
        let mut names: Vec<&str> = members
            .iter()
            .map(|&i| spec.stages[i].id.name.as_str())
            .collect();
        names.sort_unstable();
        let closing = edges
            .iter()
            .enumerate()
            .find(|(_, e)| {
                e.mode == InputMode::Queue
                    && members.contains(&e.from_stage)
                    && members.contains(&e.to_stage)
            })
            .map(|(i, _)| spans[i].clone());
        let msg = format!("cycle through stages {}", names.join(", "));
        let help = "a loop is allowed only through a keep-latest input (like the sampler's `weights`); break it or route it through one";
        diags.push(
            Diagnostic::new(msg, closing)
                .label("this edge closes the cycle")
                .help(help),
        );
    }
    None
}
