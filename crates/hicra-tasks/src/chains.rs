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

use std::collections::BTreeMap;

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, derive_seed, refuse};
use hicra_messages::{ChatMessage, Prompt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::boxed::boxes;
use crate::format::PromptFormat;
use crate::generator::{self, Generator};
use crate::steps::Segmentation;

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

/// How problems and worked solutions are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainStyle {
    /// `7 +5 *2 -3`, solved as `7+5=12` lines and `\boxed{21}` (character-level policies).
    #[default]
    Compact,
    /// `Start with 7. Add 5, then ...`, solved as `7 + 5 = 12` lines (instruction-tuned models).
    Words,
}

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

/// One problem: a start number, the operations in order, and the value after each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub start: i64,
    /// `(operator, operand)`, operator among `+ - *`.
    pub ops: Vec<(char, i64)>,
    /// `values[0] == start`, `values[i + 1]` = `values[i] ops[i]`.
    pub values: Vec<i64>,
}

/// `a op b`; `None` for an unknown operator or an overflow.
pub fn apply(op: char, a: i64, b: i64) -> Option<i64> {
    match op {
        '+' => a.checked_add(b),
        '-' => a.checked_sub(b),
        '*' => a.checked_mul(b),
        _ => None,
    }
}

impl Chain {
    /// The chain from `start` through `ops`; `None` when an operator is unknown or a value
    /// overflows.
    pub fn new(start: i64, ops: Vec<(char, i64)>) -> Option<Self> {
        let mut values = Vec::with_capacity(ops.len() + 1);
        values.push(start);
        for &(op, b) in &ops {
            values.push(apply(op, *values.last()?, b)?);
        }
        Some(Self { start, ops, values })
    }

    /// The final value.
    pub fn answer(&self) -> i64 {
        *self.values.last().unwrap_or(&self.start)
    }

    /// The `meta.chain` form: `{"start": 7, "ops": [["+", 5], ...], "values": [7, 12, ...]}`.
    pub fn to_json(&self) -> Value {
        let ops: Vec<Value> = self
            .ops
            .iter()
            .map(|&(op, b)| json!([op.to_string(), b]))
            .collect();
        json!({ "start": self.start, "ops": ops, "values": self.values })
    }

    /// A chain read back from its `meta.chain` form; `None` unless it is well formed and its
    /// values follow from its start and operations.
    pub fn from_json(value: &Value) -> Option<Self> {
        let start = value.get("start")?.as_i64()?;
        let mut ops = Vec::new();
        for op in value.get("ops")?.as_array()? {
            let pair = op.as_array()?;
            let [symbol, operand] = pair.as_slice() else {
                return None;
            };
            let mut chars = symbol.as_str()?.chars();
            let (Some(symbol), None) = (chars.next(), chars.next()) else {
                return None;
            };
            ops.push((symbol, operand.as_i64()?));
        }
        let chain = Self::new(start, ops)?;
        let values: Option<Vec<i64>> = value
            .get("values")?
            .as_array()?
            .iter()
            .map(Value::as_i64)
            .collect();
        (values? == chain.values).then_some(chain)
    }

    /// The question in `style`.
    pub fn question(&self, style: ChainStyle) -> String {
        match style {
            ChainStyle::Compact => {
                let mut text = self.start.to_string();
                for (op, b) in &self.ops {
                    text.push_str(&format!(" {op}{b}"));
                }
                text
            }
            ChainStyle::Words => {
                let phrases: Vec<String> = self
                    .ops
                    .iter()
                    .enumerate()
                    .map(|(i, &(op, b))| {
                        let phrase = match op {
                            '+' => format!("add {b}"),
                            '-' => format!("subtract {b}"),
                            _ => format!("multiply by {b}"),
                        };
                        if i == 0 {
                            let mut c = phrase.chars();
                            c.next()
                                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                                .unwrap_or_default()
                        } else {
                            phrase
                        }
                    })
                    .collect();
                format!(
                    "Start with {}. {}. What is the result?",
                    self.start,
                    phrases.join(", then ")
                )
            }
        }
    }

