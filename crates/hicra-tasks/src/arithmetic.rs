//! `source.arithmetic`: multi-step integer arithmetic such as `Compute 17 + 4 * (23 - 9).`,
//! with difficulty knobs (terms, operand size, operators, parentheses). Answers are exact
//! integers (a division is kept only when it leaves no remainder); pair it with
//! `verifier.math`.

use std::collections::BTreeMap;

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, derive_seed};
use hicra_messages::Prompt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::countdown::expr;
use crate::format::PromptFormat;
use crate::generator::{self, Generator};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArithmeticConfig {
    /// Problems to emit; 0 = endless.
    pub count: u64,
    /// Numbers per problem (2..=12).
    pub terms: usize,
    /// Operands are drawn from 1..=max_operand (at most 10^9).
    pub max_operand: i64,
    /// Operators to draw from, among `+ - * /`.
    pub operators: String,
    /// Wrap a random run of terms in parentheses.
    pub parentheses: bool,
    /// Stream name mixed into the seed, so train and held-out streams differ.
    pub split: String,
    /// System message and user template.
    pub prompt: PromptFormat,
}

impl Default for ArithmeticConfig {
    fn default() -> Self {
        Self {
            count: 0,
            terms: 3,
            max_operand: 100,
            operators: "+-*".into(),
            parentheses: true,
            split: "train".into(),
            prompt: PromptFormat::default(),
        }
    }
}

impl StageConfig for ArithmeticConfig {
    const KIND: &'static str = "source.arithmetic";
    const SUMMARY: &'static str =
        "multi-step integer arithmetic problems (terms, operand size, operators, parentheses)";
    const EXAMPLE: &'static str = r#"[stages.problems]
kind = "source.arithmetic"
count = 0                 # 0 = endless
terms = 3
max_operand = 100
operators = "+-*"         # any of + - * /
parentheses = true
split = "train"
prompt = { system = "", template = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}." }
"#;

    fn ports(&self) -> Ports {
        generator::ports("arithmetic problems with integer answers")
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        Invalid::of(self.validate())
    }

    fn endless(&self) -> bool {
        self.count == 0
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        self.validate()?;
        let seed = generator::stream_seed(ctx, "arithmetic", &self.split);
        generator::build(Arithmetic { config: self, seed })
    }
}

impl ArithmeticConfig {
    fn validate(&self) -> Result<(), String> {
        self.prompt.validate()?;
        if !(2..=12).contains(&self.terms) {
            return Err(format!("terms must be in 2..=12, got {}", self.terms));
        }
        if !(1..=1_000_000_000).contains(&self.max_operand) {
            return Err(format!(
                "max_operand must be in 1..=1000000000, got {}",
                self.max_operand
            ));
        }
        if self.operators.is_empty() || !self.operators.chars().all(|c| "+-*/".contains(c)) {
            return Err(format!(
                "operators must be a non-empty string of + - * /, got {:?}",
                self.operators
            ));
        }
        Ok(())
    }
}

pub struct Arithmetic {
    config: ArithmeticConfig,
    seed: u64,
}

const MAX_ATTEMPTS: usize = 10_000;

impl Arithmetic {
    /// Problem number `index` (a pure function of the seed and index).
    pub fn problem(&self, index: u64) -> Result<Prompt, String> {
        let c = &self.config;
        let ops: Vec<char> = c.operators.chars().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &index.to_string()));
        for _ in 0..MAX_ATTEMPTS {
            let terms: Vec<String> = (0..c.terms)
                .map(|_| rng.random_range(1..=c.max_operand).to_string())
                .collect();
            let mut pieces = terms.clone();
            if c.parentheses && c.terms > 2 {
                let start = rng.random_range(0..c.terms - 1);
                let end = rng.random_range(start + 1..c.terms.min(start + 3));
                if end - start + 1 < c.terms {
                    pieces[start] = format!("({}", pieces[start]);
                    pieces[end] = format!("{})", pieces[end]);
                }
            }
            let mut text = pieces[0].clone();
            for piece in &pieces[1..] {
                let op = ops[rng.random_range(0..ops.len())];
                text.push_str(&format!(" {op} {piece}"));
            }
            let Ok(value) = expr::parse(&text).and_then(|e| e.eval()) else {
                continue;
            };
            if !value.is_integer() {
                continue;
            }
            let question = format!("Compute {text}.");
            let answer = value.to_integer().to_string();
            let mut meta = BTreeMap::new();
            meta.insert("expression".to_string(), text.clone().into());
            meta.insert(
                "solution".to_string(),
                format!("{text} = {answer}. The final answer is \\boxed{{{answer}}}.").into(),
            );
            return Ok(Prompt {
                id: format!("arithmetic-{}-{index}", c.split),
                task: "arithmetic".into(),
                messages: c.prompt.messages(&question),
                question,
                answer,
                meta,
                cursor: index,
            });
        }
        Err(format!(
            "no problem with an integer answer in {MAX_ATTEMPTS} draws: allow more operators than {:?}",
            c.operators
        ))
    }
}

impl Generator for Arithmetic {
    fn count(&self) -> u64 {
        self.config.count
    }

    fn prompt(&self, index: u64) -> Result<Prompt, String> {
        self.problem(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::MathChecker;

    fn stream(text: &str) -> Arithmetic {
        let config: ArithmeticConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        Arithmetic { config, seed: 9 }
    }

    #[test]
    fn answers_are_the_exact_values_and_the_math_verifier_accepts_them() {
        let s = stream("terms = 4\noperators = \"+-*/\"");
        let checker = MathChecker::default();
        for i in 0..200 {
            let p = s.problem(i).unwrap();
            let text = p.meta["expression"].as_str().unwrap();
            let value = expr::parse(text).unwrap().eval().unwrap();
            assert_eq!(value.to_integer().to_string(), p.answer);
            assert!(text.matches(|c: char| c.is_ascii_digit()).count() >= 4);
            let solution = p.meta["solution"].as_str().unwrap();
            assert!(
                checker.check(&p.answer, solution).equivalent(),
                "{solution}"
            );
        }
        assert_eq!(s.problem(3), s.problem(3));
    }

    #[test]
    fn knobs_are_checked() {
        for bad in [
            "terms = 1",
            "max_operand = 0",
            "operators = \"^\"",
            "operators = \"\"",
        ] {
            let config: ArithmeticConfig = toml::from_str(bad).unwrap();
            assert!(config.validate().is_err(), "{bad}");
        }
        let plain = stream("terms = 2\nparentheses = false\noperators = \"+\"\nmax_operand = 9");
        let p = plain.problem(0).unwrap();
        let (a, b) = p.meta["expression"]
            .as_str()
            .unwrap()
            .split_once(" + ")
            .unwrap();
        assert_eq!(
            p.answer,
            (a.parse::<i64>().unwrap() + b.parse::<i64>().unwrap()).to_string()
        );
    }
}
