//! The equation reader behind step truth: a tokenizer that turns free text into signed
//! numbers, operators, `=` and line breaks, and a scan that picks out every `a op b = c`. It
//! tolerates the many spellings of times and minus that models write, reads `/` (which is never
//! right), and treats anything else as prose; it is linear in the text and never panics.

/// One equation `a op b = c` read from text. A number is `None` when it is not an integer
/// (`12.5`, too many digits) or, for `a`, when the left side is longer than two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Equation {
    pub a: Option<i64>,
    /// `+ - * /` (every spelling of times and minus is mapped to these).
    pub op: char,
    pub b: Option<i64>,
    pub c: Option<i64>,
}

impl Equation {
    /// Same equation, counting `a + b` as `b + a` and `a * b` as `b * a`.
    pub(super) fn same_as(&self, other: &Equation) -> bool {
        let all = |e: &Equation| e.a.is_some() && e.b.is_some() && e.c.is_some();
        if !all(self) || !all(other) || self.op != other.op || self.c != other.c {
            return false;
        }
        (self.a, self.b) == (other.a, other.b)
            || (matches!(self.op, '+' | '*') && (self.a, self.b) == (other.b, other.a))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// A number with its sign, `None` when it is not an integer.
    Num(Option<i64>),
    Op(char),
    Eq,
    /// A line break (no equation spans one).
    Break,
    Other,
}

/// Most digits read into a number (more is `None`, never an overflow).
const MAX_DIGITS: usize = 18;

/// The number whose digits start at byte `i` of `text` and the byte after it; a fraction of
/// zeros (`24.0`) is allowed, any other (`12.5`) makes it `None`.
fn read_number(text: &str, i: usize) -> (Option<i64>, usize) {
    let bytes = text.as_bytes();
    let digits = text[i..].bytes().take_while(u8::is_ascii_digit).count();
    let mut end = i + digits;
    let mut value = (digits <= MAX_DIGITS)
        .then(|| text[i..end].parse::<i64>().ok())
        .flatten();
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        let fraction = text[end + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if !text[end + 1..end + 1 + fraction].bytes().all(|b| b == b'0') {
            value = None;
        }
        end += 1 + fraction;
    }
    (value, end)
}

/// The tokens of `text`: signed numbers, operators, `=`, line breaks and anything else.
/// Whitespace, parentheses, `$`, `**` and `\boxed{` are skipped. A `+`/`-` right before a digit
/// is a sign unless a number precedes it (`-2*3`, `5 - -2`, `= -6`), and a `-`, `*` or `+`
/// opening a line without a digit after it is a list bullet, skipped.
fn tokens(text: &str) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        let width = c.len_utf8();
        if c.is_ascii_digit() {
            let (value, end) = read_number(text, i);
            out.push(Tok::Num(value));
            i = end;
            continue;
        }
        if c == '\n' {
            out.push(Tok::Break);
            i += width;
            continue;
        }
        let skip = if c.is_whitespace() || matches!(c, '(' | ')' | '$') {
            width
        } else if rest.starts_with("**") {
            2
        } else if rest.starts_with("\\boxed{") {
            "\\boxed{".len()
        } else {
            0
        };
        if skip > 0 {
            i += skip;
            continue;
        }
        let unary = !matches!(out.last(), Some(Tok::Num(_)));
        let line_start = matches!(out.last(), None | Some(Tok::Break));
        let (tok, len) = match c {
            '+' | '-' | '−' if unary && rest[width..].starts_with(|d: char| d.is_ascii_digit()) =>
            {
                let (value, end) = read_number(text, i + width);
                let value = if c == '+' {
                    value
                } else {
                    value.and_then(i64::checked_neg)
                };
                out.push(Tok::Num(value));
                i = end;
                continue;
            }
            '+' | '-' | '*' | '•' if line_start => {
                i += width;
                continue;
            }
            '+' => (Tok::Op('+'), width),
            '-' | '−' => (Tok::Op('-'), width),
            '*' | '×' | '·' | '⋅' => (Tok::Op('*'), width),
            '/' | '÷' => (Tok::Op('/'), width),
            '=' => (Tok::Eq, rest.bytes().take_while(|&b| b == b'=').count()),
            'x' | 'X' => {
                let before = text[..i].chars().next_back();
                let after = rest[width..].chars().next();
                let alone = !before.is_some_and(char::is_alphabetic)
                    && !after.is_some_and(char::is_alphabetic);
                (if alone { Tok::Op('*') } else { Tok::Other }, width)
            }
            '\\' => {
                let command = rest[1..]
                    .bytes()
                    .take_while(u8::is_ascii_alphabetic)
                    .count();
                match &rest[1..1 + command] {
                    "times" | "cdot" => (Tok::Op('*'), 1 + command),
                    "div" => (Tok::Op('/'), 1 + command),
                    _ => (Tok::Other, 1 + command),
                }
            }
            _ => (Tok::Other, width),
        };
        out.push(tok);
        i += len;
    }
    out
}

/// Every equation `a op b = c` in `text`, in order (see the `chains` module doc for what is
/// read). A left side longer than two operands (`2 + 3 + 4 = 9`) is read with `a = None`.
pub fn equations(text: &str) -> Vec<Equation> {
    let toks = tokens(text);
    let mut out = Vec::new();
    for i in 3..toks.len() {
        let (Tok::Num(a), Tok::Op(op), Tok::Num(b), Tok::Eq, Some(Tok::Num(c))) = (
            toks[i - 3],
            toks[i - 2],
            toks[i - 1],
            toks[i],
            toks.get(i + 1).copied(),
        ) else {
            continue;
        };
        let compound = i >= 4 && matches!(toks[i - 4], Tok::Op(_));
        out.push(Equation {
            a: if compound { None } else { a },
            op,
            b,
            c,
        });
    }
    out
}

/// An integer written alone (`21`, `-4`, `−4`, ` 21. `, `$21$`, `21.0`), else `None`.
pub fn parse_integer(text: &str) -> Option<i64> {
    match tokens(text.trim().trim_end_matches('.')).as_slice() {
        [Tok::Num(v)] => *v,
        _ => None,
    }
}
