//! Reading a normalised answer into its structure before values are compared: a union or
//! difference of sets, a `\{...\}` set or bare comma list (unordered), a bracketed tuple or
//! interval, an equation, `a \pm b` (the set of both), a scalar expression, or text.

use super::conventions::Conventions;
use super::eval::approx;
use super::lex::lex;
use super::limits::{Budget, LimitError};
use super::parse::{Expr, ParseError, parse};
use super::sets::Region;

/// An answer's structure.
#[derive(Debug)]
pub enum Shape {
    Scalar(Expr),
    /// Brackets as written, e.g. `('(', ']')`, and the items.
    Tuple(char, char, Vec<Shape>),
    /// `\{a, b\}`, a bare `a, b` or `a \pm b`: order does not matter.
    Set(Vec<Shape>),
    /// A set of reals with numeric endpoints, from `\cup`, `\setminus` or `\mathbb{R}`.
    Region(Region),
    /// A union whose endpoints are not all numbers: its parts, in any order.
    Union(Vec<Shape>),
    /// `lhs = rhs` (a chain `a = b = c` keeps its first and last sides).
    Equation(Box<Shape>, Box<Shape>),
    Text(String),
}

/// Reads answers under one budget and set of conventions.
pub struct Reader<'a> {
    pub budget: &'a Budget<'a>,
    pub conventions: &'a Conventions,
}

/// Splits `s` at top-level occurrences of `sep` (outside any brackets).
pub fn split_top<'s>(s: &'s str, sep: &str) -> Vec<&'s str> {
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

/// The `=` signs of an equation: not those of `<=`, `>=`, `!=`.
fn equation_sides(s: &str) -> Vec<&str> {
    let sides = split_top(s, "=");
    let relation = sides[..sides.len() - 1]
        .iter()
        .any(|side| side.ends_with(['<', '>', '!']));
    if relation { vec![s] } else { sides }
}

const REALS: [&str; 3] = ["\\mathbb{R}", "\\mathbb R", "\\R"];

impl Reader<'_> {
    pub fn shape(&self, s: &str, depth: usize) -> Result<Shape, LimitError> {
        self.budget.depth(depth)?;
        self.budget.tick()?;
        let s = s.trim();
        let items = |inner: &str| -> Result<Vec<Shape>, LimitError> {
            let mut out = Vec::new();
            for part in split_top(inner, ",") {
                match self.shape(part, depth + 1)? {
                    // `\{1 \pm \sqrt{5}, -2\}` holds three items
                    Shape::Set(inner) if split_top(part, "\\pm").len() == 2 => out.extend(inner),
                    item => out.push(item),
                }
            }
            Ok(out)
        };
        let unions = split_top(s, "\\cup");
        if unions.len() > 1 {
            let parts = unions.into_iter().map(|p| self.shape(p, depth + 1));
            let parts = parts.collect::<Result<Vec<_>, _>>()?;
            return self.union_of(parts);
        }
        let difference = split_top(s, "\\setminus");
        if difference.len() == 2 {
            let (a, b) = (
                self.shape(difference[0], depth + 1)?,
                self.shape(difference[1], depth + 1)?,
            );
            return Ok(match (self.region_of(&a)?, self.region_of(&b)?) {
                (Some(a), Some(b)) => Shape::Region(a.minus(&b)),
                _ => Shape::Text(s.split_ascii_whitespace().collect()),
            });
        }
        if REALS.contains(&s) {
            return Ok(Shape::Region(Region::reals()));
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
        let sides = equation_sides(s);
        if sides.len() > 1 {
            let (lhs, rhs) = (sides[0], sides[sides.len() - 1]);
            return Ok(Shape::Equation(
                Box::new(self.shape(lhs, depth + 1)?),
                Box::new(self.shape(rhs, depth + 1)?),
            ));
        }
        let pm = split_top(s, "\\pm");
        if pm.len() == 2 {
            let plus = format!("{} + ({})", pm[0], pm[1]);
            let minus = format!("{} - ({})", pm[0], pm[1]);
            return Ok(Shape::Set(vec![
                self.shape(&plus, depth + 1)?,
                self.shape(&minus, depth + 1)?,
            ]));
        }
        let parsed = lex(s, self.conventions.ignore_case)
            .map_err(ParseError::from)
            .and_then(|t| parse(t, self.budget));
        match parsed {
            Ok(e) => Ok(Shape::Scalar(e)),
            Err(ParseError::Limit(l)) => Err(l),
            Err(ParseError::Syntax(_)) => Ok(Shape::Text(self.text(s))),
        }
    }

    /// Text compared without whitespace (and without case, by default).
    pub fn text(&self, s: &str) -> String {
        let t: String = s.split_ascii_whitespace().collect();
        if self.conventions.ignore_case {
            t.to_lowercase()
        } else {
            t
        }
    }

    fn union_of(&self, parts: Vec<Shape>) -> Result<Shape, LimitError> {
        let mut region = Region::empty();
        for part in &parts {
            match self.region_of(part)? {
                Some(r) => region = region.union(r),
                None => return Ok(Shape::Union(parts)),
            }
        }
        Ok(Shape::Region(region))
    }

    /// The set of reals a shape stands for, when its endpoints are numbers: an interval
    /// (2-tuple in brackets), a set of numbers, a number, or a region.
    pub fn region_of(&self, shape: &Shape) -> Result<Option<Region>, LimitError> {
        Ok(match shape {
            Shape::Region(r) => Some(r.clone()),
            Shape::Tuple(o, c, items) if items.len() == 2 => {
                match (self.real(&items[0])?, self.real(&items[1])?) {
                    (Some(lo), Some(hi)) => Some(Region::interval(lo, *o == '[', hi, *c == ']')),
                    _ => None,
                }
            }
            Shape::Set(items) => {
                let mut region = Region::empty();
                for item in items {
                    match self.real(item)? {
                        Some(x) if x.is_finite() => region = region.union(Region::point(x)),
                        _ => return Ok(None),
                    }
                }
                Some(region)
            }
            Shape::Scalar(_) => self
                .real(shape)?
                .filter(|x| x.is_finite())
                .map(Region::point),
            _ => None,
        })
    }

    /// The real value of a scalar without free names (±∞ allowed).
    fn real(&self, shape: &Shape) -> Result<Option<f64>, LimitError> {
        let Shape::Scalar(e) = shape else {
            return Ok(None);
        };
        let v = approx(e, &|_| f64::NAN, self.budget)?;
        Ok((v.im == 0.0 && !v.re.is_nan()).then_some(v.re))
    }
}

#[cfg(test)]
mod tests {
    use super::{equation_sides, split_top};

    #[test]
    fn equations_are_split_at_top_level_equals_only() {
        assert_eq!(equation_sides("y = 2x + 3"), ["y ", " 2x + 3"]);
        assert_eq!(equation_sides("a = b = c").len(), 3);
        assert_eq!(equation_sides("x <= 3"), ["x <= 3"]);
        assert_eq!(equation_sides("x != 3"), ["x != 3"]);
        assert_eq!(
            split_top("(1, 2), \\{3, 4\\}", ","),
            ["(1, 2)", " \\{3, 4\\}"]
        );
    }
}
