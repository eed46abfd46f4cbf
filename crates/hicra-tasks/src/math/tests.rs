//! Checker tests over the whole path (extract, normalise, parse, compare).

use super::*;

fn checker() -> MathChecker {
    MathChecker {
        limits: Limits::default(),
        last_number_fallback: true,
    }
}

fn eq(gold: &str, answer: &str) -> bool {
    checker().same_answer(gold, answer).unwrap()
}

#[test]
fn exact_numbers() {
    assert!(eq("18", "18.0"));
    assert!(eq("1000", "1,000"));
    assert!(eq("0.5", "\\frac{1}{2}"));
    assert!(eq("\\frac12", "\\dfrac{1}{2}"));
    assert!(eq("3\\frac{1}{2}", "7/2"));
    assert!(eq("3 1/2", "3.5"));
    assert!(eq("1\\frac{4}{5}", "1\\frac45"));
    assert!(eq("2\\frac12", "2.5"));
    assert!(eq("-3", "\u{2212}3"));
    assert!(eq("\\$18", "18 dollars"));
    assert!(!eq("0.333", "\\frac13"));
    assert!(!eq("18", "19"));
    assert!(eq("2^{10}", "1024"));
    assert!(eq("8^{2/3}", "4"));
    assert!(eq("5!", "120"));
}

#[test]
fn symbolic_numeric() {
    assert!(eq("2\\sqrt{3}", "\\sqrt{12}"));
    assert!(eq("\\frac{\\pi}{2}", "0.5\\pi"));
    assert!(eq("x^2+1", "1+x^2"));
    assert!(eq("\\sqrt[3]{8}", "2"));
    assert!(!eq("\\sqrt{2}", "1.414"));
    assert!(!eq("x+1", "y+1"));
    assert!(eq("\\infty", "\\infty"));
}

#[test]
fn structures() {
    assert!(eq("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)"));
    assert!(!eq("(1, 2)", "(2, 1)"));
    assert!(!eq("(1, 2)", "[1, 2)"));
    assert!(eq("\\{1, 2\\}", "\\{2, 1\\}"));
    assert!(eq("1, 2", "2, 1"));
    assert!(eq(
        "(-\\infty, 0) \\cup (1, \\infty)",
        "(-\\infty,0)\\cup(1,\\infty)"
    ));
    assert!(eq("\\text{Monday}", "Monday"));
    assert!(!eq("\\text{Monday}", "Tuesday"));
}

#[test]
fn verdicts() {
    let c = checker();
    let v = c.check("#### 18", "so she makes $18. \\boxed{18}");
    assert_eq!(v.outcome, Outcome::Equivalent);
    assert_eq!(v.extracted.as_deref(), Some("18"));
    assert_eq!(c.check("18", "no idea").outcome, Outcome::NoAnswer);
    assert_eq!(c.check("18", "\\boxed{17}").outcome, Outcome::Different);
    assert!(matches!(
        c.check("1", "\\boxed{9^{9^{9}}}").outcome,
        Outcome::Limit(_)
    ));
}
