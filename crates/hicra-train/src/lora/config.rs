//! The learner's `lora` table and its checks (reported at `lora.FIELD` by `hicra validate`).

use hicra_flow::Invalid;
use hicra_model::{ModelConfig, Precision};
use serde::{Deserialize, Serialize};

/// Low-rank adapters on the policy's dense layers (`learner.policy_gradient`'s `lora`):
/// each targeted weight becomes `W0 + (alpha / rank) * B @ A`, only `A` and `B` train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank r of each adapter (`A` is `[r, in]`, `B` is `[out, r]`): at least 1 and at most
    /// the smaller side of every targeted layer.
    pub rank: usize,
    /// Scale numerator: the update is `(alpha / rank) * B @ A`; must be positive.
    pub alpha: f64,
    /// Which dense layers of every block get an adapter: any of `q`, `k`, `v`, `o` (attention
    /// projections) and `gate`, `up`, `down` (the MLP).
    pub targets: Vec<String>,
    /// Dropout on the adapters' input; only 0 is supported (the learner trains the adapters
    /// by projecting the full weights' gradients, which is exact only without dropout).
    pub dropout: f64,
    /// Seed of `A`'s initialisation; absent = the stage seed.
    pub init_seed: Option<u64>,
    /// Storage type of the frozen base on the learner: `f32` (default), `bf16` or `f16` (half
    /// the base's memory). The policy is then the rounded base plus the adapters, from step 0
    /// on; the merge and the KL reference compute in f32 from the rounded weights.
    pub base_dtype: Precision,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 16,
            alpha: 32.0,
            targets: Target::ALL.iter().map(|t| t.name().to_string()).collect(),
            dropout: 0.0,
            init_seed: None,
            base_dtype: Precision::F32,
        }
    }
}

/// A dense layer of a block that can carry an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Target {
    /// Every target, in the order adapters are laid out.
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Q => "q",
            Target::K => "k",
            Target::V => "v",
            Target::O => "o",
            Target::Gate => "gate",
            Target::Up => "up",
            Target::Down => "down",
        }
    }

    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// `(in, out)` of this layer in a model of architecture `c`.
    pub fn shape(self, c: &ModelConfig) -> (usize, usize) {
        let (d, f) = (c.hidden_size, c.intermediate_size);
        let kv = c.num_kv_heads * c.head_dim();
        match self {
            Target::Q | Target::O => (d, d),
            Target::K | Target::V => (d, kv),
            Target::Gate | Target::Up => (d, f),
            Target::Down => (f, d),
        }
    }
}

fn valid_names() -> String {
    let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
    names.join(", ")
}

impl LoraConfig {
    /// `alpha / rank`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// The targets written, in layout order, each once (unknown names left out: see
    /// [`problems`](Self::problems)).
    pub fn target_list(&self) -> Vec<Target> {
        let mut list: Vec<Target> = self
            .targets
            .iter()
            .filter_map(|n| Target::parse(n))
            .collect();
        list.sort();
        list.dedup();
        list
    }

    /// The problem a rank gives against layers of `(in, out)` shapes, if any.
    pub fn rank_problem(&self, shapes: &[(Target, usize, usize)]) -> Option<String> {
        let (target, i, o) = *shapes.iter().min_by_key(|(_, i, o)| (*i).min(*o))?;
        (self.rank > i.min(o)).then(|| {
            format!(
                "lora.rank = {} is above the smaller side of the `{}` layer ([{i} in, {o} out]): \
                 a rank-{} update of it is no longer low-rank",
                self.rank,
                target.name(),
                self.rank
            )
        })
    }

    /// Every problem of this table; `architecture` (when known: models from scratch) bounds
    /// the rank.
    pub fn problems(&self, architecture: Option<&ModelConfig>) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if self.rank == 0 {
            problems.push(Invalid::new("lora.rank", "lora.rank must be at least 1"));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            problems.push(Invalid::new(
                "lora.alpha",
                format!("lora.alpha must be positive, got {}", self.alpha),
            ));
        }
        if self.dropout != 0.0 {
            problems.push(
                Invalid::new(
                    "lora.dropout",
                    format!(
                        "lora.dropout = {} is not supported: only 0 is, because the learner \
                         trains the adapters by projecting the full weights' gradients, which \
                         is exact only without dropout",
                        self.dropout
                    ),
                )
                .help("write dropout = 0.0 or leave it out"),
            );
        }
        if self.targets.is_empty() {
            problems.push(
                Invalid::new("lora.targets", "lora.targets is empty: nothing would train")
                    .help(format!("name some of {}", valid_names())),
            );
        }
        for name in &self.targets {
            if Target::parse(name).is_none() {
                problems.push(
                    Invalid::new("lora.targets", format!("unknown LoRA target `{name}`"))
                        .help(format!("the targets are {}", valid_names())),
                );
            }
        }
        if let Some(c) = architecture
            && self.rank > 0
        {
            let shapes: Vec<(Target, usize, usize)> = self
                .target_list()
                .into_iter()
                .map(|t| {
                    let (i, o) = t.shape(c);
                    (t, i, o)
                })
                .collect();
            if let Some(problem) = self.rank_problem(&shapes) {
                problems.push(Invalid::new("lora.rank", problem));
            }
        }
        problems
    }
}
