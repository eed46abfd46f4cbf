//! Tree rollouts (docs/formulas/step-credit.md#tree-rollouts): per prompt, `group_size` first
//! responses, then `depth` rounds in which every path sampled in the round before is branched
//! at its best `points` positions (by `branch_at`), `children` new continuations each, until the
//! prompt has `max_leaves` responses. Children continue their parent's KV cache on the host
//! path and on the tensor path ([`hicra_model::Generator::branch`]), so a shared prefix is
//! computed once.
//!
//! Child `j` of a branch at position `at` of path `l` draws from stream `j` of the seed
//! `derive_seed(prompt seed, "tree/{l}/{at}")`: the tokens plain sampling from that prefix with
//! that seed draws. Every path is a leaf: it records where its own tokens start (before them it
//! repeats its parent) and where it was branched, from which [`tree_paths`] cuts the nodes.

use hicra_credit::Lexicon;
use hicra_flow::derive_seed;
use hicra_messages::{TreePath, TreeSegment};
use hicra_model::{
    Branch, Device, Generator, RuntimeBackend, Sample, SampleRequest, SamplingParams,
};

use super::tree_config::{BranchRule, TreeConfig};
use crate::codec::TextCodec;

/// One response of a tree.
#[derive(Debug, Clone)]
pub(super) struct Leaf {
    /// The whole response (the parent's first `own_start` tokens, then its own).
    pub sample: Sample,
    /// Where this path's own tokens begin (0 for a first response).
    pub own_start: usize,
    /// The path it branched from.
    pub parent: Option<usize>,
    /// Positions where other paths branched from this one.
    pub branched_at: Vec<usize>,
}

impl Leaf {
    /// An independent response (plain sampling: a tree of one node).
    pub fn independent(sample: Sample) -> Self {
        Self {
            sample,
            own_start: 0,
            parent: None,
            branched_at: Vec::new(),
        }
    }
}

/// What growing the trees of a batch cost and where they branched.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TreeFigures {
    pub branch_points: usize,
    /// Branch points at the start of a planning phrase of the lexicon.
    pub planning_points: usize,
    /// Sum of the entropies at the branch points.
    pub branch_entropy: f64,
}

/// Positions of one path that a rule ranks for branching.
pub(super) struct Chooser<'a> {
    pub config: &'a TreeConfig,
    pub lexicon: &'a Lexicon,
    pub codec: &'a TextCodec,
}

impl Chooser<'_> {
    /// The positions `own_start < b < len` where a child may branch, best first, and those
    /// at which a planning phrase starts.
    fn rank(&self, leaf: &Leaf) -> Result<(Vec<usize>, Vec<usize>), String> {
        let s = &leaf.sample;
        let open: Vec<usize> = (leaf.own_start + 1..s.tokens.len()).collect();
        let mut by_entropy = open.clone();
        by_entropy.sort_by(|&a, &b| s.entropies[b].total_cmp(&s.entropies[a]).then(a.cmp(&b)));
        let (text, spans) = self.codec.decode_with_spans(&s.tokens)?;
        let planning = phrase_starts(self.lexicon, &text, &spans);
        let ranked = match self.config.branch_at {
            BranchRule::Entropy => by_entropy,
            BranchRule::Delimiter => {
                let delim = self.config.delimiter.as_str();
                by_entropy
                    .into_iter()
                    .filter(|&b| text[..spans[b - 1].1].ends_with(delim))
                    .collect()
            }
            BranchRule::Planning => {
                let (mut first, rest): (Vec<usize>, Vec<usize>) =
                    by_entropy.into_iter().partition(|b| planning.contains(b));
                first.extend(rest);
                first
            }
        };
        Ok((ranked, planning))
    }
}

/// Token positions at which a phrase of `lexicon` starts in `text`.
fn phrase_starts(lexicon: &Lexicon, text: &str, spans: &[(usize, usize)]) -> Vec<usize> {
    lexicon
        .find(text)
        .iter()
        .filter_map(|m| spans.iter().position(|&(s, e)| s < e && e > m.start))
        .collect()
}

