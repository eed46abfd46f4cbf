//! Deciding whether a normalised answer equals the gold one. Both are read into a [`Shape`];
//! shapes are compared structurally: tuples in order, sets and lists in any order, sets of
//! reals as sets ([`super::sets`]), equations up to a constant factor and scalars by value
//! ([`super::values`]). The comparison follows the gold's form, as math-verify does: an answer
//! written as an equation is compared by its right side when the gold is not an equation
//! (`x = 5` for `5`), and an assignment gold is compared by its value when the answer is not an
//! equation (`5` for `x = 5`); a 2-tuple or open interval gold takes a bare list in the order
//! written, a list gold takes a tuple in any order. Text is compared without whitespace.

use super::conventions::Conventions;
use super::limits::{Budget, LimitError};
use super::shape::{Reader, Shape};
use super::values::{Values, is_name};

/// Whether normalised answer `answer` equals normalised `gold`.
pub fn equivalent(
    gold: &str,
    answer: &str,
    budget: &Budget,
    conventions: &Conventions,
) -> Result<bool, LimitError> {
    let compact = |s: &str| s.split_ascii_whitespace().collect::<String>();
    if compact(gold) == compact(answer) {
        return Ok(true);
    }
    let reader = Reader {
        budget,
        conventions,
    };
    let (g, a) = (reader.shape(gold, 0)?, reader.shape(answer, 0)?);
    let judge = Judge {
        reader,
        values: Values {
            budget,
            conventions,
        },
    };
    judge.same(&g, &a)
}

struct Judge<'a> {
    reader: Reader<'a>,
    values: Values<'a>,
}

impl Judge<'_> {
    fn same(&self, gold: &Shape, answer: &Shape) -> Result<bool, LimitError> {
        use Shape::*;
        self.reader.budget.tick()?;
        Ok(match (gold, answer) {
            (Equation(gl, gr), Equation(al, ar)) => match (&**gl, &**gr, &**al, &**ar) {
                (Scalar(a), Scalar(b), Scalar(c), Scalar(d)) => {
                    self.values.same_equation((a, b), (c, d))?
                }
                _ => self.same(gl, al)? && self.same(gr, ar)?,
            },
            (_, Equation(_, rhs)) => self.same(gold, rhs)?,
            (Equation(lhs, rhs), _) => {
                matches!(&**lhs, Scalar(e) if is_name(e)) && self.same(rhs, answer)?
            }
            (Region(x), _) => self.reader.region_of(answer)?.is_some_and(|y| x.same(&y)),
            (_, Region(y)) => self.reader.region_of(gold)?.is_some_and(|x| x.same(y)),
            (Scalar(x), Scalar(y)) => self.values.same(x, y)?,
            (Tuple(o1, c1, xs), Tuple(o2, c2, ys)) if (o1, c1) == (o2, c2) => {
                self.in_order(xs, ys)?
            }
            // `(-\infty, 0]` and `[-\infty, 0]` are one interval: no bracket closes at infinity
            (Tuple(..), Tuple(..)) => {
                match (self.reader.region_of(gold)?, self.reader.region_of(answer)?) {
                    (Some(x), Some(y)) => !x.is_empty() && x.same(&y),
                    _ => false,
                }
            }
            (Tuple('(', ')', xs), Set(ys)) => self.in_order(xs, ys)?,
            (Set(xs), Tuple('(', ')', ys)) => self.any_order(xs, ys)?,
            (Set(xs), Set(ys)) | (Union(xs), Union(ys)) => self.any_order(xs, ys)?,
            (Set(xs), y) if xs.len() == 1 => self.same(&xs[0], y)?,
            (x, Set(ys)) if ys.len() == 1 => self.same(x, &ys[0])?,
            (Text(x), Text(y)) => x == y,
            _ => false,
        })
    }

    fn in_order(&self, xs: &[Shape], ys: &[Shape]) -> Result<bool, LimitError> {
        if xs.len() != ys.len() {
            return Ok(false);
        }
        for (x, y) in xs.iter().zip(ys) {
            if !self.same(x, y)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A greedy matching: each gold item takes the first unused equal answer item.
    fn any_order(&self, xs: &[Shape], ys: &[Shape]) -> Result<bool, LimitError> {
        if xs.len() != ys.len() {
            return Ok(false);
        }
        let mut used = vec![false; ys.len()];
        for x in xs {
            let mut found = false;
            for (j, y) in ys.iter().enumerate() {
                if !used[j] && self.same(x, y)? {
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
}
