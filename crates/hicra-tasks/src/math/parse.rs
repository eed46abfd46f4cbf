//! Recursive-descent parser from tokens to an [`Expr`] tree: `+ - * / ^ ! %`, `\cdot`,
//! `\times`, `\div`, implicit multiplication (`2\sqrt{3}`, `3x`), `\frac{a}{b}` and `\frac12`,
//! `\sqrt{x}`, `\sqrt[n]{x}`, `|x|`, `\pi`, `e`, `\infty`, functions (`\sin 2x`, `\sin^2 x`,
//! `\sin^{-1} x`, `\log_2 8`, `\ln`, ...), mixed numbers (`3\frac{1}{2}`, `3 1/2`) and names.
//! A `\text{...}` left by normalisation is text, not math. Nesting is bounded by
//! [`Budget::depth`].

use super::lex::{Spanned, SyntaxError, Tok};
use super::limits::{Budget, LimitError};

/// A parsed math expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A decimal literal as written (digits, optional point).
    Num(String),
    Pi,
    /// Euler's number, written `e`.
    Euler,
    Infinity,
    Var(String),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    /// `\sqrt[index]{radicand}` (index 2 when absent).
    Root(Box<Expr>, Box<Expr>),
    Factorial(Box<Expr>),
    /// `x\%`, worth x/100.
    Percent(Box<Expr>),
    /// A named function of one argument (`abs` for `|x|`).
    Func(String, Box<Expr>),
}

/// Why parsing stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error(transparent)]
    Limit(#[from] LimitError),
}

const FUNCS: [&str; 15] = [
    "sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh",
];

/// `\sin^{-1}` and friends: the inverse function's name.
fn inverse(name: &str) -> Option<&'static str> {
    Some(match name {
        "sin" => "arcsin",
        "cos" => "arccos",
        "tan" => "arctan",
        _ => return None,
    })
}

/// Parses a whole token list as one expression.
pub fn parse(tokens: Vec<Spanned>, budget: &Budget) -> Result<Expr, ParseError> {
    let mut p = Parser {
        t: tokens,
        i: 0,
        budget,
        depth: 0,
    };
    let e = p.sum()?;
    match p.t.get(p.i) {
        None => Ok(e),
        Some(t) => Err(SyntaxError::Token(t.tok.clone()).into()),
    }
}