    /// A worked solution in `style` in which step `i`'s result is off by `slips[i]` (missing
    /// entries are 0) and later steps carry on from the written values. Its last line boxes the
    /// final written value.
    pub fn solution(&self, style: ChainStyle, slips: &[i64]) -> String {
        let mut lines = Vec::with_capacity(self.ops.len() + 1);
        let mut value = self.start;
        for (i, &(op, b)) in self.ops.iter().enumerate() {
            let next = apply(op, value, b)
                .and_then(|v| v.checked_add(slips.get(i).copied().unwrap_or(0)))
                .unwrap_or(value);
            lines.push(match style {
                ChainStyle::Compact => format!("{value}{op}{b}={next}"),
                ChainStyle::Words => format!("{value} {op} {b} = {next}"),
            });
            value = next;
        }
        lines.push(match style {
            ChainStyle::Compact => format!("\\boxed{{{value}}}"),
            ChainStyle::Words => format!("The answer is \\boxed{{{value}}}."),
        });
        lines.join("\n")
    }

    /// Whether each of `steps` is right, counting every step before it (see the module doc).
    pub fn step_truth(&self, steps: &[&str]) -> Vec<bool> {
        let mut done = 0usize;
        let mut seen: Vec<Equation> = Vec::new();
        let mut right = true;
        steps
            .iter()
            .map(|step| {
                if right {
                    right = self.step_is_right(step, &mut done, &mut seen);
                }
                right
            })
            .collect()
    }

    /// Judges one step after `done` correct operations, advancing `done` and `seen`.
    fn step_is_right(&self, step: &str, done: &mut usize, seen: &mut Vec<Equation>) -> bool {
        for eq in equations(step) {
            if let Some(on_track) = self.on_track(&eq, *done) {
                *done += 1;
                seen.push(on_track);
            } else if !seen.iter().any(|s| s.same_as(&eq)) {
                return false;
            }
        }
        let answer = self.answer();
        boxes(step).all(|content| parse_integer(content) == Some(answer))
    }

    /// `eq` in canonical form when it carries out operation `done` correctly.
    fn on_track(&self, eq: &Equation, done: usize) -> Option<Equation> {
        let &(op, b) = self.ops.get(done)?;
        let (from, to) = (self.values[done], self.values[done + 1]);
        let canonical = Equation {
            a: Some(from),
            op,
            b: Some(b),
            c: Some(to),
        };
        canonical.same_as(eq).then_some(canonical)
    }
}

/// The chain of a `source.chains` prompt (`meta.chain`), if it has a well-formed one.
pub fn chain_of(prompt: &Prompt) -> Option<Chain> {
    Chain::from_json(prompt.meta.get("chain")?)
}

/// For each of `steps` (a response cut into steps, in order), whether it and every step before
/// it are right; `None` when the prompt has no `meta.chain`.
pub fn step_truth(prompt: &Prompt, steps: &[&str]) -> Option<Vec<bool>> {
    Some(chain_of(prompt)?.step_truth(steps))
}

/// [`step_truth`] of a whole response cut into steps by `segmentation` (text rules only; a
/// token rule cuts nothing and gives no steps).
pub fn response_step_truth(
    prompt: &Prompt,
    response: &str,
    segmentation: &Segmentation,
) -> Option<Vec<bool>> {
    let mut steps = Vec::new();
    let mut from = 0;
    for end in segmentation.text_step_ends(response) {
        steps.push(&response[from..end]);
        from = end;
    }
    step_truth(prompt, &steps)
}

/// One equation `a op b = c` read from text. A number is `None` when it is not an integer
/// (`12.5`, too many digits) or, for `a`, when the left side is longer than two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Equation {
    pub a: Option<i64>,
    /// `+ - * /` (every spelling of times and minus is mapped to these).
    pub op: char,
    pub b: Option<i64>,
    pub c: Option<i64>,
}

