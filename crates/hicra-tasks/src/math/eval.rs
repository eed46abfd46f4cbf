//! Evaluating an [`Expr`]: exactly as a big rational when every step stays rational (literals,
//! `+ - * /`, integer powers, perfect roots, factorials), otherwise as an `f64` with the free
//! names bound to given values. Sizes are checked *before* each big operation, so a literal
//! with 10k digits or `9^{9^{9}}` is refused in microseconds rather than computed.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::limits::{Budget, LimitError};
use super::parse::Expr;

/// The exact value of `e`, `None` when it is not rational (or involves names, pi, infinity).
pub fn exact(e: &Expr, budget: &Budget) -> Result<Option<BigRational>, LimitError> {
    budget.tick()?;
    let two = |a: &Expr, b: &Expr| -> Result<Option<(BigRational, BigRational)>, LimitError> {
        Ok(match (exact(a, budget)?, exact(b, budget)?) {
            (Some(x), Some(y)) => Some((x, y)),
            _ => None,
        })
    };
    let r = match e {
        Expr::Num(s) => Some(literal(s, budget)?),
        Expr::Neg(a) => exact(a, budget)?.map(|x| -x),
        Expr::Add(a, b) => two(a, b)?.map(|(x, y)| x + y),
        Expr::Sub(a, b) => two(a, b)?.map(|(x, y)| x - y),
        Expr::Mul(a, b) => two(a, b)?.map(|(x, y)| x * y),
        Expr::Div(a, b) => two(a, b)?.and_then(|(x, y)| (!y.is_zero()).then(|| x / y)),
        Expr::Pow(a, b) => match two(a, b)? {
            Some((x, y)) => power(&x, &y, budget)?,
            None => None,
        },
        Expr::Root(a, n) => match two(a, n)? {
            Some((x, n)) => root(&x, &n),
            None => None,
        },
        Expr::Factorial(a) => match exact(a, budget)? {
            Some(x) => factorial(&x, budget)?,
            None => None,
        },
        Expr::Pi | Expr::Infinity | Expr::Var(_) | Expr::Func(..) => None,
    };
    if let Some(x) = &r {
        check_bits(x, budget)?;
    }
    Ok(r)
}

fn bits(x: &BigRational) -> u64 {
    x.numer().bits().max(x.denom().bits())
}

fn check_bits(x: &BigRational, budget: &Budget) -> Result<(), LimitError> {
    if bits(x) > budget.limits.max_bits {
        Err(LimitError::TooManyBits(budget.limits.max_bits))
    } else {
        Ok(())
    }
}

