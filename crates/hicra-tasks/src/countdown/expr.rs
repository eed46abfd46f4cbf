//! Countdown expressions: integers, `+ - * /` (also `×`, `÷`, `·` and the Unicode minus),
//! parentheses and unary signs, parsed into a tree and evaluated exactly with rationals.
//!
//! Bounded by construction: at most [`MAX_CHARS`] characters, [`MAX_DEPTH`] nested
//! parentheses and [`MAX_DIGITS`] digits per literal; arithmetic is checked, so an overflow
//! is an error rather than a wrong value.

use num_rational::Ratio;
use num_traits::{CheckedAdd, CheckedDiv, CheckedMul, CheckedSub, Zero};

pub const MAX_CHARS: usize = 1_000;
pub const MAX_DEPTH: usize = 64;
pub const MAX_DIGITS: usize = 12;

/// An exact value.
pub type Value = Ratio<i128>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Number(i64),
    Neg(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Why an expression is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("longer than {MAX_CHARS} characters")]
    TooLong,
    #[error("parentheses nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("a number with more than {MAX_DIGITS} digits")]
    NumberTooLong,
    #[error("unexpected `{0}`")]
    Unexpected(char),
    #[error("an operator without its operand")]
    MissingOperand,
    #[error("text after the expression")]
    Trailing,
    #[error("unexpected end of expression")]
    UnexpectedEnd,
    #[error("unbalanced parentheses")]
    Unbalanced,
    #[error("division by zero")]
    DivisionByZero,
    #[error("arithmetic overflow")]
    Overflow,
    #[error("empty expression")]
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Number(i64),
    Op(Op),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, ExprError> {
    if text.chars().count() > MAX_CHARS {
        return Err(ExprError::TooLong);
    }
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '0'..='9' => {
                let mut digits = String::from(c);
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(d);
                    chars.next();
                }
                if digits.len() > MAX_DIGITS {
                    return Err(ExprError::NumberTooLong);
                }
                Token::Number(digits.parse().map_err(|_| ExprError::NumberTooLong)?)
            }
            '+' => Token::Op(Op::Add),
            '-' | '\u{2212}' | '\u{2013}' => Token::Op(Op::Sub),
            '*' | '×' | '·' | '\u{22c5}' => Token::Op(Op::Mul),
            '/' | '÷' => Token::Op(Op::Div),
            '(' | '[' => Token::Open,
            ')' | ']' => Token::Close,
            other => return Err(ExprError::Unexpected(other)),
        };
        out.push(token);
    }
    if out.is_empty() {
        return Err(ExprError::Empty);
    }
    Ok(out)
}

