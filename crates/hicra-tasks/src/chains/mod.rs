//! `source.chains`: a multi-step testbed in which the correctness of every step is known
//! exactly.
//!
//! A problem is a *chain*: a start number and a few operations applied in order. Start 7 with
//! the operations `+5`, `*2`, `-3` passes through the values 7, 12, 24, 21, and the answer is
//! `21`. Each operation is one step of the solution, and since the intermediate values are
//! determined by the problem, whether a written step is right can be decided without a model,
//! a rollout or a judge: [`step_truth`] reads a response's steps and says, for each, whether
//! everything up to and including it is right. That makes the task a ground truth for process
//! supervision: Monte-Carlo step labels, process reward models and step-level credit can be
//! scored against the exact answer instead of against each other.
//!
//! Two styles of text exist. `compact` is for a tiny character-level policy trained from
//! scratch: the question is `7 +5 *2 -3` and a worked solution is one bare equation per line,
//! `7+5=12`, `12*2=24`, `24-3=21`, then `\boxed{21}`; every character either uses is in
//! [`ALPHABET`]. `words` is for small instruction-tuned models such as SmolLM2: the question
//! reads `Start with 7. Add 5, then multiply by 2, then subtract 3. What is the result?`, the
//! default instruction asks for one operation per line written as an equation, and a worked
//! solution is `7 + 5 = 12` ... then `The answer is \boxed{21}.`
//!
//! Worked solutions (`worked_solutions = true`, in `meta.solution`) can be made *noisy* on
//! purpose: with `error_rate` each step independently slips, its result off by a small nonzero
//! amount, and the later steps carry on correctly from the wrong value, so the final answer is
//! wrong (slips are drawn so that they never cancel out). A policy warmed up on such data makes
//! the same kind of mistake, a single arithmetic slip at an identifiable step, which is what
//! makes its step labels informative.
//!
//! Step truth walks the steps keeping `k`, the number of operations done correctly so far.
//! Every equation `a OP b = c` in a step is read (integers, possibly negative; spaces, `x`,
//! `×`, `·`, `\times`, `\cdot`, the minus sign `−`, `$`, `**` and parentheses are tolerated;
//! `/` is read but never right). An equation is *on track* when `a` is the value after `k`
//! operations, `(OP, b)` is operation `k` (the operands may be swapped for `+` and `*`) and
//! `c` is the value after it; then `k` grows by one. Repeating an earlier on-track equation is
//! neutral; any other equation makes its step wrong, and so every later step. A step with a
//! `\boxed{x}` is wrong unless `x` is the final value. A step with neither is neutral: right
//! exactly when the steps before it are. The reader is linear in the text, never panics, and
//! treats anything it does not recognise as prose.

mod chain;
mod equations;
mod truth;

use std::collections::BTreeMap;

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, derive_seed, refuse};
use hicra_messages::{ChatMessage, Prompt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

pub use chain::{Chain, ChainStyle, apply};
pub use equations::{Equation, equations, parse_integer};
pub use truth::{chain_of, response_step_truth, step_truth};

use crate::format::PromptFormat;
use crate::generator::{self, Generator};

/// Every character the `compact` style's prompts and worked solutions use (for a character
/// tokenizer): digits, the operators (`-` is also the sign of negative values), `=`, space,
/// newline and `\boxed{}`.
pub const ALPHABET: &str = "0123456789+-*= \n\\boxed{}";

/// The default user template of the `words` style: one equation per line, then the answer in
/// `\boxed{}`. Very small models may follow worked examples better than an instruction
/// (`pipelines/chains-smollm2.toml` gives SmolLM2-135M a two-shot template instead).
pub const WORDS_TEMPLATE: &str = "{question}\nWork it out one operation per line, writing each \
line as an equation (for example `23 + 15 = 38`), then put the final answer within \\boxed{}.";

/// The largest allowed `max_start` and `max_operand` (values then stay far from `i64`'s limits
/// even after six multiplications).
pub const MAX_NUMBER: i64 = 100;

/// The most operations a chain may have.
pub const MAX_OPS: usize = 6;

/// The knobs of `source.chains`: how many problems, how long and how large their chains are,
/// and how they are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainsConfig {
    /// Problems to emit; 0 = endless.
    pub count: u64,
    /// Fewest operations per chain (1..=6).
    pub min_ops: usize,
    /// Most operations per chain (min_ops..=6); the count is drawn uniformly in between.
    pub max_ops: usize,
    /// The start number is drawn from 1..=max_start (at most 100).
    pub max_start: i64,
    /// Each operand is drawn from 1..=max_operand (at most 100).
    pub max_operand: i64,
    /// Operators to draw from, uniformly, among `+ - *` (a repeated one is drawn more often).
    pub operators: String,
    /// Attach a worked solution as `meta.solution` (warm-up data).
    pub worked_solutions: bool,
    /// In worked solutions, the chance (0..=1) that each step slips: its result is off by a
    /// nonzero amount in -3..=3 and later steps carry on from the wrong value.
    pub error_rate: f64,
    /// `compact` (`7 +5 *2`, for character-level policies) or `words` (sentences, for
    /// instruction-tuned models).
    pub style: ChainStyle,
    /// Stream name mixed into the seed, so train and held-out streams differ.
    pub split: String,
    /// System message and user template, `words` style only (default: no system message and
    /// a template asking for one equation per line and a `\boxed{}` answer).
    pub prompt: Option<PromptFormat>,
}

