//! Tree credit (docs/formulas/step-credit.md#tree-credit). The leaves of one prompt's sampling
//! tree are its group; every leaf records the nodes it passes through
//! ([`hicra_messages::TreePath`]). With `L(n)` the leaves below node `n` and `R_l` their
//! rewards:
//!
//! ```text
//! V(n)     = mean_{l in L(n)} R_l            V(root) = mean over all leaves
//! local    = V(n) - V(parent(n))
//! global   = V(n) - V(root)
//! A(n)     = local | global | local + global       (then / (std_R + eps) for grpo)
//!            (x 1/sqrt(|L(n)|) with scale_by_leaves)
//! ```
//!
//! Every token of node `n` gets `A(n)`. A tree branched at the root only (independent
//! leaves) gives each leaf `R_l - mean` in the `local` and `global` forms: GRPO's (or Dr.
//! GRPO's) advantage exactly. A node shared by several leaves appears in each leaf's tokens,
//! with the same advantage; the sampler marks the copies in every leaf but the one that
//! sampled them ([`hicra_messages::TREE_REPEAT_MASK`]), so the learner trains it once.

use std::collections::BTreeMap;

use hicra_messages::Group;
use serde::Deserialize;

use crate::error::CreditError;
use crate::estimator::{is_zero_variance, sample_std};

/// Which value change a node's tokens get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeAdvantage {
    /// `V(n) - V(parent(n))`: what the node's own tokens changed.
    Local,
    /// `V(n) - V(root)`: how much better than the prompt's mean the node's leaves did.
    Global,
    /// Their sum (TreeRL, Hou et al. 2025).
    #[default]
    LocalGlobal,
}

/// Figures of the trees of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeReport {
    /// Trees (groups) seen.
    pub trees: usize,
    /// Nodes in all, the root not counted.
    pub nodes: usize,
    /// Nodes (the root included) with at least two children.
    pub branch_nodes: usize,
    /// Sum over branch nodes of `max - min` of their children's values.
    pub value_spread_sum: f64,
}

/// A group's nodes by id.
type Nodes = BTreeMap<u32, Node>;

/// One node as the leaves through it record it.
struct Node {
    start: u32,
    end: u32,
    parent: Option<u32>,
    leaves: Vec<usize>,
}

/// How a group's tree credit is computed.
#[derive(Debug, Clone, Copy)]
pub struct TreeCredit {
    pub advantage: TreeAdvantage,
    pub scale_by_leaves: bool,
    /// Divide by the std of the leaf rewards (`grpo`); `false` for `drgrpo`.
    pub normalise_std: bool,
    pub eps: f64,
}

impl TreeCredit {
    /// Token advantages `[leaf][token]` of one group, whose leaves have `rewards`.
    pub fn group(
        &self,
        group: &Group,
        rewards: &[f64],
        report: &mut TreeReport,
    ) -> Result<Vec<Vec<f64>>, CreditError> {
        let (nodes, token_nodes) = nodes_of(group)?;
        report.trees += 1;
        report.nodes += nodes.len();
        let value =
            |n: &Node| n.leaves.iter().map(|&l| rewards[l]).sum::<f64>() / n.leaves.len() as f64;
        let root = rewards.iter().sum::<f64>() / rewards.len().max(1) as f64;
        let values: BTreeMap<u32, f64> = nodes.iter().map(|(&id, n)| (id, value(n))).collect();
        spread(&nodes, &values, report);
        if is_zero_variance(rewards) {
            return Ok(token_nodes.iter().map(|t| vec![0.0; t.len()]).collect());
        }
        let scale = if self.normalise_std {
            1.0 / (sample_std(rewards, root) + self.eps)
        } else {
            1.0
        };
        let advantage: BTreeMap<u32, f64> = nodes
            .iter()
            .map(|(&id, n)| {
                let v = values[&id];
                let before = n.parent.map_or(root, |p| values[&p]);
                let a = match self.advantage {
                    TreeAdvantage::Local => v - before,
                    TreeAdvantage::Global => v - root,
                    TreeAdvantage::LocalGlobal => (v - before) + (v - root),
                };
                let leaves = if self.scale_by_leaves {
                    (n.leaves.len() as f64).sqrt()
                } else {
                    1.0
                };
                (id, a * scale / leaves)
            })
            .collect();
        Ok(token_nodes
            .iter()
            .map(|t| t.iter().map(|id| advantage[id]).collect())
            .collect())
    }
}

/// The group's nodes by id, and the node of every token of every leaf; errors name the leaf
/// whose path is missing or disagrees with another leaf's about a shared node.
fn nodes_of(group: &Group) -> Result<(Nodes, Vec<Vec<u32>>), CreditError> {
    let mut nodes: BTreeMap<u32, Node> = BTreeMap::new();
    let mut token_nodes = Vec::with_capacity(group.rollouts.len());
    for (index, r) in group.rollouts.iter().enumerate() {
        let fail = |why: String| CreditError::StepStructure {
            group: group.prompt.id.clone(),
            index,
            why,
        };
        let path = r.tree.as_ref().ok_or_else(|| {
            fail("no sampling tree recorded (tree credit needs a sampler with `tree`)".into())
        })?;
        token_nodes.push(path.node_of_tokens(r.len()).map_err(fail)?);
        let mut parent = None;
        for s in &path.segments {
            let node = nodes.entry(s.node).or_insert(Node {
                start: s.start,
                end: s.end,
                parent,
                leaves: Vec::new(),
            });
            if (node.start, node.end, node.parent) != (s.start, s.end, parent) {
                return Err(fail(format!(
                    "node {} spans {}..{} after {:?} here but {}..{} after {:?} in an earlier leaf",
                    s.node, s.start, s.end, parent, node.start, node.end, node.parent
                )));
            }
            if node.leaves.contains(&index) {
                return Err(fail(format!("node {} appears twice on the path", s.node)));
            }
            node.leaves.push(index);
            parent = Some(s.node);
        }
    }
    Ok((nodes, token_nodes))
}

/// Adds the value spread of every node with two children or more (the root included).
fn spread(nodes: &Nodes, values: &BTreeMap<u32, f64>, report: &mut TreeReport) {
    let mut children: BTreeMap<Option<u32>, Vec<f64>> = BTreeMap::new();
    for (id, n) in nodes {
        children.entry(n.parent).or_default().push(values[id]);
    }
    for v in children.values().filter(|v| v.len() >= 2) {
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        report.branch_nodes += 1;
        report.value_spread_sum += max - min;
    }
}
