//! Deciding whether two normalised answers are equal. An answer is first given a shape
//! (scalar, bracketed tuple/interval, `\{...\}` set, bare comma list, union of intervals, or
//! text); shapes are compared element-wise (sets and lists in any order), scalars exactly when
//! both are rational and otherwise numerically: at fixed points for every free name, with a
//! relative tolerance. Text is compared with whitespace removed.

use super::eval::{approx, exact};
use super::lex::lex;
use super::limits::{Budget, LimitError};
use super::parse::{Expr, ParseError, parse};

/// Relative tolerance of numeric comparison.
const REL_TOL: f64 = 1e-9;
/// Values given to free names (x, y, \theta...) for numeric comparison.
const POINTS: [f64; 3] = [0.718_281_8, 1.414_213_5, 2.302_585];

/// An answer's structure.
#[derive(Debug)]
enum Shape {
    Scalar(Expr),
    /// Brackets as written, e.g. `('(', ']')`, and the items.
    Tuple(char, char, Vec<Shape>),
    /// `\{a, b\}` or a bare `a, b`: order does not matter.
    Set(Vec<Shape>),
    Union(Vec<Shape>),
    Text(String),
}

/// Whether normalised answers `a` and `b` are equal.
pub fn equivalent(a: &str, b: &str, budget: &Budget) -> Result<bool, LimitError> {
    let compact = |s: &str| s.split_whitespace().collect::<String>();
    if compact(a) == compact(b) {
        return Ok(true);
    }
    let (x, y) = (shape(a, budget, 0)?, shape(b, budget, 0)?);
    same(&x, &y, budget)
}

/// Splits `s` at top-level occurrences of `sep` (outside any brackets).
fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i64, 0);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ if depth == 0 && bytes[i..].starts_with(sep.as_bytes()) => {
                out.push(&s[start..i]);
                start = i + sep.len();
                i = start;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

fn shape(s: &str, budget: &Budget, depth: usize) -> Result<Shape, LimitError> {
    budget.depth(depth)?;
    budget.tick()?;
    let s = s.trim();
    let items = |inner: &str| -> Result<Vec<Shape>, LimitError> {
        split_top(inner, ",")
            .into_iter()
            .map(|p| shape(p, budget, depth + 1))
            .collect()
    };
    let unions = split_top(s, "\\cup");
    if unions.len() > 1 {
        let parts = unions.into_iter().map(|p| shape(p, budget, depth + 1));
        return Ok(Shape::Union(parts.collect::<Result<_, _>>()?));
    }
    if let Some(inner) = s.strip_prefix("\\{").and_then(|r| r.strip_suffix("\\}")) {
        return Ok(Shape::Set(items(inner)?));
    }
    let open = s.chars().next().filter(|c| matches!(c, '(' | '['));
    let close = s.chars().last().filter(|c| matches!(c, ')' | ']'));
    if let (Some(o), Some(c)) = (open, close)
        && s.len() >= 2
    {
        let inner = &s[1..s.len() - 1];
        // `(1+2)` is a scalar in parentheses; a top-level comma makes it a tuple.
        if split_top(inner, ",").len() > 1 && balanced(inner) {
            return Ok(Shape::Tuple(o, c, items(inner)?));
        }
    }
    if split_top(s, ",").len() > 1 {
        return Ok(Shape::Set(items(s)?));
    }
    let parsed = lex(s)
        .map_err(ParseError::from)
        .and_then(|t| parse(t, budget));
    match parsed {
        Ok(e) => Ok(Shape::Scalar(e)),
        Err(ParseError::Limit(l)) => Err(l),
        Err(ParseError::Syntax(_)) => Ok(Shape::Text(s.split_whitespace().collect())),
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i64;
    for b in s.bytes() {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

fn same(a: &Shape, b: &Shape, budget: &Budget) -> Result<bool, LimitError> {
    budget.tick()?;
    Ok(match (a, b) {
        (Shape::Scalar(x), Shape::Scalar(y)) => same_value(x, y, budget)?,
        (Shape::Tuple(o1, c1, xs), Shape::Tuple(o2, c2, ys)) => {
            o1 == o2 && c1 == c2 && pairwise(xs, ys, budget)?
        }
        (Shape::Union(xs), Shape::Union(ys)) => pairwise(xs, ys, budget)?,
        (Shape::Set(xs), Shape::Set(ys)) => any_order(xs, ys, budget)?,
        (Shape::Text(x), Shape::Text(y)) => x == y,
        _ => false,
    })
}

fn pairwise(xs: &[Shape], ys: &[Shape], budget: &Budget) -> Result<bool, LimitError> {
    if xs.len() != ys.len() {
        return Ok(false);
    }
    for (x, y) in xs.iter().zip(ys) {
        if !same(x, y, budget)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A greedy matching: each item of `xs` takes the first unused equal item of `ys`.
fn any_order(xs: &[Shape], ys: &[Shape], budget: &Budget) -> Result<bool, LimitError> {
    if xs.len() != ys.len() {
        return Ok(false);
    }
    let mut used = vec![false; ys.len()];
    for x in xs {
        let mut found = false;
        for (j, y) in ys.iter().enumerate() {
            if !used[j] && same(x, y, budget)? {
                used[j] = true;
                found = true;
                break;
            }
        }
        if !found {
            return Ok(false);
        }
    }
    Ok(true)
}

fn same_value(x: &Expr, y: &Expr, budget: &Budget) -> Result<bool, LimitError> {
    if let (Some(a), Some(b)) = (exact(x, budget)?, exact(y, budget)?) {
        return Ok(a == b);
    }
    let mut compared = false;
    for (k, _) in POINTS.iter().enumerate() {
        let var = |name: &str| point(name, k);
        let (a, b) = (approx(x, &var, budget)?, approx(y, &var, budget)?);
        if a.is_nan() || b.is_nan() {
            continue;
        }
        if a.is_infinite() || b.is_infinite() {
            if a != b {
                return Ok(false);
            }
        } else if (a - b).abs() > REL_TOL * a.abs().max(b.abs()).max(1.0) {
            return Ok(false);
        }
        compared = true;
    }
    Ok(compared)
}

/// The value of name `name` at evaluation point `k`: distinct per name and per point.
fn point(name: &str, k: usize) -> f64 {
    let h = name
        .bytes()
        .fold(0u64, |h, c| h.wrapping_mul(31).wrapping_add(c as u64));
    POINTS[k] + (h % 97) as f64 * 0.013_1
}
