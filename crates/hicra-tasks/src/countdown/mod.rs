//! Countdown: reach a target with given numbers, `+ - * /` and parentheses, each number used
//! at most once (the TinyZero / reasoning-gym task, a staple of small-scale reasoning RL).
//!
//! - `source.countdown` draws puzzles: `numbers` values in `min_number..=max_number` and a
//!   target made by combining them with random operations (exact divisions only), accepted
//!   when it lands in `min_target..=max_target`, so every puzzle has a solution (kept in
//!   `meta.solution`). `meta.numbers` and `meta.target` carry what the verifier needs.
//! - `verifier.countdown` finds the response's expression ([`check::extract`]), and checks
//!   it with [`check::check`]: exact rational arithmetic, numbers as a multiset.

pub mod check;
pub mod expr;
pub mod verify;

pub use verify::{CountdownChecker, CountdownVerifier, CountdownVerifierConfig, puzzle_of};

use std::collections::BTreeMap;

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, derive_seed};
use hicra_messages::Prompt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::json;

use crate::format::PromptFormat;
use crate::generator::{self, Generator};
use expr::{Expr, Op};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CountdownConfig {
    /// Puzzles to emit; 0 = endless.
    pub count: u64,
    /// How many numbers a puzzle gives (2..=8).
    pub numbers: usize,
    /// Smallest given number.
    pub min_number: i64,
    /// Largest given number.
    pub max_number: i64,
    /// Smallest target.
    pub min_target: i64,
    /// Largest target.
    pub max_target: i64,
    /// Stream name mixed into the seed, so train and held-out streams differ.
    pub split: String,
    /// System message and user template.
    pub prompt: PromptFormat,
}

impl Default for CountdownConfig {
    fn default() -> Self {
        Self {
            count: 0,
            numbers: 4,
            min_number: 1,
            max_number: 100,
            min_target: 10,
            max_target: 1000,
            split: "train".into(),
            prompt: PromptFormat::default(),
        }
    }
}

impl StageConfig for CountdownConfig {
    const KIND: &'static str = "source.countdown";
    const SUMMARY: &'static str =
        "Countdown puzzles: reach a target with the given numbers and + - * / (each used once)";
    const EXAMPLE: &'static str = r#"[stages.puzzles]
kind = "source.countdown"
count = 0                 # 0 = endless
numbers = 4
min_number = 1
max_number = 100
min_target = 10
max_target = 1000
split = "train"
prompt = { system = "", template = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}." }
"#;

    fn ports(&self) -> Ports {
        generator::ports("Countdown puzzles with numbers and target")
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        Invalid::of(self.validate())
    }

    fn endless(&self) -> bool {
        self.count == 0
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        self.validate()?;
        let seed = generator::stream_seed(ctx, "countdown", &self.split);
        generator::build(Countdown { config: self, seed })
    }
}

impl CountdownConfig {
    fn validate(&self) -> Result<(), String> {
        self.prompt.validate()?;
        if !(2..=8).contains(&self.numbers) {
            return Err(format!("numbers must be in 2..=8, got {}", self.numbers));
        }
        if !(1 <= self.min_number
            && self.min_number <= self.max_number
            && self.max_number <= 10_000)
        {
            return Err(format!(
                "need 1 <= min_number <= max_number <= 10000, got {}..={}",
                self.min_number, self.max_number
            ));
        }
        if self.min_target > self.max_target {
            return Err(format!(
                "min_target {} is above max_target {}",
                self.min_target, self.max_target
            ));
        }
        Ok(())
    }
}

pub struct Countdown {
    config: CountdownConfig,
    seed: u64,
}

/// Draws a random expression over all of `numbers` whose every step is an integer; `None` when
/// a division would not be exact (the caller draws again).
fn combine(numbers: &[i64], rng: &mut ChaCha8Rng) -> Option<(Expr, i64)> {
    let mut items: Vec<(Expr, i64)> = numbers.iter().map(|&n| (Expr::Number(n), n)).collect();
    while items.len() > 1 {
        let a = items.swap_remove(rng.random_range(0..items.len()));
        let b = items.swap_remove(rng.random_range(0..items.len()));
        let (big, small) = if a.1 >= b.1 { (a, b) } else { (b, a) };
        let op = [Op::Add, Op::Sub, Op::Mul, Op::Div][rng.random_range(0..4)];
        let value = match op {
            Op::Add => big.1.checked_add(small.1)?,
            Op::Sub => big.1 - small.1,
            Op::Mul => big.1.checked_mul(small.1)?,
            Op::Div if small.1 != 0 && big.1 % small.1 == 0 => big.1 / small.1,
            Op::Div => return None,
        };
        if value.abs() > 1_000_000_000 {
            return None;
        }
        items.push((Expr::Binary(op, Box::new(big.0), Box::new(small.0)), value));
    }
    items.pop()
}