/// Parses `text` (the whole of it) into an expression.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let tokens = tokens(text)?;
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.sum(0)?;
    match parser.peek() {
        None => Ok(expr),
        Some(Token::Close) => Err(ExprError::Unbalanced),
        Some(_) => Err(ExprError::Trailing),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).copied()
    }

    fn sum(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.product(depth)?;
        while let Some(Token::Op(op @ (Op::Add | Op::Sub))) = self.peek() {
            self.at += 1;
            let right = self.product(depth)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn product(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.unary(depth)?;
        while let Some(Token::Op(op @ (Op::Mul | Op::Div))) = self.peek() {
            self.at += 1;
            let right = self.unary(depth)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        match self.peek() {
            Some(Token::Op(Op::Sub)) => {
                self.at += 1;
                if depth >= MAX_DEPTH {
                    return Err(ExprError::TooDeep);
                }
                Ok(Expr::Neg(Box::new(self.unary(depth + 1)?)))
            }
            Some(Token::Op(Op::Add)) => {
                self.at += 1;
                if depth >= MAX_DEPTH {
                    return Err(ExprError::TooDeep);
                }
                self.unary(depth + 1)
            }
            _ => self.atom(depth),
        }
    }

    fn atom(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let token = self.peek().ok_or(ExprError::UnexpectedEnd)?;
        self.at += 1;
        match token {
            Token::Number(n) => Ok(Expr::Number(n)),
            Token::Open => {
                if depth >= MAX_DEPTH {
                    return Err(ExprError::TooDeep);
                }
                let inner = self.sum(depth + 1)?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err(ExprError::Unbalanced),
                }
            }
            Token::Close => Err(ExprError::Unbalanced),
            Token::Op(_) => Err(ExprError::MissingOperand),
        }
    }
}

impl Expr {
    /// The exact value.
    pub fn eval(&self) -> Result<Value, ExprError> {
        Ok(match self {
            Self::Number(n) => Value::from_integer(i128::from(*n)),
            Self::Neg(e) => -e.eval()?,
            Self::Binary(op, a, b) => {
                let (a, b) = (a.eval()?, b.eval()?);
                match op {
                    Op::Add => a.checked_add(&b).ok_or(ExprError::Overflow)?,
                    Op::Sub => a.checked_sub(&b).ok_or(ExprError::Overflow)?,
                    Op::Mul => a.checked_mul(&b).ok_or(ExprError::Overflow)?,
                    Op::Div if b.is_zero() => return Err(ExprError::DivisionByZero),
                    Op::Div => a.checked_div(&b).ok_or(ExprError::Overflow)?,
                }
            }
        })
    }

    /// The integer literals, left to right.
    pub fn numbers(&self) -> Vec<i64> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<i64>) {
        match self {
            Self::Number(n) => out.push(*n),
            Self::Neg(e) => e.collect(out),
            Self::Binary(_, a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }
}

impl std::fmt::Display for Expr {
    /// Fully parenthesised where needed to keep the tree's meaning.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn prec(e: &Expr) -> u8 {
            match e {
                Expr::Binary(Op::Add | Op::Sub, ..) => 1,
                Expr::Binary(..) => 2,
                _ => 3,
            }
        }
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Neg(e) if prec(e) < 3 => write!(f, "-({e})"),
            Self::Neg(e) => write!(f, "-{e}"),
            Self::Binary(op, a, b) => {
                let (symbol, p) = match op {
                    Op::Add => ('+', 1),
                    Op::Sub => ('-', 1),
                    Op::Mul => ('*', 2),
                    Op::Div => ('/', 2),
                };
                let left_paren = prec(a) < p;
                // the right side of - and / also needs brackets at equal precedence
                let right_paren = prec(b) < p || (prec(b) == p && matches!(op, Op::Sub | Op::Div));
                let wrap = |e: &Expr, paren: bool| {
                    if paren {
                        format!("({e})")
                    } else {
                        e.to_string()
                    }
                };
                write!(
                    f,
                    "{} {symbol} {}",
                    wrap(a, left_paren),
                    wrap(b, right_paren)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Result<Value, ExprError> {
        parse(text)?.eval()
    }

    #[test]
    fn precedence_signs_and_unicode_operators() {
        assert_eq!(value("2 + 3 * 4").unwrap(), Value::from_integer(14));
        assert_eq!(value("(2 + 3) × 4").unwrap(), Value::from_integer(20));
        assert_eq!(value("10 − 4 − 3").unwrap(), Value::from_integer(3));
        assert_eq!(value("7 / 2").unwrap(), Value::new(7, 2));
        assert_eq!(value("-(3 - 5) ÷ 2").unwrap(), Value::from_integer(1));
        assert_eq!(parse("(1+2)*[3-4]").unwrap().numbers(), [1, 2, 3, 4]);
    }

    #[test]
    fn malformed_and_oversized_inputs_are_errors() {
        assert_eq!(value("1 / (2 - 2)"), Err(ExprError::DivisionByZero));
        assert_eq!(value("(1 + 2"), Err(ExprError::Unbalanced));
        assert_eq!(value("1 + 2)"), Err(ExprError::Unbalanced));
        assert_eq!(value("1 +"), Err(ExprError::UnexpectedEnd));
        assert_eq!(value("1 2"), Err(ExprError::Trailing));
        assert_eq!(value("1 * / 2"), Err(ExprError::MissingOperand));
        assert_eq!(value("x + 1"), Err(ExprError::Unexpected('x')));
        assert_eq!(value("  "), Err(ExprError::Empty));
        assert_eq!(value("1234567890123"), Err(ExprError::NumberTooLong));
        assert_eq!(value(&"(".repeat(500)), Err(ExprError::TooDeep));
        assert_eq!(value(&"-".repeat(500)), Err(ExprError::TooDeep));
        assert_eq!(value(&"1+".repeat(600)), Err(ExprError::TooLong));
        let big = ["999999999999"; 4].join(" * ");
        assert_eq!(value(&big), Err(ExprError::Overflow));
    }

    #[test]
    fn printing_keeps_the_meaning() {
        for text in [
            "1 - (2 - 3)",
            "8 / (4 / 2)",
            "(1 + 2) * 3",
            "-(2 + 3) * 4",
            "2 * 3 + 4",
        ] {
            let e = parse(text).unwrap();
            let again = parse(&e.to_string()).unwrap();
            assert_eq!(e.eval(), again.eval(), "{text} -> {e}");
        }
    }
}
