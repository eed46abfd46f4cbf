//! The `tree` table of `sampler.policy`: the shape of each prompt's sampling tree and where it
//! branches (docs/formulas/step-credit.md#tree-rollouts).

use std::path::PathBuf;

use hicra_flow::{BuildContext, Invalid};
use serde::Deserialize;

/// Tree rollouts: `group_size` first responses per prompt, then `depth` rounds of branching.
///
/// Defaults: `impl Default` below.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeConfig {
    /// Rounds of branching after the first responses (>= 1); round k branches the paths
    /// sampled in round k - 1.
    pub depth: usize,
    /// Branch points chosen on each path of the previous round (>= 1).
    pub points: usize,
    /// New continuations drawn at each branch point (>= 1); the path branched continues
    /// too, so a branch point has `children + 1` children.
    pub children: usize,
    /// Most leaves (responses) per prompt, the first responses included (>= group_size);
    /// branch points are taken round-robin over the paths (every path's best point first)
    /// until it is reached.
    pub max_leaves: usize,
    /// Where to branch: `entropy` (the tokens drawn from the most uncertain distributions,
    /// TreeRL's rule), `delimiter` (after a step delimiter, the most uncertain first) or
    /// `planning` (where a planning phrase of `lexicon` starts, so siblings choose their own
    /// plans; paths with fewer such positions than `points` fill up by entropy).
    pub branch_at: BranchRule,
    /// The step delimiter of `branch_at = "delimiter"`.
    pub delimiter: String,
    /// A lexicon file of planning phrases (as the taggers take); absent: the paper's strategic
    /// grams. Used by `branch_at = "planning"` and to count branch points at planning phrases.
    pub lexicon: Option<PathBuf>,
    /// Planning phrases given inline instead of a lexicon file (as the taggers' `grams`).
    pub grams: Option<Vec<String>>,
}

/// Where a tree branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchRule {
    Entropy,
    Delimiter,
    Planning,
}

impl Default for TreeConfig {
    fn default() -> Self {
        Self {
            depth: 1,
            points: 2,
            children: 1,
            max_leaves: 16,
            branch_at: BranchRule::Entropy,
            delimiter: "\n".into(),
            lexicon: None,
            grams: None,
        }
    }
}

impl TreeConfig {
    /// What the sampler refuses in its `tree` table (`group_size` is its first responses).
    pub fn check(&self, group_size: usize, ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("depth", self.depth),
            ("points", self.points),
            ("children", self.children),
        ] {
            if value == 0 {
                problems.push(Invalid::new(
                    &format!("tree.{field}"),
                    format!("tree.{field} must be at least 1"),
                ));
            }
        }
        if self.max_leaves < group_size {
            problems.push(
                Invalid::new(
                    "tree.max_leaves",
                    format!(
                        "tree.max_leaves ({}) is below group_size ({group_size}), the first \
                         responses of each tree",
                        self.max_leaves
                    ),
                )
                .help("max_leaves counts every response of a prompt's tree"),
            );
        }
        if self.branch_at == BranchRule::Delimiter && self.delimiter.is_empty() {
            problems.push(Invalid::new(
                "tree.delimiter",
                "tree.delimiter must not be empty",
            ));
        }
        if let Err(mut e) = self.lexicon(ctx) {
            e.field = format!("tree.{}", e.field);
            problems.push(e);
        }
        problems
    }

    /// The planning phrases: `lexicon`'s or `grams`, else the paper's strategic grams.
    pub fn lexicon(&self, ctx: &BuildContext) -> Result<hicra_credit::Lexicon, Invalid> {
        hicra_credit::taggers::configured_lexicon(&self.lexicon, &self.grams, ctx)
    }
}
