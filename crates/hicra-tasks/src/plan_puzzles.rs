//! `source.plan_puzzles`: the quickstart's task, built so that *strategy* matters.
//!
//! A puzzle is a rule letter and a few digits, e.g. `B 3141`. Every worked solution opens with
//! a plan, then carries it out: `let me reverse: \boxed{1413}`. There are three plans (reverse,
//! rotate left by one, copy) and each rule letter has exactly one that gives the expected
//! answer. The supervised warm-up data pick the plan *at random* (always executed correctly),
//! so after warm-up a model executes any plan but chooses blindly: about one answer in three is
//! right. Only reinforcement learning can teach which plan suits which rule, and the choice
//! sits in the planning phrase, where HICRA concentrates credit.

use std::collections::BTreeMap;

use hicra_flow::{BoxError, BuildContext, Ports, Stage, StageConfig, StageContext, StageResult, derive_seed};
use hicra_messages::{ChatMessage, Prompt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// The plans, in rule order: rule `A` needs the first, `B` the second, `C` the third.
pub const PLANS: [&str; 3] = ["reverse", "rotate", "copy"];

/// Carries out a plan on a digit string.
pub fn execute(plan: &str, digits: &str) -> String {
    match plan {
        "reverse" => digits.chars().rev().collect(),
        "rotate" => digits.chars().skip(1).chain(digits.chars().take(1)).collect(),
        _ => digits.to_string(),
    }
}

/// A worked solution following `plan`.
pub fn solution(plan: &str, digits: &str) -> String {
    format!("let me {plan}: \\boxed{{{}}}", execute(plan, digits))
}

/// Every character the task's prompts and solutions use (for a character tokenizer).
pub const ALPHABET: &str = "0123456789ABC abcdelmoprstvxy:\\{}\n";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanPuzzlesConfig {
    /// Puzzles to emit; 0 = endless. Default: 0.
    #[serde(default)]
    pub count: u64,
    /// Fewest digits per puzzle. Default: 3.
    #[serde(default = "three")]
    pub min_digits: usize,
    /// Most digits per puzzle. Default: 4.
    #[serde(default = "four")]
    pub max_digits: usize,
    /// Attach a worked solution with a uniformly random plan as `meta.solution` (warm-up data).
    /// Default: false.
    #[serde(default)]
    pub worked_solutions: bool,
    /// Stream name mixed into the seed, so train and held-out streams differ. Default: `train`.
    #[serde(default = "train")]
    pub split: String,
}

fn three() -> usize {
    3
}
fn four() -> usize {
    4
}
fn train() -> String {
    "train".into()
}

impl StageConfig for PlanPuzzlesConfig {
    const KIND: &'static str = "source.plan_puzzles";
    const SUMMARY: &'static str = "quickstart task: rule + digits; one of three plans (reverse/rotate/copy) fits each rule";
    const EXAMPLE: &'static str = r#"[stages.puzzles]
kind = "source.plan_puzzles"
count = 0
min_digits = 3
max_digits = 4
worked_solutions = false
split = "train"
"#;

    fn ports(&self) -> Ports {
        Ports::new().output::<Prompt>("prompts", "puzzles with their expected answers")
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        if self.min_digits == 0 || self.min_digits > self.max_digits || self.max_digits > 12 {
            return Err(format!("need 1 <= min_digits <= max_digits <= 12, got {}..={}", self.min_digits, self.max_digits).into());
        }
        let seed = derive_seed(ctx.run.seed, &format!("plan_puzzles/{}", self.split));
        Ok(Box::new(PlanPuzzles { config: self, seed }))
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
        let len = rng.random_range(self.config.min_digits..=self.config.max_digits);
        let digits: String = (0..len).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect();
        let letter = char::from(b'A' + rule as u8);
        let question = format!("{letter} {digits}");
        let mut meta = BTreeMap::new();
        meta.insert("rule".to_string(), letter.to_string().into());
        if self.config.worked_solutions {
            let plan = PLANS[rng.random_range(0..PLANS.len())];
            meta.insert("solution".to_string(), solution(plan, &digits).into());
        }
        Prompt {
            id: format!("{}-{index}", self.config.split),
            task: "plan_puzzles".into(),
            answer: execute(PLANS[rule], &digits),
            messages: vec![ChatMessage::new("user", question.clone())],
            question,
            meta,
            cursor: index,
        }
    }
}

impl Stage for PlanPuzzles {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let out = ctx.output::<Prompt>("prompts");
        let mut index = 0;
        while self.config.count == 0 || index < self.config.count {
            out.send(self.puzzle(index))?;
            index += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_execute_and_solutions_use_the_alphabet() {
        assert_eq!(execute("reverse", "123"), "321");
        assert_eq!(execute("rotate", "123"), "231");
        assert_eq!(execute("copy", "123"), "123");
        let s = solution("rotate", "4567");
        assert_eq!(s, "let me rotate: \\boxed{5674}");
        assert!(s.chars().all(|c| ALPHABET.contains(c)), "{s}");
        assert!("A B C 0123456789 let me reverse copy".chars().all(|c| ALPHABET.contains(c)));
    }

    #[test]
    fn streams_are_deterministic_and_answers_follow_the_rule() {
        let ctx = BuildContext { id: "p".into(), run: Default::default() };
        let config = |split: &str| PlanPuzzlesConfig { count: 0, min_digits: 3, max_digits: 4, worked_solutions: true, split: split.into() };
        let a = PlanPuzzles { seed: derive_seed(ctx.run.seed, "plan_puzzles/train"), config: config("train") };
        assert_eq!(a.puzzle(5), a.puzzle(5));
        for i in 0..50 {
            let p = a.puzzle(i);
            let rule = (p.question.as_bytes()[0] - b'A') as usize;
            assert_eq!(p.answer, execute(PLANS[rule], &p.question[2..]));
            assert!(p.meta["solution"].as_str().unwrap().starts_with("let me "));
        }
    }
}
