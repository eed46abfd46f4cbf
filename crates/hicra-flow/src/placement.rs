//! Which process runs which stage: the `[run.placement]` table of a run launched on several
//! processes (`mpirun -np N hicra run FILE`).
//!
//! ```toml
//! [run.placement]
//! learner = "0-1"   # two data-parallel learner replicas
//! sampler = "2"     # or "2-5": replicas sharing the prompts
//! ```
//!
//! Every stage not named runs on rank 0. A stage on several ranks must say how it is
//! replicated ([`Replication`]); validation refuses ranks beyond the world size, replicas of a
//! stage that cannot be replicated, and queue edges between two replicated stages. The flow
//! core only plans; `hicra-dist` carries the edges that cross ranks.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::port::{Edge, InputMode};
use crate::source::Span;
use crate::value::{Value, ValueKind};
use crate::world::{Replication, World};

/// One `stage = "ranks"` line as written.
#[derive(Clone, Debug)]
pub struct PlacementEntry {
    pub stage: String,
    pub stage_span: Span,
    pub ranks: String,
    pub span: Span,
}

/// Reads `[run.placement]` (already removed from the run table), reporting what is malformed.
pub(crate) fn read_entries(value: &Value, diags: &mut Vec<Diagnostic>) -> Vec<PlacementEntry> {
    let Some(table) = value.as_table() else {
        diags.push(
            Diagnostic::new(
                format!("`run.placement` must be a table, not {}", value.type_name()),
                Some(value.span.clone()),
            )
            .help("[run.placement] with one `stage = \"ranks\"` line per placed stage"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, v) in &table.entries {
        let ranks = match &v.kind {
            ValueKind::Integer(n) => Some(n.to_string()),
            _ => v.as_str().map(str::to_string),
        };
        match ranks {
            Some(ranks) => out.push(PlacementEntry {
                stage: key.name.clone(),
                stage_span: key.span.clone(),
                ranks,
                span: v.span.clone(),
            }),
            None => diags.push(
                Diagnostic::new(
                    format!(
                        "the ranks of `{}` must be a rank or a string of ranks",
                        key.name
                    ),
                    Some(v.span.clone()),
                )
                .help("write ranks as \"2\", \"0-1\" or \"0,2-3\""),
            ),
        }
    }
    out
}

/// Ranks written as `"2"`, `"0-1"` or `"0,2-3"`, in the order written, without repeats.
pub fn parse_ranks(text: &str) -> Result<Vec<usize>, String> {
    let mut ranks = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{s}` is not a rank (a number from 0)"))
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if last < first {
            return Err(format!("`{part}` is an empty range"));
        }
        for r in first..=last {
            if ranks.contains(&r) {
                return Err(format!("rank {r} is named twice"));
            }
            ranks.push(r);
        }
    }
    Ok(ranks)
}

/// Where every stage runs, checked.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// This process and the run's size (validated against).
    pub world: World,
    /// Per stage (in pipeline order): its ranks, the first being the lead replica.
    pub ranks: Vec<Vec<usize>>,
    /// Per stage: how its replicas share work ([`Replication::Single`] on one rank).
    pub replication: Vec<Replication>,
}

impl Placement {
    /// Every stage on rank 0 of a one-process world.
    pub fn single(stages: usize) -> Self {
        Self {
            world: World::default(),
            ranks: vec![vec![0]; stages],
            replication: vec![Replication::Single; stages],
        }
    }

    /// Whether any stage runs outside rank 0, or the world has several processes.
    pub fn is_distributed(&self) -> bool {
        self.world.size > 1 || self.ranks.iter().any(|r| r != &[0])
    }

    /// The replica index of `stage` on `rank`, if it runs there.
    pub fn replica_on(&self, stage: usize, rank: usize) -> Option<usize> {
        self.ranks[stage].iter().position(|&r| r == rank)
    }

    /// The ranks whose copy of `stage` sends its outputs on (a mirror's lead only).
    pub fn sending_ranks(&self, stage: usize) -> &[usize] {
        match self.replication[stage] {
            Replication::Mirror => &self.ranks[stage][..1],
            _ => &self.ranks[stage],
        }
    }

    /// The placement of the stages with `ids` (their `replication` as declared), every
    /// problem reported at the value written.
    pub(crate) fn plan(
        entries: &[PlacementEntry],
        ids: &[(&str, &str, Replication)],
        world: World,
        diags: &mut Vec<Diagnostic>,
    ) -> Self {
        let index: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, (id, _, _))| (*id, i))
            .collect();
        let mut placement = Self::single(ids.len());
        placement.world = world;
        for entry in entries {
            let Some(&stage) = index.get(entry.stage.as_str()) else {
                let help = crate::de::valid_choices_help(
                    &entry.stage,
                    ids.iter().map(|(id, _, _)| *id),
                    "stages",
                );
                diags.push(
                    Diagnostic::new(
                        format!(
                            "`run.placement` names `{}`, which is not a stage",
                            entry.stage
                        ),
                        Some(entry.stage_span.clone()),
                    )
                    .help(help),
                );
                continue;
            };
            let (id, kind, replication) = ids[stage];
            let problem = |message: String, help: String| {
                Diagnostic::new(message, Some(entry.span.clone())).help(help)
            };
            let ranks = match parse_ranks(&entry.ranks) {
                Ok(ranks) if ranks.is_empty() => continue,
                Ok(ranks) => ranks,
                Err(e) => {
                    diags.push(problem(
                        e,
                        "write ranks as \"2\", \"0-1\" or \"0,2-3\"".into(),
                    ));
                    continue;
                }
            };
            if let Some(&beyond) = ranks.iter().find(|&&r| r >= world.size) {
                let needed = ranks.iter().max().map_or(1, |m| m + 1);
                diags.push(problem(
                    format!(
                        "`{id}` is placed on rank {beyond}, but this run has {} process{}",
                        world.size,
                        if world.size == 1 { "" } else { "es" }
                    ),
                    format!(
                        "launch at least {needed} processes: `mpirun -np {needed} hicra run \
                         FILE` (or srun), with hicra built with `--features mpi`"
                    ),
                ));
                continue;
            }
            if ranks.len() > 1 && replication == Replication::Single {
                diags.push(problem(
                    format!("`{id}` ({kind}) cannot run on several ranks"),
                    "only learners (data-parallel) and training samplers replicate; place \
                     this stage on one rank"
                        .into(),
                ));
                continue;
            }
            placement.ranks[stage] = ranks;
            placement.replication[stage] = if placement.ranks[stage].len() > 1 {
                replication
            } else {
                Replication::Single
            };
        }
        placement
    }
}

/// `[run.placement]` against the stages (`ids`: each one's id, kind and replication), the
/// launch's world size and the edges; a queue edge between two replicated stages is refused
/// (which replica would read what?).
pub(crate) fn plan_placement(
    entries: &[PlacementEntry],
    ids: &[(&str, &str, Replication)],
    edges: &[Edge],
    edge_spans: &[Span],
    diags: &mut Vec<Diagnostic>,
) -> Placement {
    let placement = Placement::plan(entries, ids, World::from_env(), diags);
    for (edge, span) in edges.iter().zip(edge_spans) {
        let replicated = |s: usize| placement.ranks[s].len() > 1;
        if edge.mode == InputMode::Queue && replicated(edge.from_stage) && replicated(edge.to_stage)
        {
            let (from, to) = (ids[edge.from_stage].0, ids[edge.to_stage].0);
            diags.push(
                Diagnostic::new(
                    format!("`{from}` and `{to}` are both replicated, so this queue edge has no single reader or writer"),
                    Some(span.clone()),
                )
                .help("place one of the two stages on a single rank"),
            );
        }
    }
    placement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_parse_singles_ranges_and_lists() {
        assert_eq!(parse_ranks("2"), Ok(vec![2]));
        assert_eq!(parse_ranks("0-1"), Ok(vec![0, 1]));
        assert_eq!(parse_ranks("0, 2-3"), Ok(vec![0, 2, 3]));
        assert!(parse_ranks("3-1").unwrap_err().contains("empty range"));
        assert!(parse_ranks("1,1").unwrap_err().contains("twice"));
        assert!(parse_ranks("x").unwrap_err().contains("not a rank"));
    }

    fn entry(stage: &str, ranks: &str) -> PlacementEntry {
        let mut sources = crate::source::Sources::default();
        let file = sources.add("test", None, "");
        let span = Span { file, range: 0..0 };
        PlacementEntry {
            stage: stage.into(),
            stage_span: span.clone(),
            ranks: ranks.into(),
            span,
        }
    }

    #[test]
    fn placements_are_checked_against_stages_world_and_replication() {
        let ids = [
            ("learner", "learner.policy_gradient", Replication::Mirror),
            ("sampler", "sampler.policy", Replication::Share),
            ("verifier", "verifier.boxed", Replication::Single),
        ];
        let world = World { rank: 0, size: 3 };
        let mut diags = Vec::new();
        let ok = [entry("learner", "0-1"), entry("sampler", "2")];
        let p = Placement::plan(&ok, &ids, world, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(p.ranks, vec![vec![0, 1], vec![2], vec![0]]);
        assert_eq!(
            p.replication,
            vec![
                Replication::Mirror,
                Replication::Single,
                Replication::Single
            ]
        );
        let bad = [
            entry("lerner", "1"),
            entry("sampler", "1-3"),
            entry("verifier", "1-2"),
            entry("learner", "x"),
        ];
        Placement::plan(&bad, &ids, world, &mut diags);
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("`lerner`, which is not a stage"));
        assert!(messages[1].contains("rank 3, but this run has 3 processes"));
        assert!(messages[2].contains("cannot run on several ranks"));
        assert!(messages[3].contains("not a rank"));
        assert!(diags[1].help.as_deref().unwrap().contains("mpirun -np 4"));
    }

    #[test]
    fn a_mirror_sends_from_its_lead_only() {
        let mut p = Placement::single(2);
        p.ranks = vec![vec![0, 1], vec![2, 3]];
        p.replication = vec![Replication::Mirror, Replication::Share];
        assert_eq!(p.sending_ranks(0), &[0]);
        assert_eq!(p.sending_ranks(1), &[2, 3]);
        assert_eq!(p.replica_on(1, 3), Some(1));
        assert_eq!(p.replica_on(0, 2), None);
        assert!(p.is_distributed());
        assert!(!Placement::single(3).is_distributed());
    }
}
