//! Rewriting an extracted answer into a canonical LaTeX-ish string before parsing: unicode
//! symbols to LaTeX, presentation macros (`\left`, `\!`, `\displaystyle`, `$`, degrees)
//! dropped, `\dfrac`/`\tfrac` to `\frac`, `\%` to `%`, `\text{...}` unwrapped (a number with
//! its unit inside one stays text, see [`Conventions`]), "and"/"or" between list items to
//! commas, unit words and an `x \in` prefix removed, thousands commas dropped. Every rewrite is
//! linear in the input.

use super::conventions::Conventions;
use super::extract::balanced_prefix;

const UNICODE: [(char, &str); 11] = [
    ('\u{00a0}', " "),
    ('\u{2212}', "-"),
    ('\u{2013}', "-"),
    ('\u{00d7}', "\\times "),
    ('\u{00f7}', "\\div "),
    ('\u{00b7}', "\\cdot "),
    ('\u{03c0}', "\\pi "),
    ('\u{221a}', "\\sqrt"),
    ('\u{221e}', "\\infty "),
    ('\u{00b0}', ""),
    ('\u{222a}', "\\cup "),
];

/// Symbols [`Conventions::strict_symbols`] leaves unread.
const STRICT_UNREAD: [char; 2] = ['\u{00b0}', '\u{221e}'];

const DROPPED: [&str; 15] = [
    "\\left",
    "\\right",
    "\\displaystyle",
    "\\!",
    "\\,",
    "\\;",
    "\\:",
    "\\ ",
    "~",
    "\\$",
    "$",
    "^{\\circ}",
    "^\\circ",
    "\\circ",
    "{,}",
];

const UNWRAPPED: [&str; 7] = [
    "\\text",
    "\\textbf",
    "\\mathrm",
    "\\mbox",
    "\\textnormal",
    "\\mathbf",
    "\\operatorname",
];

/// The canonical form of an answer string.
pub fn normalize(answer: &str, conventions: &Conventions) -> String {
    let strict = conventions.strict_symbols;
    let mut s: String = answer
        .chars()
        .map(|c| match UNICODE.iter().find(|(u, _)| *u == c) {
            Some(_) if strict && STRICT_UNREAD.contains(&c) => c.to_string(),
            Some((_, r)) => r.to_string(),
            None => c.to_string(),
        })
        .collect();
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac");
    s = s.replace("\\%", "%");
    // `,\!` is LaTeX's thousands separator: `10,\!080` is 10080
    s = s.replace(",\\! ", "").replace(",\\!", "");
    if strict {
        s = thin_spaces_in_numbers_kept(&s);
    }
    s = matrices_as_tuples(&s);
    for d in DROPPED {
        s = s.replace(d, "");
    }
    for w in UNWRAPPED {
        s = unwrap_macro(&s, w, conventions.number_in_text_is_text);
    }
    let s = words_between_items_as_commas(&s);
    let s = s.trim().trim_end_matches('.').trim();
    let s = strip_membership(s);
    let s = strip_unit_words(s);
    let s = strip_base_subscript(s);
    drop_thousands_commas(s)
}

