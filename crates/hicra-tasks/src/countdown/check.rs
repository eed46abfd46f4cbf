//! Judging a Countdown answer: find the expression in a response, parse it, check that each
//! given number is used at most once (or exactly once, if asked), evaluate it exactly and
//! compare with the target.

use super::expr::{self, ExprError};
use crate::boxed::last_boxed;

/// Why an answer does not reach the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountdownError {
    #[error("no answer found")]
    NoAnswer,
    #[error("not an arithmetic expression: {0}")]
    Parse(#[from] ExprError),
    #[error("{0} is not one of the given numbers (or is used more often than given)")]
    NotGiven(i64),
    #[error("not every given number is used")]
    NotAllUsed,
    #[error("the expression equals {0}, not the target")]
    WrongValue(String),
}

/// The expression a response commits to: the last `<answer>...</answer>`, else the last
/// `\boxed{...}`, else (with `last_line_fallback`) the last non-empty line.
pub fn extract(response: &str, last_line_fallback: bool) -> Option<&str> {
    if let Some(open) = response.rfind("<answer>") {
        let inner = &response[open + "<answer>".len()..];
        let inner = inner
            .find("</answer>")
            .map_or(inner, |close| &inner[..close]);
        return Some(inner.trim()).filter(|s| !s.is_empty());
    }
    if let Some(boxed) = last_boxed(response) {
        return Some(boxed.trim());
    }
    if last_line_fallback {
        return response
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty());
    }
    None
}

/// The expression part of an answer: LaTeX operators and math delimiters rewritten, and a
/// trailing `= N` (or a leading `N =`) dropped.
pub fn clean(answer: &str) -> String {
    let mut text = answer.to_string();
    for (from, to) in [
        ("\\times", "*"),
        ("\\cdot", "*"),
        ("\\div", "/"),
        ("\\left", ""),
        ("\\right", ""),
        ("\\(", ""),
        ("\\)", ""),
        ("$", ""),
        ("{", "("),
        ("}", ")"),
    ] {
        text = text.replace(from, to);
    }
    let parts: Vec<&str> = text.split('=').map(str::trim).collect();
    match parts.as_slice() {
        [expression] => expression.to_string(),
        // `expr = 24` or `24 = expr`: keep the side that is not a lone number
        [a, b] if b.chars().all(|c| c.is_ascii_digit() || c == '-') => a.to_string(),
        [a, b] if a.chars().all(|c| c.is_ascii_digit() || c == '-') => b.to_string(),
        [first, ..] => first.to_string(),
        [] => String::new(),
    }
}

/// Checks `answer` (an expression, extracted and cleaned or not) against the puzzle.
pub fn check(
    numbers: &[i64],
    target: i64,
    answer: &str,
    require_all: bool,
) -> Result<(), CountdownError> {
    let cleaned = clean(answer);
    if cleaned.trim().is_empty() {
        return Err(CountdownError::NoAnswer);
    }
    let tree = expr::parse(&cleaned)?;
    let mut unused = numbers.to_vec();
    for n in tree.numbers() {
        let at = unused
            .iter()
            .position(|&u| u == n)
            .ok_or(CountdownError::NotGiven(n))?;
        unused.swap_remove(at);
    }
    if require_all && !unused.is_empty() {
        return Err(CountdownError::NotAllUsed);
    }
    let value = tree.eval()?;
    if value == expr::Value::from_integer(i128::from(target)) {
        Ok(())
    } else {
        Err(CountdownError::WrongValue(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_and_cleaned() {
        assert_eq!(
            extract("think <answer> (1+2)*3 </answer>", false),
            Some("(1+2)*3")
        );
        assert_eq!(
            extract("so \\boxed{6 \\times 4} done", false),
            Some("6 \\times 4")
        );
        assert_eq!(extract("work\n\n 3*8 \n", false), None);
        assert_eq!(extract("work\n\n 3*8 \n", true), Some("3*8"));
        assert_eq!(extract("<answer></answer>", true), None);
        assert_eq!(clean("$6 \\times 4 = 24$"), "6 * 4");
        assert_eq!(clean("24 = 6*4"), "6*4");
        assert_eq!(clean("\\frac{8}{2}"), "\\frac(8)(2)");
    }

    #[test]
    fn the_rules_of_countdown() {
        let numbers = [3, 8, 25, 50];
        assert_eq!(check(&numbers, 24, "3 * 8", false), Ok(()));
        assert_eq!(
            check(&numbers, 24, "3 * 8", true),
            Err(CountdownError::NotAllUsed)
        );
        assert_eq!(
            check(&numbers, 24, "(50 - 25 - 3 + 8) - 6", false),
            Err(CountdownError::NotGiven(6))
        );
        assert_eq!(
            check(&numbers, 9, "3 * 3", false),
            Err(CountdownError::NotGiven(3))
        );
        assert_eq!(
            check(&numbers, 25, "50 / 8 * 3", false),
            Err(CountdownError::WrongValue("75/4".into()))
        );
        assert_eq!(
            check(&numbers, 100, "(50 / 25 + 8) * (3 + 0)", false),
            Err(CountdownError::NotGiven(0))
        );
        assert!(matches!(
            check(&numbers, 1, "50 / (25 - 25)", false),
            Err(CountdownError::NotGiven(25))
        ));
        assert!(matches!(
            check(&numbers, 1, "(3 + 8", false),
            Err(CountdownError::Parse(_))
        ));
        assert_eq!(check(&numbers, 1, "", false), Err(CountdownError::NoAnswer));
        // fractions in the middle are fine when the result is exact
        assert_eq!(check(&[1, 3, 4, 6], 24, "6 / (1 - 3 / 4)", true), Ok(()));
    }
}