/// A decimal literal (`12`, `0.25`, `.5`) as a rational.
pub fn literal(s: &str, budget: &Budget) -> Result<BigRational, LimitError> {
    // log2(10) < 3.33: refuse before parsing digits that could not fit anyway.
    if (s.len() as u64).saturating_mul(10) / 3 > budget.limits.max_bits.saturating_add(4) {
        return Err(LimitError::TooManyBits(budget.limits.max_bits));
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = format!("{int}{frac}");
    let numer: BigInt = if digits.is_empty() {
        BigInt::zero()
    } else {
        digits.parse().unwrap_or_default()
    };
    let denom = num_traits::pow(BigInt::from(10), frac.len());
    Ok(BigRational::new(numer, denom))
}

fn power(
    x: &BigRational,
    y: &BigRational,
    budget: &Budget,
) -> Result<Option<BigRational>, LimitError> {
    if !y.is_integer() {
        // Rational exponents of perfect powers: 8^{2/3} = 4.
        let den = y.denom().to_u32().filter(|d| *d <= 64);
        let base = den.and_then(|d| root(x, &BigRational::from_integer(d.into())));
        return match base {
            Some(b) => power(&b, &BigRational::from_integer(y.numer().clone()), budget),
            None => Ok(None),
        };
    }
    let limit = budget.limits.max_exponent;
    let e = y.numer().abs().to_u64().filter(|e| *e <= limit);
    let e = e.ok_or(LimitError::ExponentTooLarge(limit))?;
    if x.is_zero() {
        return Ok((!y.is_negative() || e == 0).then(|| BigRational::from_integer((e == 0).into())));
    }
    if bits(x).saturating_mul(e) > budget.limits.max_bits {
        return Err(LimitError::TooManyBits(budget.limits.max_bits));
    }
    let p = num_traits::pow(x.clone(), e as usize);
    Ok(Some(if y.is_negative() { p.recip() } else { p }))
}

/// The exact `n`-th root of a rational whose parts are perfect `n`-th powers (odd roots of
/// negatives allowed).
fn root(x: &BigRational, n: &BigRational) -> Option<BigRational> {
    let n = n.is_integer().then(|| n.to_integer().to_u32()).flatten();
    let n = n.filter(|n| (1..=64).contains(n))?;
    if x.is_negative() {
        return if n % 2 == 1 {
            root(&-x, &BigRational::from_integer(n.into())).map(|r| -r)
        } else {
            None
        };
    }
    let int_root = |v: &BigInt| {
        let r = v.nth_root(n);
        (num_traits::pow(r.clone(), n as usize) == *v).then_some(r)
    };
    Some(BigRational::new(int_root(x.numer())?, int_root(x.denom())?))
}

fn factorial(x: &BigRational, budget: &Budget) -> Result<Option<BigRational>, LimitError> {
    let Some(n) = x.is_integer().then(|| x.to_integer().to_u64()).flatten() else {
        return Ok(None);
    };
    // log2(n!) < n log2(n): refuse before multiplying.
    let estimate = n.saturating_mul(64 - n.leading_zeros() as u64);
    if estimate > budget.limits.max_bits {
        return Err(LimitError::TooManyBits(budget.limits.max_bits));
    }
    let f = (1..=n).fold(BigInt::one(), |acc, k| acc * k);
    Ok(Some(BigRational::from_integer(f)))
}

/// The value of `e` as a float with each name bound by `var` (NaN when undefined).
pub fn approx(e: &Expr, var: &dyn Fn(&str) -> f64, budget: &Budget) -> Result<f64, LimitError> {
    budget.tick()?;
    let f = |a: &Expr| approx(a, var, budget);
    Ok(match e {
        Expr::Num(s) => s.parse().unwrap_or(f64::NAN),
        Expr::Pi => std::f64::consts::PI,
        Expr::Infinity => f64::INFINITY,
        Expr::Var(name) => var(name),
        Expr::Neg(a) => -f(a)?,
        Expr::Add(a, b) => f(a)? + f(b)?,
        Expr::Sub(a, b) => f(a)? - f(b)?,
        Expr::Mul(a, b) => f(a)? * f(b)?,
        Expr::Div(a, b) => f(a)? / f(b)?,
        Expr::Pow(a, b) => f(a)?.powf(f(b)?),
        Expr::Root(a, n) => {
            let (x, n) = (f(a)?, f(n)?);
            if x < 0.0 && n.rem_euclid(2.0) == 1.0 {
                -(-x).powf(1.0 / n)
            } else {
                x.powf(1.0 / n)
            }
        }
        Expr::Factorial(a) => {
            let n = f(a)?;
            if n >= 0.0 && n.fract() == 0.0 && n <= 170.0 {
                (1..=n as u64).map(|k| k as f64).product()
            } else {
                f64::NAN
            }
        }
        Expr::Func(name, a) => {
            let x = f(a)?;
            match name.as_str() {
                "sin" => x.sin(),
                "cos" => x.cos(),
                "tan" => x.tan(),
                "ln" => x.ln(),
                "log" => x.log10(),
                "exp" => x.exp(),
                "arcsin" => x.asin(),
                "arccos" => x.acos(),
                _ => x.atan(),
            }
        }
    })
}
