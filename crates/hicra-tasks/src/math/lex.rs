//! Tokens of a normalised answer: numbers (kept as digit strings, so 10k-digit literals cost no
//! arithmetic here), single-letter names, LaTeX commands and punctuation. Each token remembers
//! whether whitespace preceded it (mixed numbers such as `3 1/2` need that).

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// Digits with at most one decimal point, e.g. `12`, `0.5`, `.5`.
    Num(String),
    /// A letter (or a letter with a subscript, `x_1`).
    Name(String),
    /// A LaTeX command without its backslash (`frac`, `pi`, `{` for `\{`).
    Cmd(String),
    /// Any other single character.
    Sym(char),
}

/// A token and whether whitespace came before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned {
    pub tok: Tok,
    pub spaced: bool,
}

/// Why an answer is not a math expression (it is then compared as text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("unexpected character {0:?}")]
    Char(char),
    #[error("a word ({0}) is text, not math")]
    Word(String),
    #[error("unexpected end of answer")]
    End,
    #[error("unexpected token {0:?}")]
    Token(Tok),
    #[error("not a number: {0}")]
    Number(String),
}

/// Splits `s` into tokens; with `fold_case`, names are lower-cased (`R` and `r` are one name).
pub fn lex(s: &str, fold_case: bool) -> Result<Vec<Spanned>, SyntaxError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut spaced = false;
    while i < chars.len() {
        let c = chars[i];
        // ASCII only: other spaces (a thin space kept by strict symbols) are not read
        if c.is_ascii_whitespace() {
            spaced = true;
            i += 1;
            continue;
        }
        let (tok, next) = if c.is_ascii_digit() || (c == '.' && next_is_digit(&chars, i)) {
            number(&chars, i)
        } else if c == '\\' {
            command(&chars, i)?
        } else if c.is_ascii_alphabetic() {
            let (tok, next) = name(&chars, i)?;
            match tok {
                Tok::Name(n) if fold_case => (Tok::Name(n.to_ascii_lowercase()), next),
                t => (t, next),
            }
        } else if c.is_ascii_punctuation() {
            (Tok::Sym(c), i + 1)
        } else {
            return Err(SyntaxError::Char(c));
        };
        out.push(Spanned { tok, spaced });
        spaced = false;
        i = next;
    }
    Ok(out)
}

fn next_is_digit(chars: &[char], i: usize) -> bool {
    chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())
}

fn number(chars: &[char], start: usize) -> (Tok, usize) {
    let mut i = start;
    let mut dot = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            i += 1;
        } else if c == '.' && !dot && next_is_digit(chars, i) {
            dot = true;
            i += 1;
        } else {
            break;
        }
    }
    (Tok::Num(chars[start..i].iter().collect()), i)
}

fn command(chars: &[char], start: usize) -> Result<(Tok, usize), SyntaxError> {
    let mut i = start + 1;
    while i < chars.len() && chars[i].is_ascii_alphabetic() {
        i += 1;
    }
    if i == start + 1 {
        // `\{`, `\}`, `\\`...: a one-character command.
        let c = *chars.get(i).ok_or(SyntaxError::End)?;
        return Ok((Tok::Cmd(c.to_string()), i + 1));
    }
    Ok((Tok::Cmd(chars[start + 1..i].iter().collect()), i))
}

fn name(chars: &[char], start: usize) -> Result<(Tok, usize), SyntaxError> {
    let mut end = start;
    while end < chars.len() && chars[end].is_ascii_alphabetic() {
        end += 1;
    }
    if end - start >= 3 {
        return Err(SyntaxError::Word(chars[start..end].iter().collect()));
    }
    // Two letters (`xy`) are two names; only the first is taken here.
    let mut name: String = chars[start].to_string();
    let mut i = start + 1;
    if end - start == 1 && chars.get(i) == Some(&'_') {
        i += 1;
        match chars.get(i) {
            Some('{') => {
                let close = chars[i..].iter().position(|&c| c == '}');
                let close = close.ok_or(SyntaxError::End)? + i;
                name.push('_');
                name.extend(&chars[i + 1..close]);
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphanumeric() => {
                name.push('_');
                name.push(*c);
                i += 1;
            }
            _ => return Err(SyntaxError::End),
        }
    }
    Ok((Tok::Name(name), i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s, false).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn splits_tokens() {
        assert_eq!(
            toks("\\frac{1}{2}+x_1"),
            vec![
                Tok::Cmd("frac".into()),
                Tok::Sym('{'),
                Tok::Num("1".into()),
                Tok::Sym('}'),
                Tok::Sym('{'),
                Tok::Num("2".into()),
                Tok::Sym('}'),
                Tok::Sym('+'),
                Tok::Name("x_1".into()),
            ]
        );
        assert_eq!(
            toks("3.5.2"),
            vec![Tok::Num("3.5".into()), Tok::Num(".2".into())]
        );
        assert_eq!(toks("\\{1\\}")[0], Tok::Cmd("{".into()));
        assert!(lex("3 1", false).unwrap()[1].spaced);
        assert_eq!(lex("R", true).unwrap()[0].tok, Tok::Name("r".into()));
        assert!(lex("1\u{2009}000", true).is_err());
        assert!(matches!(lex("Monday", true), Err(SyntaxError::Word(_))));
        assert!(matches!(lex("\u{0663}", true), Err(SyntaxError::Char(_))));
        assert!(matches!(lex("\\", true), Err(SyntaxError::End)));
    }
}
