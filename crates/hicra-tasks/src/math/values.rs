//! Whether two scalar expressions, or two equations, have the same value. Rational values are
//! compared exactly; an answer written as a decimal is compared to the conventions' decimal
//! places (`0.333333` equals `\frac13` at 6); anything else is evaluated in complex floats at
//! seeded points, each free name getting its own value per point, positive at some points,
//! negative at others (so `\sqrt{x^2} = |x|` holds and `\ln x^2 = 2\ln x` does not). Equations
//! are equal when `lhs - rhs` of one is a nonzero constant multiple of the other's at every
//! point (`y = 3x + 1` and `6x - 2y + 2 = 0`).

use num_bigint::BigInt;
use num_complex::Complex64;
use num_rational::BigRational;

use super::conventions::Conventions;
use super::eval::{approx, exact};
use super::limits::{Budget, LimitError};
use super::parse::Expr;

/// Relative tolerance of numeric comparison.
const REL_TOL: f64 = 1e-9;
/// Relative tolerance of the ratio between two equations' sides.
const RATIO_TOL: f64 = 1e-7;
/// Evaluation points per comparison.
const POINTS: usize = 6;

/// The value of free name `name` at point `k`: in ±[0.5, 3.5), distinct per name and point;
/// every name is positive at points 0 and 1, negative at point 2, and of mixed signs after.
pub fn point(name: &str, k: usize) -> f64 {
    let h = name
        .bytes()
        .fold(0x9e37_79b9_7f4a_7c15_u64 ^ k as u64, |h, c| {
            (h ^ c as u64).wrapping_mul(0x0100_0000_01b3)
        });
    let h = h ^ (h >> 29);
    let magnitude = 0.5 + (h % 30_011) as f64 / 30_011.0 * 3.0;
    let negative = match k {
        0 | 1 => false,
        2 => true,
        _ => (h >> 17) & 1 == 1,
    };
    if negative { -magnitude } else { magnitude }
}

/// A decimal literal as a whole expression (`0.45`, `-1.5`, `2.5\%`): compared to the
/// conventions' decimal places rather than exactly.
fn is_decimal(e: &Expr) -> bool {
    match e {
        Expr::Num(s) => s.contains('.'),
        Expr::Neg(a) | Expr::Percent(a) => is_decimal(a),
        _ => false,
    }
}

/// A whole number, or a percentage of one, as written: `(digits, is_percent)`.
fn whole(e: &Expr) -> Option<(String, bool)> {
    match e {
        Expr::Num(s) if !s.contains('.') => Some((s.trim_start_matches('0').to_string(), false)),
        Expr::Neg(a) => whole(a).map(|(s, p)| (format!("-{s}"), p)),
        Expr::Percent(a) => match whole(a)? {
            (s, false) => Some((s, true)),
            _ => None,
        },
        _ => None,
    }
}

fn rounded(x: &BigRational, places: u32) -> BigInt {
    let scale = BigRational::from_integer(num_traits::pow(BigInt::from(10), places as usize));
    (x * scale).round().to_integer()
}

fn finite(z: Complex64) -> bool {
    z.re.is_finite() && z.im.is_finite()
}

pub struct Values<'a> {
    pub budget: &'a Budget<'a>,
    pub conventions: &'a Conventions,
}

impl Values<'_> {
    fn at(&self, e: &Expr, k: usize) -> Result<Complex64, LimitError> {
        approx(e, &|name| point(name, k), self.budget)
    }

    /// Whether scalar `x` (gold) and `y` (answer) are equal.
    pub fn same(&self, x: &Expr, y: &Expr) -> Result<bool, LimitError> {
        if self.conventions.percent_equals_whole
            && let (Some((a, pa)), Some((b, pb))) = (whole(x), whole(y))
            && (pa || pb)
        {
            return Ok(a == b);
        }
        let decimal = is_decimal(x) || is_decimal(y);
        let places = self.conventions.decimal_places;
        if let (Some(a), Some(b)) = (exact(x, self.budget)?, exact(y, self.budget)?) {
            return Ok(if decimal {
                rounded(&a, places) == rounded(&b, places)
            } else {
                a == b
            });
        }
        let mut compared = false;
        for k in 0..POINTS {
            let (a, b) = (self.at(x, k)?, self.at(y, k)?);
            if a.re.is_nan() || a.im.is_nan() || b.re.is_nan() || b.im.is_nan() {
                continue;
            }
            let equal = if !finite(a) || !finite(b) {
                a == b
            } else if decimal {
                let scale = 10f64.powi(places as i32);
                let r = |v: f64| (v * scale).round();
                r(a.re) == r(b.re) && r(a.im) == r(b.im)
            } else {
                (a - b).norm() <= REL_TOL * a.norm().max(b.norm()).max(1.0)
            };
            if !equal {
                return Ok(false);
            }
            compared = true;
        }
        Ok(compared)
    }

    /// Whether equations `gl = gr` and `pl = pr` are the same up to a nonzero factor.
    pub fn same_equation(
        &self,
        (gl, gr): (&Expr, &Expr),
        (pl, pr): (&Expr, &Expr),
    ) -> Result<bool, LimitError> {
        let mut ratio: Option<Complex64> = None;
        let mut compared = false;
        for k in 0..POINTS {
            let sides = [
                self.at(gl, k)?,
                self.at(gr, k)?,
                self.at(pl, k)?,
                self.at(pr, k)?,
            ];
            if !sides.iter().all(|z| finite(*z)) {
                continue;
            }
            let [a, b, c, d] = sides;
            let (g, p) = (a - b, c - d);
            let g_zero = g.norm() <= REL_TOL * (a.norm() + b.norm()).max(1.0);
            let p_zero = p.norm() <= REL_TOL * (c.norm() + d.norm()).max(1.0);
            compared = true;
            match (g_zero, p_zero) {
                (true, true) => continue,
                (false, false) => {}
                _ => return Ok(false),
            }
            let r = g / p;
            match ratio {
                Some(r0) if (r - r0).norm() > RATIO_TOL * r0.norm().max(1.0) => return Ok(false),
                Some(_) => {}
                None => ratio = Some(r),
            }
        }
        Ok(compared)
    }
}

/// Whether `e` is a plain name (the left side of an assignment such as `x = 5`).
pub fn is_name(e: &Expr) -> bool {
    matches!(e, Expr::Var(_))
}