impl Countdown {
    /// Puzzle number `index` of this stream (a pure function: streams resume anywhere); an
    /// error when the knobs leave no reachable target in range.
    pub fn puzzle(&self, index: u64) -> Result<Prompt, String> {
        let c = &self.config;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &index.to_string()));
        let mut attempts = 0;
        let (numbers, solution, target) = loop {
            attempts += 1;
            if attempts > MAX_ATTEMPTS {
                return Err(format!(
                    "no target in {}..={} found in {MAX_ATTEMPTS} draws of {} numbers in {}..={}: widen the ranges",
                    c.min_target, c.max_target, c.numbers, c.min_number, c.max_number
                ));
            }
            let numbers: Vec<i64> = (0..c.numbers)
                .map(|_| rng.random_range(c.min_number..=c.max_number))
                .collect();
            if let Some((tree, value)) = combine(&numbers, &mut rng)
                && (c.min_target..=c.max_target).contains(&value)
            {
                break (numbers, tree.to_string(), value);
            }
        };
        let listed: Vec<String> = numbers.iter().map(i64::to_string).collect();
        let question = format!(
            "Using the numbers [{}], create an expression that equals {target}. You may use +, -, *, / and parentheses, and each number at most once.",
            listed.join(", ")
        );
        let mut meta = BTreeMap::new();
        meta.insert("numbers".to_string(), json!(numbers));
        meta.insert("target".to_string(), json!(target));
        meta.insert(
            "solution".to_string(),
            json!(format!(
                "{solution} = {target}, so the answer is \\boxed{{{solution}}}."
            )),
        );
        Ok(Prompt {
            id: format!("countdown-{}-{index}", c.split),
            task: "countdown".into(),
            answer: target.to_string(),
            messages: c.prompt.messages(&question),
            question,
            meta,
            cursor: index,
        })
    }
}

/// Draws per puzzle before the knobs are declared unsatisfiable.
const MAX_ATTEMPTS: usize = 10_000;

impl Generator for Countdown {
    fn count(&self) -> u64 {
        self.config.count
    }

    fn prompt(&self, index: u64) -> Result<Prompt, String> {
        self.puzzle(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(config: &str) -> Countdown {
        let config: CountdownConfig = toml::from_str(config).unwrap();
        config.validate().unwrap();
        Countdown {
            seed: derive_seed(1, "countdown/train"),
            config,
        }
    }

    #[test]
    fn every_puzzle_is_solvable_by_its_own_solution() {
        let s = stream("numbers = 4");
        for i in 0..200 {
            let p = s.puzzle(i).unwrap();
            let (numbers, target) = puzzle_of(&p).unwrap();
            assert_eq!(numbers.len(), 4);
            assert!((10..=1000).contains(&target), "{target}");
            let solution = p.meta["solution"].as_str().unwrap();
            let answer = check::extract(solution, false).unwrap();
            assert_eq!(
                check::check(&numbers, target, answer, true),
                Ok(()),
                "{solution}"
            );
            assert_eq!(p.answer, target.to_string());
        }
        assert_eq!(s.puzzle(7), s.puzzle(7));
        assert_ne!(s.puzzle(7).unwrap().question, s.puzzle(8).unwrap().question);
        let impossible = stream("numbers = 2\nmax_number = 1\nmin_target = 50");
        assert!(impossible.puzzle(0).unwrap_err().contains("widen"));
    }

    #[test]
    fn knobs_are_checked() {
        for bad in [
            "numbers = 1",
            "min_number = 0",
            "min_target = 5\nmax_target = 4",
            "max_number = 99999",
        ] {
            let config: CountdownConfig = toml::from_str(bad).unwrap();
            assert!(config.validate().is_err(), "{bad}");
        }
        let small = stream("numbers = 2\nmax_number = 9\nmin_target = 1\nmax_target = 81");
        let (numbers, _) = puzzle_of(&small.puzzle(0).unwrap()).unwrap();
        assert!(numbers.iter().all(|n| (1..=9).contains(n)));
    }
}
