//! `hicra verify`: judge responses against gold answers with the checkers the verifier
//! stages use, one JSON object per line out for each line in, in input order.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hicra_tasks::countdown::check as countdown;
use hicra_tasks::math::{Conventions, Limits, MathChecker};
use serde_json::{Map, Value, json};

use crate::jsonl::read_objects;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Checker {
    /// `verifier.math`: lines carry `gold` and `response`.
    Math,
    /// `verifier.countdown`: lines carry `numbers`, `target` and `response`.
    Countdown,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "response"])))]
pub struct VerifyArgs {
    /// JSON-lines input (`-` for stdin): `{"gold": ..., "response": ...}` per line (for
    /// countdown `numbers` and `target` instead of `gold`); other fields are passed through and
    /// `equivalent`, `extracted` and `reason` are added.
    #[arg(long)]
    input: Option<PathBuf>,
    /// One response to judge (with --gold, or --numbers and --target).
    #[arg(long, requires = "gold_or_puzzle")]
    response: Option<String>,
    /// The gold answer for --response.
    #[arg(long, group = "gold_or_puzzle")]
    gold: Option<String>,
    /// Countdown: the given numbers, comma-separated, for --response.
    #[arg(
        long,
        value_delimiter = ',',
        group = "gold_or_puzzle",
        requires = "target"
    )]
    numbers: Option<Vec<i64>>,
    /// Countdown: the target, for --response.
    #[arg(long)]
    target: Option<i64>,
    /// Which checker.
    #[arg(long, value_enum, default_value = "math")]
    checker: Checker,
    /// Math: do not fall back to the last number when a response has no answer marker.
    #[arg(long)]
    no_last_number_fallback: bool,
    /// Math: refuse thin spaces inside numbers and the Unicode degree and infinity signs, as
    /// math-verify does (see `verifier.math`'s `conventions`).
    #[arg(long)]
    strict_symbols: bool,
    /// Countdown: every given number must be used.
    #[arg(long)]
    require_all_numbers: bool,
}

pub fn run(args: VerifyArgs) -> miette::Result<()> {
    let judge = Judge {
        math: MathChecker {
            limits: Limits::default(),
            last_number_fallback: !args.no_last_number_fallback,
            conventions: Conventions {
                strict_symbols: args.strict_symbols,
                ..Conventions::default()
            },
        },
        require_all: args.require_all_numbers,
        checker: args.checker,
    };
    if let Some(response) = &args.response {
        let mut object = Map::new();
        object.insert("response".into(), response.as_str().into());
        if let Some(gold) = &args.gold {
            object.insert("gold".into(), gold.as_str().into());
        }
        if let Some(numbers) = &args.numbers {
            object.insert("numbers".into(), json!(numbers));
            object.insert("target".into(), json!(args.target));
        }
        let checker = if args.numbers.is_some() {
            Checker::Countdown
        } else {
            judge.checker
        };
        let out = Judge { checker, ..judge }
            .judge(object)
            .map_err(|e| miette::miette!("{e}"))?;
        println!("{out}");
        return Ok(());
    }
    let path = args.input.expect("clap requires --input or --response");
    for (line, object) in read_objects(&path)? {
        let out = judge
            .judge(object)
            .map_err(|e| miette::miette!("{}:{line}: {e}", path.display()))?;
        println!("{out}");
    }
    Ok(())
}

struct Judge {
    math: MathChecker,
    require_all: bool,
    checker: Checker,
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("expected a string field `{key}`"))
}

impl Judge {
    fn judge(&self, mut object: Map<String, Value>) -> Result<Value, String> {
        let response = text(&object, "response")?;
        let (equivalent, extracted, reason) = match self.checker {
            Checker::Math => {
                let gold = match object.get("gold") {
                    Some(Value::Number(n)) => n.to_string(),
                    _ => text(&object, "gold")?.to_string(),
                };
                let verdict = self.math.check(&gold, response);
                (
                    verdict.equivalent(),
                    verdict.extracted.clone(),
                    verdict.reason(),
                )
            }
            Checker::Countdown => {
                let numbers: Vec<i64> = object
                    .get("numbers")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().map(Value::as_i64).collect())
                    .ok_or("expected `numbers`: an array of integers")?;
                let target = object
                    .get("target")
                    .and_then(Value::as_i64)
                    .ok_or("expected an integer `target`")?;
                let extracted = countdown::extract(response, true);
                let outcome = extracted.map_or(Err(countdown::CountdownError::NoAnswer), |a| {
                    countdown::check(&numbers, target, a, self.require_all)
                });
                (
                    outcome.is_ok(),
                    extracted.map(str::to_string),
                    outcome.err().map(|e| e.to_string()),
                )
            }
        };
        object.insert("equivalent".into(), equivalent.into());
        object.insert("extracted".into(), extracted.into());
        object.insert("reason".into(), reason.into());
        Ok(Value::Object(object))
    }
}