/// Grows one tree per prompt; `roots` first responses each (`prompts`, `seeds` as for plain
/// sampling).
#[allow(clippy::too_many_arguments)]
pub(super) fn grow(
    model: &Generator<RuntimeBackend>,
    prompts: &[&[u32]],
    seeds: &[u64],
    params: &SamplingParams,
    roots: usize,
    chooser: &Chooser,
    device: &Device,
    figures: &mut TreeFigures,
) -> Result<Vec<Vec<Leaf>>, String> {
    let tree = chooser.config;
    let request = SampleRequest::new(prompts, roots, params, seeds);
    let (first, mut kept) = model.sample_kept(&request, device);
    let mut trees: Vec<Vec<Leaf>> = first
        .into_iter()
        .map(|samples| samples.into_iter().map(Leaf::independent).collect())
        .collect();
    // (prompt, leaf) of each row of `kept`
    let mut frontier: Vec<(usize, usize)> = (0..prompts.len())
        .flat_map(|p| (0..roots).map(move |l| (p, l)))
        .collect();
    for _round in 0..tree.depth {
        let mut ranked = Vec::with_capacity(frontier.len());
        for &(p, l) in &frontier {
            ranked.push(chooser.rank(&trees[p][l])?);
        }
        let mut count: Vec<usize> = trees.iter().map(Vec::len).collect();
        let (mut branches, mut owners) = (Vec::new(), Vec::new());
        for r in 0..tree.points {
            for (row, &(p, l)) in frontier.iter().enumerate() {
                let Some(&at) = ranked[row].0.get(r) else {
                    continue;
                };
                if count[p] + tree.children > tree.max_leaves {
                    continue;
                }
                count[p] += tree.children;
                let seed = derive_seed(seeds[p], &format!("tree/{l}/{at}"));
                branches.push(Branch { row, at, seed });
                owners.push((p, l, at));
                figures.branch_points += 1;
                figures.planning_points += usize::from(ranked[row].1.contains(&at));
                figures.branch_entropy += f64::from(trees[p][l].sample.entropies[at]);
            }
        }
        if branches.is_empty() {
            break;
        }
        let never = |_: &[u32]| false;
        let (children, next) =
            model.branch(&kept, &branches, tree.children, params, &never, device);
        frontier.clear();
        for ((p, l, at), samples) in owners.into_iter().zip(children) {
            trees[p][l].branched_at.push(at);
            for child in samples {
                let parent = &trees[p][l].sample;
                let mut sample = Sample {
                    tokens: parent.tokens[..at].to_vec(),
                    logprobs: parent.logprobs[..at].to_vec(),
                    entropies: parent.entropies[..at].to_vec(),
                    stopped: child.stopped,
                };
                sample.tokens.extend(child.tokens);
                sample.logprobs.extend(child.logprobs);
                sample.entropies.extend(child.entropies);
                frontier.push((p, trees[p].len()));
                trees[p].push(Leaf {
                    sample,
                    own_start: at,
                    parent: Some(l),
                    branched_at: Vec::new(),
                });
            }
        }
        kept = next;
    }
    Ok(trees)
}

/// Each leaf's nodes: its own tokens cut where it was branched, after the nodes of its
/// parent up to where it left it. Node ids count up over the tree.
pub(super) fn tree_paths(leaves: &[Leaf]) -> Vec<TreePath> {
    let mut paths: Vec<TreePath> = Vec::with_capacity(leaves.len());
    let mut next_id = 0u32;
    for leaf in leaves {
        let mut segments: Vec<TreeSegment> = match leaf.parent {
            Some(q) => paths[q]
                .segments
                .iter()
                .copied()
                .filter(|s| s.end as usize <= leaf.own_start)
                .collect(),
            None => Vec::new(),
        };
        let len = leaf.sample.tokens.len();
        let mut cuts: Vec<usize> = leaf.branched_at.clone();
        cuts.push(len);
        cuts.sort_unstable();
        cuts.dedup();
        let mut start = leaf.own_start;
        for end in cuts {
            segments.push(TreeSegment {
                node: next_id,
                start: start as u32,
                end: end as u32,
            });
            next_id += 1;
            start = end;
        }
        paths.push(TreePath { segments });
    }
    paths
}
