//! Evaluating an [`Expr`]: exactly as a big rational when every step stays rational (literals,
//! `+ - * /`, integer powers, perfect roots, factorials, percentages, absolute values),
//! otherwise as a complex `f64` with the free names bound to given (real) values: the square
//! root or logarithm of a negative value is then a complex number rather than NaN, so
//! `\sqrt{x}\sqrt{y}` and `\sqrt{xy}` differ where both are negative. Sizes are checked *before* each big operation, so a literal
//! with 10k digits or `9^{9^{9}}` is refused in microseconds rather than computed.

use num_bigint::BigInt;
use num_complex::Complex64;
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
        Expr::Percent(a) => exact(a, budget)?.map(|x| x / BigRational::from_integer(100.into())),
        Expr::Func(f, a) if f == "abs" => exact(a, budget)?.map(|x| x.abs()),
        Expr::Pi | Expr::Euler | Expr::Infinity | Expr::Var(_) | Expr::Func(..) => None,
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

/// The value of `e` as a complex float with each name bound by `var` (NaN parts when
/// undefined, infinite ones at `\infty` or a pole).
pub fn approx(
    e: &Expr,
    var: &dyn Fn(&str) -> f64,
    budget: &Budget,
) -> Result<Complex64, LimitError> {
    budget.tick()?;
    let f = |a: &Expr| approx(a, var, budget);
    let real = |x: f64| Complex64::new(x, 0.0);
    Ok(match e {
        Expr::Num(s) => real(s.parse().unwrap_or(f64::NAN)),
        Expr::Pi => real(std::f64::consts::PI),
        Expr::Euler => real(std::f64::consts::E),
        Expr::Infinity => real(f64::INFINITY),
        Expr::Var(name) => real(var(name)),
        Expr::Neg(a) => -f(a)?,
        Expr::Add(a, b) => f(a)? + f(b)?,
        Expr::Sub(a, b) => f(a)? - f(b)?,
        Expr::Mul(a, b) => f(a)? * f(b)?,
        Expr::Div(a, b) => f(a)? / f(b)?,
        Expr::Pow(a, b) => power_of(f(a)?, f(b)?),
        Expr::Root(a, n) => {
            let (x, n) = (f(a)?, f(n)?);
            let odd = n.im == 0.0 && n.re.rem_euclid(2.0) == 1.0;
            if x.im == 0.0 && x.re < 0.0 && odd {
                // the real root of a negative number, as `\sqrt[3]{-8} = -2` is read
                real(-(-x.re).powf(1.0 / n.re))
            } else if n == real(2.0) {
                x.sqrt()
            } else {
                x.powc(n.inv())
            }
        }
        Expr::Factorial(a) => {
            let n = f(a)?;
            if n.im == 0.0 && n.re >= 0.0 && n.re.fract() == 0.0 && n.re <= 170.0 {
                real((1..=n.re as u64).map(|k| k as f64).product())
            } else {
                real(f64::NAN)
            }
        }
        Expr::Percent(a) => f(a)? / 100.0,
        Expr::Func(name, a) => function(name, f(a)?),
    })
}

/// `x^y`, with whole exponents by repeated multiplication (exact signs for negative bases).
fn power_of(x: Complex64, y: Complex64) -> Complex64 {
    if y.im == 0.0 && y.re.fract() == 0.0 && y.re.abs() <= 64.0 {
        return x.powi(y.re as i32);
    }
    if x.im == 0.0 && x.re >= 0.0 && y.im == 0.0 {
        return Complex64::new(x.re.powf(y.re), 0.0);
    }
    x.powc(y)
}

fn function(name: &str, x: Complex64) -> Complex64 {
    match name {
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "cot" => x.tan().inv(),
        "sec" => x.cos().inv(),
        "csc" => x.sin().inv(),
        "ln" => x.ln(),
        "log" => x.log10(),
        "exp" => x.exp(),
        "arcsin" => x.asin(),
        "arccos" => x.acos(),
        "arctan" => x.atan(),
        "sinh" => x.sinh(),
        "cosh" => x.cosh(),
        "tanh" => x.tanh(),
        "abs" => Complex64::new(x.norm(), 0.0),
        _ => Complex64::new(f64::NAN, f64::NAN),
    }
}