impl Default for ChainsConfig {
    fn default() -> Self {
        Self {
            count: 0,
            min_ops: 2,
            max_ops: 3,
            max_start: 9,
            max_operand: 9,
            operators: "+-*".into(),
            worked_solutions: false,
            error_rate: 0.0,
            style: ChainStyle::Compact,
            split: "train".into(),
            prompt: None,
        }
    }
}

impl StageConfig for ChainsConfig {
    const KIND: &'static str = "source.chains";
    const SUMMARY: &'static str = "chains of operations on a start number (7 +5 *2 -3); every step's correctness is known exactly";
    const EXAMPLE: &'static str = r#"[stages.chains]
kind = "source.chains"
count = 0                 # 0 = endless
min_ops = 2
max_ops = 3
max_start = 9
max_operand = 9
operators = "+-*"
worked_solutions = false
error_rate = 0.0          # chance that a worked solution's step slips
style = "compact"         # or "words"
split = "train"
# prompt = { system = "", template = "{question}" }   # words style only: default WORDS_TEMPLATE
"#;

    fn ports(&self) -> Ports {
        generator::ports("chain problems with their final values (meta.chain has every step)")
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        self.problems()
    }

    fn endless(&self) -> bool {
        self.count == 0
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.problems())?;
        let seed = generator::stream_seed(ctx, "chains", &self.split);
        generator::build(Chains::new(self, seed)?)
    }
}

