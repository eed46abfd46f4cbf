//! `source.plan_puzzles`: the quickstart's task, built so that *strategy* matters.
//!
//! A puzzle is a rule letter and a number, e.g. `B 7`. Every worked solution opens with a
//! plan, then carries it out: `let me square: \boxed{49}`. There are three plans (double,
//! square, triple) and each rule letter has exactly one that gives the expected answer. The supervised warm-up data pick the plan *at random* (always executed correctly),
//! so after warm-up a model executes any plan but chooses blindly: about one answer in three is
//! right. Only reinforcement learning can teach which plan suits which rule, and the choice
//! sits in the planning phrase, where HICRA concentrates credit.

use std::collections::BTreeMap;

use hicra_flow::{BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, derive_seed, refuse};
use hicra_messages::{ChatMessage, Prompt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::generator::{self, Generator};

/// The plans, in rule order: rule `A` needs the first, `B` the second, `C` the third.
pub const PLANS: [&str; 3] = ["double", "square", "triple"];

/// Carries out a plan on a number.
pub fn execute(plan: &str, n: u64) -> u64 {
    match plan {
        "double" => 2 * n,
        "square" => n * n,
        _ => 3 * n,
    }
}

/// A worked solution following `plan`.
pub fn solution(plan: &str, n: u64) -> String {
    format!("let me {plan}: \\boxed{{{}}}", execute(plan, n))
}

/// Every character the task's prompts and solutions use (for a character tokenizer).
pub const ALPHABET: &str = "0123456789ABC :\\{}\nabdeilmopqrstux";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanPuzzlesConfig {
    /// Puzzles to emit; 0 = endless.
    pub count: u64,
    /// Numbers are drawn from 1..=max_operand.
    pub max_operand: u64,
    /// Attach a worked solution with a uniformly random plan as `meta.solution` (warm-up data).
    pub worked_solutions: bool,
    /// Stream name mixed into the seed, so train and held-out streams differ.
    pub split: String,
}

impl Default for PlanPuzzlesConfig {
    fn default() -> Self {
        Self {
            count: 0,
            max_operand: 9,
            worked_solutions: false,
            split: "train".into(),
        }
    }
}

impl StageConfig for PlanPuzzlesConfig {
    const KIND: &'static str = "source.plan_puzzles";
    const SUMMARY: &'static str = "quickstart task: rule letter + number; one of three plans (double/square/triple) fits each rule";
    const EXAMPLE: &'static str = r#"[stages.puzzles]
kind = "source.plan_puzzles"
count = 0
max_operand = 9
worked_solutions = false
split = "train"
"#;

    fn ports(&self) -> Ports {
        generator::ports("puzzles with their expected answers")
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        if (1..=1_000_000).contains(&self.max_operand) {
            return Vec::new();
        }
        let message = format!(
            "max_operand must be in 1..=1000000, got {}",
            self.max_operand
        );
        vec![Invalid::new("max_operand", message)]
    }

    fn endless(&self) -> bool {
        self.count == 0
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        refuse(self.check(ctx))?;
        let seed = generator::stream_seed(ctx, "plan_puzzles", &self.split);
        generator::build(PlanPuzzles { config: self, seed })
    }
}

pub struct PlanPuzzles {
    config: PlanPuzzlesConfig,
    seed: u64,
}

impl PlanPuzzles {
    /// Puzzle number `index` of this stream (a pure function: streams resume anywhere).
    pub fn puzzle(&self, index: u64) -> Prompt {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &index.to_string()));
        let rule = rng.random_range(0..PLANS.len());
        let n = rng.random_range(1..=self.config.max_operand);
        let letter = char::from(b'A' + rule as u8);
        let question = format!("{letter} {n}");
        let mut meta = BTreeMap::new();
        meta.insert("rule".to_string(), letter.to_string().into());
        if self.config.worked_solutions {
            let plan = PLANS[rng.random_range(0..PLANS.len())];
            meta.insert("solution".to_string(), solution(plan, n).into());
        }
        Prompt {
            id: format!("{}-{index}", self.config.split),
            task: "plan_puzzles".into(),
            answer: execute(PLANS[rule], n).to_string(),
            messages: vec![ChatMessage::new("user", question.clone())],
            question,
            meta,
            cursor: index,
        }
    }
}

impl Generator for PlanPuzzles {
    fn count(&self) -> u64 {
        self.config.count
    }

    fn prompt(&self, index: u64) -> Result<Prompt, String> {
        Ok(self.puzzle(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_execute_and_solutions_use_the_alphabet() {
        assert_eq!(
            (
                execute("double", 7),
                execute("square", 7),
                execute("triple", 7)
            ),
            (14, 49, 21)
        );
        let s = solution("square", 9);
        assert_eq!(s, "let me square: \\boxed{81}");
        for plan in PLANS {
            assert!(
                solution(plan, 9).chars().all(|c| ALPHABET.contains(c)),
                "{plan}"
            );
        }
        assert!("A B C 7".chars().all(|c| ALPHABET.contains(c)));
    }

    #[test]
    fn streams_are_deterministic_and_answers_follow_the_rule() {
        let ctx = BuildContext {
            id: "p".into(),
            run: Default::default(),
        };
        let config = |split: &str| PlanPuzzlesConfig {
            count: 0,
            max_operand: 9,
            worked_solutions: true,
            split: split.into(),
        };
        let a = PlanPuzzles {
            seed: derive_seed(ctx.run.seed, "plan_puzzles/train"),
            config: config("train"),
        };
        assert_eq!(a.puzzle(5), a.puzzle(5));
        for i in 0..50 {
            let p = a.puzzle(i);
            let rule = (p.question.as_bytes()[0] - b'A') as usize;
            let n: u64 = p.question[2..].parse().unwrap();
            assert_eq!(p.answer, execute(PLANS[rule], n).to_string());
            assert!(p.meta["solution"].as_str().unwrap().starts_with("let me "));
        }
    }
}