/// `1\,000` keeps a (Unicode) thin space between its digits, which the lexer refuses, so the
/// answer is text, not a number (math-verify reads it as `1 \cdot 000`).
fn thin_spaces_in_numbers_kept(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("\\,") {
        let before = rest[..at].chars().next_back();
        let after = rest[at + 2..].chars().next();
        let digits =
            before.is_some_and(|c| c.is_ascii_digit()) && after.is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if digits { "\u{2009}" } else { "\\," });
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

/// `1 and 2`, `x = 1 or x = 2` (from `\text{ and }` or written bare) become comma lists;
/// runs of spaces become one.
fn words_between_items_as_commas(s: &str) -> String {
    let words: Vec<&str> = s.split_ascii_whitespace().collect();
    let mut out = String::with_capacity(s.len());
    for (k, w) in words.iter().enumerate() {
        let joins = (*w == "and" || *w == "or") && k > 0 && k + 1 < words.len();
        if joins {
            out.push(',');
        } else {
            if k > 0 {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    out
}

/// A column or row vector, `\begin{pmatrix} 1 \\ 2 \end{pmatrix}`, becomes the tuple `(1, 2)`
/// (`bmatrix` too); rows and columns are not told apart.
fn matrices_as_tuples(s: &str) -> String {
    let mut out = s.to_string();
    for kind in ["pmatrix", "bmatrix"] {
        out = out
            .replace(&format!("\\begin{{{kind}}}"), "(")
            .replace(&format!("\\end{{{kind}}}"), ")");
    }
    if out.len() != s.len() {
        out = out.replace("\\\\", ",").replace('&', ",");
    }
    out
}

/// A number written with its base, `52_8` or `101_{2}`, becomes its digits (as the answers
/// of MATH's number-theory problems are compared).
fn strip_base_subscript(s: &str) -> &str {
    let Some((digits, base)) = s.split_once('_') else {
        return s;
    };
    let base = base.trim_start_matches('{').trim_end_matches('}');
    let is_base = !base.is_empty() && base.len() <= 2 && base.bytes().all(|b| b.is_ascii_digit());
    let numeral = digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_alphanumeric());
    if is_base && numeral { digits } else { s }
}

/// `\name{X}` becomes `X` (balanced braces); `\namefoo` (a longer macro) is left alone. With
/// `number_is_text`, a group that starts with a number and holds a word (`\text{3 cm}`) stays
/// `\text{...}`, which the parser refuses, so the answer is compared as text.
fn unwrap_macro(s: &str, name: &str, number_is_text: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(name) {
        let after = &rest[at + name.len()..];
        let after_trim = after.trim_start();
        match after_trim.strip_prefix('{').and_then(balanced_prefix) {
            Some(inner) => {
                out.push_str(&rest[..at]);
                let body = inner.trim_start();
                let number_with_word = body.starts_with(|c: char| c.is_ascii_digit())
                    && body.contains(|c: char| c.is_ascii_alphabetic());
                if number_is_text && number_with_word {
                    out.push_str("\\text{");
                    out.push_str(inner);
                    out.push('}');
                } else {
                    out.push_str(inner);
                }
                rest = &after_trim[1 + inner.len() + 1..];
            }
            None => {
                out.push_str(&rest[..at + name.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `x \in [1, 2]` becomes the set when the left is a plain name (equations stay whole: they
/// are compared as equations).
fn strip_membership(s: &str) -> &str {
    let Some(at) = s.rfind("\\in") else {
        return s;
    };
    let lhs = s[..at].trim();
    let rhs = &s[at + "\\in".len()..];
    let simple = !lhs.is_empty()
        && lhs.len() <= 12
        && lhs
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "\\_{}()".contains(c))
        && lhs.starts_with(|c: char| c.is_ascii_alphabetic() || c == '\\');
    // `\infty`, `\int` are other commands
    let command_ends = !rhs.starts_with(|c: char| c.is_ascii_alphabetic());
    if simple && command_ends {
        rhs.trim()
    } else {
        s
    }
}

/// Trailing unit words (`18 dollars`, `5 cm`, `3 square feet`, `864 inches^2`) after something
/// with a digit.
fn strip_unit_words(s: &str) -> &str {
    let mut s = s;
    while let Some(at) = s.trim_end().rfind(' ') {
        let word = s[at + 1..].trim();
        let head = s[..at].trim_end();
        let stem = ["^2", "^3", "^{2}", "^{3}"]
            .iter()
            .find_map(|p| word.strip_suffix(p))
            .unwrap_or(word);
        let is_word = stem.len() >= 2 && stem.chars().all(|c| c.is_ascii_alphabetic());
        if is_word && head.chars().any(|c| c.is_ascii_digit()) {
            s = head;
        } else {
            break;
        }
    }
    s
}

/// `1,234,567.5` becomes `1234567.5`; commas elsewhere (tuples, sets) stay.
fn drop_thousands_commas(s: &str) -> String {
    let body = s.strip_prefix('-').unwrap_or(s);
    let int = body.split('.').next().unwrap_or("");
    let groups: Vec<&str> = int.split(',').collect();
    let grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
        && body[int.len()..]
            .strip_prefix('.')
            .is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if grouped {
        s.replace(',', "")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Conventions;

    fn normalize(s: &str) -> String {
        super::normalize(s, &Conventions::default())
    }

    #[test]
    fn rewrites() {
        assert_eq!(normalize("\\$1,234.50"), "1234.50");
        assert_eq!(normalize("18 dollars"), "18");
        assert_eq!(normalize("5 \\text{ cm}"), "5");
        assert_eq!(normalize("864 \\mbox{ inches}^2"), "864");
        assert_eq!(normalize("\\dfrac{1}{2}"), "\\frac{1}{2}");
        assert_eq!(normalize("x = \\left( 1, 2 \\right)"), "x = ( 1, 2 )");
        assert_eq!(normalize("x \\in [1, 2]"), "[1, 2]");
        assert_eq!(normalize("(-\\infty, 1]"), "(-\\infty, 1]");
        assert_eq!(normalize("90^\\circ"), "90");
        assert_eq!(normalize("50\\%"), "50%");
        assert_eq!(normalize("\u{2212}3"), "-3");
        assert_eq!(normalize("1,2"), "1,2");
        assert_eq!(normalize("1 \\text{ and } 2"), "1, 2");
        assert_eq!(normalize("x = 1 or x = 2"), "x = 1, x = 2");
        assert_eq!(normalize("10{,}000"), "10000");
        assert_eq!(normalize("\\textbf{\\text{ok"), "\\textbf{\\text{ok");
        assert_eq!(normalize("x + y"), "x + y");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("10,\\!080"), "10080");
        assert_eq!(normalize("11,\\! 111,\\! 100"), "11111100");
        assert_eq!(normalize("52_8"), "52");
        assert_eq!(normalize("101_{2}"), "101");
        assert_eq!(normalize("x_1"), "x_1");
        assert_eq!(
            normalize("\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}"),
            "( -1/3 , 2/3 )"
        );
    }

    #[test]
    fn conventions_change_readings() {
        assert_eq!(normalize("\\text{3 cm}"), "\\text{3 cm}");
        assert_eq!(normalize("1\\,000"), "1000");
        assert_eq!(normalize("90\u{b0}"), "90");
        let lenient = Conventions {
            number_in_text_is_text: false,
            ..Conventions::default()
        };
        assert_eq!(super::normalize("\\text{3 cm}", &lenient), "3");
        let strict = Conventions {
            strict_symbols: true,
            ..Conventions::default()
        };
        assert_eq!(super::normalize("1\\,000", &strict), "1\u{2009}000");
        assert_eq!(super::normalize("90\u{b0}", &strict), "90\u{b0}");
        assert_eq!(super::normalize("x\\,y", &strict), "xy");
    }
}