impl ChainsConfig {
    /// Everything wrong with these knobs, one entry per field.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        if !(1..=MAX_OPS).contains(&self.min_ops) {
            out.push(Invalid::new(
                "min_ops",
                format!("min_ops must be in 1..={MAX_OPS}, got {}", self.min_ops),
            ));
        }
        if !(1..=MAX_OPS).contains(&self.max_ops) {
            out.push(Invalid::new(
                "max_ops",
                format!("max_ops must be in 1..={MAX_OPS}, got {}", self.max_ops),
            ));
        } else if self.max_ops < self.min_ops {
            out.push(Invalid::new(
                "max_ops",
                format!(
                    "max_ops ({}) must be at least min_ops ({})",
                    self.max_ops, self.min_ops
                ),
            ));
        }
        for (field, value) in [
            ("max_start", self.max_start),
            ("max_operand", self.max_operand),
        ] {
            if !(1..=MAX_NUMBER).contains(&value) {
                out.push(Invalid::new(
                    field,
                    format!("{field} must be in 1..={MAX_NUMBER}, got {value}"),
                ));
            }
        }
        if self.operators.is_empty() || !self.operators.chars().all(|c| "+-*".contains(c)) {
            out.push(Invalid::new(
                "operators",
                format!(
                    "operators must be a non-empty string of + - *, got {:?}",
                    self.operators
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            out.push(Invalid::new(
                "error_rate",
                format!("error_rate must be in 0..=1, got {}", self.error_rate),
            ));
        } else if self.error_rate > 0.0 && !self.worked_solutions {
            out.push(
                Invalid::new(
                    "error_rate",
                    "error_rate only affects worked solutions, and worked_solutions is false",
                )
                .help("set worked_solutions = true, or drop error_rate"),
            );
        }
        if self.split.is_empty() {
            out.push(Invalid::new("split", "split must not be empty"));
        }
        match (&self.prompt, self.style) {
            (Some(_), ChainStyle::Compact) => out.push(
                Invalid::new(
                    "prompt",
                    "prompt is only used with style = \"words\" (compact prompts are the bare question)",
                )
                .help("drop prompt, or set style = \"words\""),
            ),
            (Some(p), ChainStyle::Words) => {
                if let Err(e) = p.validate() {
                    out.push(Invalid::new("prompt.template", e));
                }
            }
            (None, _) => {}
        }
        out
    }

    /// The prompt format the `words` style uses.
    pub fn words_format(&self) -> PromptFormat {
        self.prompt.clone().unwrap_or_else(|| PromptFormat {
            system: String::new(),
            template: WORDS_TEMPLATE.to_string(),
        })
    }
}

/// The stream of chain problems of one split.
pub struct Chains {
    config: ChainsConfig,
    operators: Vec<char>,
    format: PromptFormat,
    seed: u64,
}

impl Chains {
    /// The stream of `config` (validated) seeded with `seed`.
    pub fn new(config: ChainsConfig, seed: u64) -> Result<Self, String> {
        if let Some(p) = config.problems().first() {
            return Err(format!("{}: {}", p.field, p.message));
        }
        Ok(Self {
            operators: config.operators.chars().collect(),
            format: config.words_format(),
            config,
            seed,
        })
    }

    /// Chain number `index` of this stream (a pure function of the seed and index).
    pub fn chain(&self, index: u64) -> Chain {
        let c = &self.config;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &index.to_string()));
        let n = rng.random_range(c.min_ops..=c.max_ops);
        let start = rng.random_range(1..=c.max_start);
        let ops = (0..n)
            .map(|_| {
                let op = self.operators[rng.random_range(0..self.operators.len())];
                (op, rng.random_range(1..=c.max_operand))
            })
            .collect();
        // values stay within 100 * 200^6 < 2^63 under the validated limits
        Chain::new(start, ops).expect("validated limits keep chain values in range")
    }

    /// The slips of chain `index`'s worked solution (0 = none), drawn from their own stream so
    /// that the problem does not depend on `error_rate`. Slips never cancel: once a step has
    /// slipped, the final value stays wrong.
    pub fn slips(&self, index: u64, chain: &Chain) -> Vec<i64> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &format!("{index}/solution")));
        let mut error = 0i64;
        chain
            .ops
            .iter()
            .map(|&(op, b)| {
                if op == '*' {
                    error = error.saturating_mul(b);
                }
                if !rng.random_bool(self.config.error_rate) {
                    return 0;
                }
                let deltas: Vec<i64> = [-3, -2, -1, 1, 2, 3]
                    .into_iter()
                    .filter(|d| error.saturating_add(*d) != 0)
                    .collect();
                let delta = deltas[rng.random_range(0..deltas.len())];
                error = error.saturating_add(delta);
                delta
            })
            .collect()
    }

    /// Problem number `index` of this stream.
    pub fn problem(&self, index: u64) -> Prompt {
        let c = &self.config;
        let chain = self.chain(index);
        let question = chain.question(c.style);
        let messages = match c.style {
            ChainStyle::Compact => vec![ChatMessage::new("user", question.clone())],
            ChainStyle::Words => self.format.messages(&question),
        };
        let mut meta = BTreeMap::new();
        meta.insert("chain".to_string(), chain.to_json());
        if c.worked_solutions {
            let slips = self.slips(index, &chain);
            meta.insert(
                "solution".to_string(),
                chain.solution(c.style, &slips).into(),
            );
        }
        Prompt {
            id: format!("chains-{}-{index}", c.split),
            task: "chains".into(),
            answer: chain.answer().to_string(),
            messages,
            question,
            meta,
            cursor: index,
        }
    }
}

impl Generator for Chains {
    fn count(&self) -> u64 {
        self.config.count
    }

    fn prompt(&self, index: u64) -> Result<Prompt, String> {
        Ok(self.problem(index))
    }
}

#[cfg(test)]
mod tests;
