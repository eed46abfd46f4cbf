//! Checker tests over the whole path (extract, normalise, parse, compare).

use super::*;

fn checker() -> MathChecker {
    MathChecker {
        limits: Limits::default(),
        last_number_fallback: true,
        conventions: Conventions::default(),
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

#[test]
fn strict_symbols_follow_math_verify() {
    let strict = MathChecker {
        conventions: Conventions {
            strict_symbols: true,
            ..Conventions::default()
        },
        ..checker()
    };
    assert!(!strict.same_answer("1000", "1\\,000").unwrap());
    assert!(!strict.same_answer("90", "90\u{b0}").unwrap());
    assert!(!strict.same_answer("\\infty", "\u{221e}").unwrap());
    assert!(eq("1000", "1\\,000"));
    assert!(eq("90", "90\u{b0}"));
    assert!(eq("\\infty", "\u{221e}"));
}

#[test]
fn equations_up_to_a_factor() {
    assert!(eq("y = 3x + 1", "y - 3x = 1"));
    assert!(eq("3x + 2y - z + 4 = 0", "6x + 4y - 2z + 8 = 0"));
    assert!(eq("5x - 7y + 11z + 4 = 0", "-5x + 7y - 11z - 4 = 0"));
    assert!(eq("x = 7", "7 = x"));
    assert!(eq("x^2 + y^2 = 4", "x^2 = 4 - y^2"));
    assert!(!eq("y = -2x", "y = 2x"));
    assert!(!eq("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z + 5 = 0"));
    assert!(!eq("x = 5", "y = 5"));
    // the gold's form decides: an assignment gold takes a value, a value gold takes an equation
    assert!(eq("x = 5", "5"));
    assert!(eq("12", "3 \\cdot 4 = 12"));
    assert!(!eq("2", "x^2 = 4"));
    assert!(!eq("2x + z = 1", "1"));
}

#[test]
fn expressions_with_names_and_functions() {
    assert!(eq("\\tan x", "\\frac{\\sin x}{\\cos x}"));
    assert!(eq("\\tan x", "\\frac{1}{\\cot x}"));
    assert!(eq("\\sin 2x", "2\\sin x\\cos x"));
    assert!(eq("\\cos 2x", "\\cos^2 x - \\sin^2 x"));
    assert!(eq("1", "\\sin^2 x + \\cos^2 x"));
    assert!(eq("\\arcsin x", "\\sin^{-1} x"));
    assert!(eq("\\log_2 8", "3"));
    assert!(eq("\\ln e", "1"));
    assert!(eq("(a+5)(b+2)", "ab+2a+5b+10"));
    assert!(eq("\\sqrt{x^2}", "|x|"));
    assert!(eq("|-2|", "2"));
    // complex-safe: these differ where the names are negative
    assert!(!eq("\\sqrt{x} \\sqrt{y}", "\\sqrt{xy}"));
    assert!(!eq("2\\ln x", "\\ln x^2"));
    assert!(!eq("\\cot x", "\\tan x"));
    assert!(eq("R", "r"));
}

#[test]
fn plus_minus_lists_and_sets() {
    assert!(eq("1 \\pm \\sqrt{2}", "1-\\sqrt{2}, 1+\\sqrt{2}"));
    assert!(eq(
        "1 \\pm \\sqrt{2}",
        "1+\\sqrt{2} \\text{ and } 1-\\sqrt{2}"
    ));
    assert!(eq("\\{1\\pm\\sqrt{5},-2\\}", "-2, 1+\\sqrt5, 1-\\sqrt5"));
    assert!(!eq("3 \\pm 2\\sqrt{2}", "3 + 2\\sqrt{2}"));
    // a nested set stays one item
    assert!(!eq("\\{\\{1 \\pm 2\\}, 5\\}", "3, -1, 5"));
    assert!(eq("1,-2", "x = -2, x = 1"));
    assert!(eq("1,-2", "-2 \\text{ or } 1"));
    assert!(eq("\\{1,2,3\\}", "3, 2, 1"));
    // a tuple gold takes a bare list in the order written; a list gold takes a tuple in any
    assert!(eq("(6,31,-1)", "6, 31, -1"));
    assert!(!eq("(6,31,-1)", "-1, 31, 6"));
    assert!(eq("1,-2", "(-2, 1)"));
}

#[test]
fn sets_of_reals() {
    assert!(eq("(1,4) \\cup (4,10)", "(4,10) \\cup (1,4)"));
    assert!(eq("(1,4) \\cup (4,10)", "(1,10) \\setminus \\{4\\}"));
    assert!(eq(
        "(-\\infty,1) \\cup (5,\\infty)",
        "\\mathbb{R} \\setminus [1,5]"
    ));
    assert!(!eq(
        "(-\\infty,1) \\cup (5,\\infty)",
        "\\mathbb{R} \\setminus (1,5)"
    ));
    assert!(eq("[1,9]", "[1,4] \\cup [4,9]"));
    assert!(!eq("(1,9)", "(1,4) \\cup (4,9)"));
    assert!(eq("x \\in [-2,7]", "[-2, 7]"));
}

#[test]
fn percentages_decimals_units_and_text() {
    assert!(eq("45\\%", "\\frac{9}{20}"));
    assert!(eq("45\\%", "0.45"));
    assert!(eq("45", "45\\%"));
    assert!(!eq("37.5\\%", "37.5"));
    assert!(eq("37.5\\%", "0.375"));
    assert!(eq("\\frac{1}{3}", "0.333333"));
    assert!(!eq("\\frac{1}{3}", "0.3333"));
    assert!(eq("\\sqrt{2}", "1.414214"));
    assert!(eq("864 \\mbox{ inches}^2", "864"));
    assert!(!eq("3", "\\text{3 cm}"));
    assert!(eq("\\text{Evelyn}", "\\text{evelyn}"));
    assert!(eq("\\text{(C)}", "C"));
    let whole_is_not_percent = MathChecker {
        conventions: Conventions {
            percent_equals_whole: false,
            number_in_text_is_text: false,
            ..Conventions::default()
        },
        ..checker()
    };
    assert!(!whole_is_not_percent.same_answer("45", "45\\%").unwrap());
    assert!(
        whole_is_not_percent
            .same_answer("3", "\\text{3 cm}")
            .unwrap()
    );
}

#[test]
fn answers_found_where_they_are_written() {
    let c = checker();
    let v = c.check(
        "\\frac{\\pi}{3}",
        "So the angle is found.\n\nAnswer: $\\frac{\\pi}{3}$",
    );
    assert_eq!(v.outcome, Outcome::Equivalent);
    assert_eq!(
        c.check("12", "The answer is $\\$12$.").outcome,
        Outcome::Equivalent
    );
}

#[test]
fn brackets_at_infinity_do_not_matter() {
    assert!(eq("(-\\infty, 0]", "[-\\infty, 0]"));
    assert!(!eq("(1, 2)", "[1, 2)"));
    assert!(!eq("(3, 1)", "(5, 2]"));
}
