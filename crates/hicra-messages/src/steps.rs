//! The step structure a response can carry beside its tokens: where it sits in its prompt's
//! sampling tree ([`TreePath`], set by a tree sampler) and the scores of its reasoning steps
//! ([`StepReward`], set by a process reward stage). Credit stages turn either into per-token
//! advantages (docs/formulas/step-credit.md).

use serde::{Deserialize, Serialize};

/// Name of the mask a tree sampler sets on the tokens a leaf shares with a leaf sampled
/// before it (an ancestor's prefix): the learner leaves them out of the loss, so a token
/// sampled once is trained once, by the leaf that sampled it.
pub const TREE_REPEAT_MASK: &str = "tree_repeat";

/// The nodes of a sampling tree that a leaf's response passes through, root side first.
///
/// Node ids are unique within the prompt's group; a node shared by several leaves has the
/// same id, span and predecessor in each. The segments are contiguous and cover the response:
/// the first starts at token 0, each starts where the previous ends, the last ends at the
/// response's length. The first segment's parent is the prompt (the tree's root).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreePath {
    pub segments: Vec<TreeSegment>,
}

/// One node of a sampling tree as a leaf sees it: tokens `start..end` of the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeSegment {
    /// The node's id within the group.
    pub node: u32,
    /// First response token of the node.
    pub start: u32,
    /// One past its last response token.
    pub end: u32,
}

/// The score of one reasoning step of a response: tokens `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReward {
    /// First response token of the step.
    pub start: u32,
    /// One past its last response token.
    pub end: u32,
    /// The step's score (a PRM's probability that the step is right, or a Monte-Carlo
    /// estimate of the chance to finish correctly from its end).
    pub score: f64,
}

impl TreePath {
    /// The node of each response token (`len` tokens), or why the segments do not cover
    /// `0..len` contiguously.
    pub fn node_of_tokens(&self, len: usize) -> Result<Vec<u32>, String> {
        let mut out = Vec::with_capacity(len);
        for s in &self.segments {
            if s.start as usize != out.len() || s.end < s.start {
                return Err(format!(
                    "tree segment of node {} spans tokens {}..{} but the previous ended at {}",
                    s.node,
                    s.start,
                    s.end,
                    out.len()
                ));
            }
            out.extend(std::iter::repeat_n(s.node, (s.end - s.start) as usize));
        }
        if out.len() != len {
            return Err(format!(
                "tree segments cover {} tokens of a response of {len}",
                out.len()
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(node: u32, start: u32, end: u32) -> TreeSegment {
        TreeSegment { node, start, end }
    }

    #[test]
    fn segments_map_tokens_to_nodes_and_gaps_are_refused() {
        let path = TreePath {
            segments: vec![seg(0, 0, 2), seg(3, 2, 5)],
        };
        assert_eq!(path.node_of_tokens(5).unwrap(), vec![0, 0, 3, 3, 3]);
        assert!(path.node_of_tokens(6).is_err());
        let gap = TreePath {
            segments: vec![seg(0, 0, 2), seg(3, 3, 5)],
        };
        assert!(gap.node_of_tokens(5).is_err());
    }
}