impl Equation {
    /// Same equation, counting `a + b` as `b + a` and `a * b` as `b * a`.
    fn same_as(&self, other: &Equation) -> bool {
        let all = |e: &Equation| e.a.is_some() && e.b.is_some() && e.c.is_some();
        if !all(self) || !all(other) || self.op != other.op || self.c != other.c {
            return false;
        }
        (self.a, self.b) == (other.a, other.b)
            || (matches!(self.op, '+' | '*') && (self.a, self.b) == (other.b, other.a))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// A number with its sign, `None` when it is not an integer.
    Num(Option<i64>),
    Op(char),
    Eq,
    /// A line break (no equation spans one).
    Break,
    Other,
}

/// Most digits read into a number (more is `None`, never an overflow).
const MAX_DIGITS: usize = 18;

/// The number whose digits start at byte `i` of `text` and the byte after it; a fraction of
/// zeros (`24.0`) is allowed, any other (`12.5`) makes it `None`.
fn read_number(text: &str, i: usize) -> (Option<i64>, usize) {
    let bytes = text.as_bytes();
    let digits = text[i..].bytes().take_while(u8::is_ascii_digit).count();
    let mut end = i + digits;
    let mut value = (digits <= MAX_DIGITS)
        .then(|| text[i..end].parse::<i64>().ok())
        .flatten();
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        let fraction = text[end + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if !text[end + 1..end + 1 + fraction].bytes().all(|b| b == b'0') {
            value = None;
        }
        end += 1 + fraction;
    }
    (value, end)
}

/// The tokens of `text`: signed numbers, operators, `=`, line breaks and anything else.
/// Whitespace, parentheses, `$`, `**` and `\boxed{` are skipped. A `+`/`-` right before a digit
/// is a sign unless a number precedes it (`-2*3`, `5 - -2`, `= -6`), and a `-`, `*` or `+`
/// opening a line without a digit after it is a list bullet, skipped.
fn tokens(text: &str) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        let width = c.len_utf8();
        if c.is_ascii_digit() {
            let (value, end) = read_number(text, i);
            out.push(Tok::Num(value));
            i = end;
            continue;
        }
        if c == '\n' {
            out.push(Tok::Break);
            i += width;
            continue;
        }
        let skip = if c.is_whitespace() || matches!(c, '(' | ')' | '$') {
            width
        } else if rest.starts_with("**") {
            2
        } else if rest.starts_with("\\boxed{") {
            "\\boxed{".len()
        } else {
            0
        };
        if skip > 0 {
            i += skip;
            continue;
        }
        let unary = !matches!(out.last(), Some(Tok::Num(_)));
        let line_start = matches!(out.last(), None | Some(Tok::Break));
        let (tok, len) = match c {
            '+' | '-' | '−' if unary && rest[width..].starts_with(|d: char| d.is_ascii_digit()) =>
            {
                let (value, end) = read_number(text, i + width);
                let value = if c == '+' {
                    value
                } else {
                    value.and_then(i64::checked_neg)
                };
                out.push(Tok::Num(value));
                i = end;
                continue;
            }
            '+' | '-' | '*' | '•' if line_start => {
                i += width;
                continue;
            }
            '+' => (Tok::Op('+'), width),
            '-' | '−' => (Tok::Op('-'), width),
            '*' | '×' | '·' | '⋅' => (Tok::Op('*'), width),
            '/' | '÷' => (Tok::Op('/'), width),
            '=' => (Tok::Eq, rest.bytes().take_while(|&b| b == b'=').count()),
            'x' | 'X' => {
                let before = text[..i].chars().next_back();
                let after = rest[width..].chars().next();
                let alone = !before.is_some_and(char::is_alphabetic)
                    && !after.is_some_and(char::is_alphabetic);
                (if alone { Tok::Op('*') } else { Tok::Other }, width)
            }
            '\\' => {
                let command = rest[1..]
                    .bytes()
                    .take_while(u8::is_ascii_alphabetic)
                    .count();
                match &rest[1..1 + command] {
                    "times" | "cdot" => (Tok::Op('*'), 1 + command),
                    "div" => (Tok::Op('/'), 1 + command),
                    _ => (Tok::Other, 1 + command),
                }
            }
            _ => (Tok::Other, width),
        };
        out.push(tok);
        i += len;
    }
    out
}

/// Every equation `a op b = c` in `text`, in order (see the module doc for what is read). A
/// left side longer than two operands (`2 + 3 + 4 = 9`) is read with `a = None`.
pub fn equations(text: &str) -> Vec<Equation> {
    let toks = tokens(text);
    let mut out = Vec::new();
    for i in 3..toks.len() {
        let (Tok::Num(a), Tok::Op(op), Tok::Num(b), Tok::Eq, Some(Tok::Num(c))) = (
            toks[i - 3],
            toks[i - 2],
            toks[i - 1],
            toks[i],
            toks.get(i + 1).copied(),
        ) else {
            continue;
        };
        let compound = i >= 4 && matches!(toks[i - 4], Tok::Op(_));
        out.push(Equation {
            a: if compound { None } else { a },
            op,
            b,
            c,
        });
    }
    out
}

/// An integer written alone (`21`, `-4`, `−4`, ` 21. `, `$21$`, `21.0`), else `None`.
pub fn parse_integer(text: &str) -> Option<i64> {
    match tokens(text.trim().trim_end_matches('.')).as_slice() {
        [Tok::Num(v)] => *v,
        _ => None,
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