struct Parser<'a> {
    t: Vec<Spanned>,
    i: usize,
    budget: &'a Budget<'a>,
    depth: usize,
}

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|s| &s.tok)
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        let t = self.peek().cloned().ok_or(SyntaxError::End)?;
        self.i += 1;
        Ok(t)
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        match self.next()? {
            Tok::Sym(s) if s == c => Ok(()),
            t => Err(SyntaxError::Token(t).into()),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        self.budget.depth(self.depth)?;
        self.budget.tick()?;
        Ok(())
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut e = self.product()?;
        loop {
            match self.peek() {
                Some(Tok::Sym('+')) => {
                    self.i += 1;
                    e = Expr::Add(b(e), b(self.product()?));
                }
                Some(Tok::Sym('-')) => {
                    self.i += 1;
                    e = Expr::Sub(b(e), b(self.product()?));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(e)
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym('*')) => '*',
                Some(Tok::Cmd(c)) if c == "cdot" || c == "times" => '*',
                Some(Tok::Sym('/')) => '/',
                Some(Tok::Cmd(c)) if c == "div" => '/',
                Some(t) if starts_atom(t) => {
                    e = Expr::Mul(b(e), b(self.power()?));
                    continue;
                }
                _ => break,
            };
            self.i += 1;
            let rhs = self.unary()?;
            e = if op == '*' {
                Expr::Mul(b(e), b(rhs))
            } else {
                Expr::Div(b(e), b(rhs))
            };
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Sym('-')) => {
                self.i += 1;
                self.enter()?;
                let e = Expr::Neg(b(self.unary()?));
                self.depth -= 1;
                Ok(e)
            }
            Some(Tok::Sym('+')) => {
                self.i += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.postfix()?;
        if self.peek() != Some(&Tok::Sym('^')) {
            return Ok(base);
        }
        self.i += 1;
        let exp = self.exponent()?;
        Ok(Expr::Pow(b(base), b(exp)))
    }

    /// What follows a `^`: an optionally negated operand, right-associative (a^b^c = a^(b^c)).
    fn exponent(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let exp = match self.peek() {
            Some(Tok::Sym('-')) => {
                self.i += 1;
                Expr::Neg(b(self.postfix()?))
            }
            _ => self.postfix()?,
        };
        let exp = if self.peek() == Some(&Tok::Sym('^')) {
            self.i += 1;
            Expr::Pow(b(exp), b(self.power()?))
        } else {
            exp
        };
        self.depth -= 1;
        Ok(exp)
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.atom()?;
        loop {
            match self.peek() {
                Some(Tok::Sym('!')) => e = Expr::Factorial(b(e)),
                Some(Tok::Sym('%')) => e = Expr::Percent(b(e)),
                _ => break,
            }
            self.i += 1;
        }
        Ok(e)
    }

    fn group(&mut self, open: char, close: char) -> Result<Expr, ParseError> {
        self.expect(open)?;
        let e = self.sum()?;
        self.expect(close)?;
        Ok(e)
    }

    /// A `{...}` group, or a single digit / token as in `\frac12`.
    fn argument(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Sym('{')) => self.group('{', '}'),
            Some(Tok::Num(n)) if n.len() > 1 && n.bytes().all(|c| c.is_ascii_digit()) => {
                // Split `12` into `1` and `2` in place: the rest stays for the next argument.
                let first = n[..1].to_string();
                self.t[self.i].tok = Tok::Num(n[1..].to_string());
                Ok(Expr::Num(first))
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = match self.next()? {
            Tok::Num(n) => self.mixed_number(n)?,
            Tok::Name(n) if n == "e" => Expr::Euler,
            Tok::Name(n) => Expr::Var(n),
            Tok::Sym('|') => {
                let inner = self.sum()?;
                self.expect('|')?;
                Expr::Func("abs".into(), b(inner))
            }
            Tok::Sym('(') => {
                self.i -= 1;
                self.group('(', ')')?
            }
            Tok::Sym('{') => {
                self.i -= 1;
                self.group('{', '}')?
            }
            Tok::Cmd(c) => self.command(&c)?,
            t => return Err(SyntaxError::Token(t).into()),
        };
        self.depth -= 1;
        Ok(e)
    }

    fn command(&mut self, c: &str) -> Result<Expr, ParseError> {
        Ok(match c {
            "frac" => {
                let n = self.argument()?;
                Expr::Div(b(n), b(self.argument()?))
            }
            "sqrt" => {
                let index = if self.peek() == Some(&Tok::Sym('[')) {
                    self.group('[', ']')?
                } else {
                    Expr::Num("2".into())
                };
                Expr::Root(b(self.argument()?), b(index))
            }
            "pi" => Expr::Pi,
            "infty" | "infinity" => Expr::Infinity,
            f if FUNCS.contains(&f) => self.function(f)?,
            "text" => return Err(SyntaxError::Word("\\text".into()).into()),
            "{" | "}" | "\\" => return Err(SyntaxError::Token(Tok::Cmd(c.into())).into()),
            name => Expr::Var(format!("\\{name}")),
        })
    }

    /// `\sin x`, `\sin 2x` (the argument runs over a number and the names after it),
    /// `\sin^2 x` (a power of the value), `\sin^{-1} x` (the inverse), `\log_2 8` (a base).
    fn function(&mut self, name: &str) -> Result<Expr, ParseError> {
        let exponent = if self.peek() == Some(&Tok::Sym('^')) {
            self.i += 1;
            Some(self.exponent()?)
        } else {
            None
        };
        let base = if name == "log" && self.peek() == Some(&Tok::Sym('_')) {
            self.i += 1;
            Some(self.argument()?)
        } else {
            None
        };
        let juxtaposed = matches!(self.peek(), Some(Tok::Num(_) | Tok::Name(_)));
        let mut arg = self.power()?;
        while juxtaposed && matches!(self.peek(), Some(Tok::Name(_))) {
            arg = Expr::Mul(b(arg), b(self.power()?));
        }
        let minus_one = Expr::Neg(b(Expr::Num("1".into())));
        let inverted = exponent.as_ref() == Some(&minus_one);
        let value = match (base, inverted.then(|| inverse(name)).flatten()) {
            (Some(base), _) => Expr::Div(
                b(Expr::Func("ln".into(), b(arg))),
                b(Expr::Func("ln".into(), b(base))),
            ),
            (None, Some(inv)) => return Ok(Expr::Func(inv.into(), b(arg))),
            (None, None) => Expr::Func(name.into(), b(arg)),
        };
        Ok(match exponent {
            Some(e) => Expr::Pow(b(value), b(e)),
            None => value,
        })
    }

    /// `3\frac{1}{2}`, `3\frac12` and `3 1/2` are 3 + 1/2 when both parts are plain integers.
    fn mixed_number(&mut self, whole: String) -> Result<Expr, ParseError> {
        let int = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        if !int(&whole) {
            return Ok(Expr::Num(whole));
        }
        let t = &self.t[self.i.min(self.t.len())..];
        let num = |k: usize| match t.get(k).map(|s| &s.tok) {
            Some(Tok::Num(n)) if int(n) => Some(n.clone()),
            _ => None,
        };
        let sym = |k: usize, c: char| t.get(k).is_some_and(|s| s.tok == Tok::Sym(c));
        let frac = t.first().is_some_and(|s| s.tok == Tok::Cmd("frac".into()))
            && sym(1, '{')
            && sym(3, '}')
            && sym(4, '{')
            && sym(6, '}');
        // `3\frac45`: the shorthand with one digit each
        let short = match (t.first().map(|s| &s.tok), t.get(1).map(|s| &s.tok)) {
            (Some(Tok::Cmd(f)), Some(Tok::Num(x))) if f == "frac" && x.len() == 2 && int(x) => {
                Some((x[..1].to_string(), x[1..].to_string()))
            }
            _ => None,
        };
        let (n, d, used) = if frac {
            (num(2), num(5), 7)
        } else if let Some((n, d)) = short {
            (Some(n), Some(d), 2)
        } else if t.first().is_some_and(|s| s.spaced) && sym(1, '/') && !sym(3, '^') {
            (num(0), num(2), 3)
        } else {
            (None, None, 0)
        };
        match (n, d) {
            (Some(n), Some(d)) if t.get(used).is_none_or(|s| !starts_atom(&s.tok)) => {
                self.i += used;
                let part = Expr::Div(b(Expr::Num(n)), b(Expr::Num(d)));
                Ok(Expr::Add(b(Expr::Num(whole)), b(part)))
            }
            _ => Ok(Expr::Num(whole)),
        }
    }
}

/// Tokens that begin an operand of implicit multiplication.
fn starts_atom(t: &Tok) -> bool {
    match t {
        Tok::Num(_) | Tok::Name(_) => true,
        Tok::Sym(c) => *c == '(',
        Tok::Cmd(c) => !matches!(
            c.as_str(),
            "cdot" | "times" | "div" | "{" | "}" | "\\" | "cup"
        ),
    }
}
