//! Finding the final answer in a response, most explicit marker first: the last balanced
//! `\boxed{...}` (or `\fbox{...}`), then "final answer is ..." / "Answer: ...", then `#### N`, then (when
//! enabled) the last number in the text. Linear in the text length; never panics on unbalanced
//! braces or odd UTF-8 boundaries.

/// How an answer was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Boxed,
    FinalAnswerIs,
    Hashes,
    LastNumber,
}

/// The last `max_bytes` bytes of `text`, cut on a character boundary.
pub fn tail(text: &str, max_bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(max_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The answer of a response and how it was found.
pub fn extract_answer(text: &str, last_number_fallback: bool) -> Option<(String, Method)> {
    if let Some(b) = last_boxed(text) {
        return Some((b.to_string(), Method::Boxed));
    }
    if let Some(a) = after_phrase(text) {
        return Some((a, Method::FinalAnswerIs));
    }
    if let Some(at) = text.rfind("####") {
        let line = text[at + 4..].lines().next().unwrap_or("").trim();
        if !line.is_empty() {
            return Some((line.to_string(), Method::Hashes));
        }
    }
    if last_number_fallback {
        return last_number(text).map(|n| (n.to_string(), Method::LastNumber));
    }
    None
}

/// The gold answer: the content of a `\boxed{}` or the part after `####` if present, else all.
pub fn extract_gold(gold: &str) -> String {
    if let Some(b) = last_boxed(gold) {
        return b.to_string();
    }
    match gold.rfind("####") {
        Some(at) => gold[at + 4..].trim().to_string(),
        None => gold.trim().to_string(),
    }
}

/// The content of the last balanced `\boxed{...}` / `\fbox{...}`, or of a brace-less
/// `\boxed 5`. One pass with a stack of open braces, so it stays linear on any input.
pub fn last_boxed(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Option<usize>> = Vec::new();
    let mut best: Option<(usize, usize)> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => {
                let before = &bytes[..i];
                let boxed = before.ends_with(b"\\boxed") || before.ends_with(b"\\fbox");
                stack.push(boxed.then_some(i + 1));
            }
            b'}' => {
                if let Some(Some(start)) = stack.pop()
                    && best.is_none_or(|(s, _)| s < start)
                {
                    best = Some((start, i));
                }
            }
            _ => {}
        }
    }
    let braced = best.map(|(s, e)| (s, text[s..e].trim()));
    let bare = text.rfind("\\boxed ").and_then(|at| {
        let rest = &text[at + "\\boxed ".len()..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '$')
            .unwrap_or(rest.len());
        let word = rest[..end].trim_end_matches(['.', ',']);
        (!word.is_empty()).then_some((at, word))
    });
    match (braced, bare) {
        (Some(b), Some(w)) => Some(if w.0 > b.0 { w.1 } else { b.1 }),
        (b, w) => b.or(w).map(|x| x.1),
    }
}

/// The text up to the brace closing an already-open one, if it closes.
pub fn balanced_prefix(inner: &str) -> Option<&str> {
    let mut depth = 1usize;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&inner[..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The text following the last "final answer is" / "the answer is" / "answer:": the content
/// of a math span right after it (`$...$`, `$$...$$`, `\(...\)`, `\[...\]`), else the rest of
/// the line up to the end of the sentence (a full stop followed by a space), markdown emphasis
/// removed.
fn after_phrase(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let (at, len) = ["final answer is", "the answer is", "answer:"]
        .iter()
        .filter_map(|p| lower.rfind(p).map(|at| (at, p.len())))
        .max_by_key(|&(at, _)| at)?;
    let rest = text[at + len..].trim_start_matches([':', ' ', '*']);
    let answer = math_span(rest).unwrap_or_else(|| sentence(rest.lines().next().unwrap_or("")));
    let answer = answer.trim().trim_matches('*').trim();
    (!answer.is_empty()).then(|| answer.to_string())
}

/// The inside of a math span that opens `rest`, if it closes (an escaped `\$` inside, as in
/// `$\$12$`, does not close it).
fn math_span(rest: &str) -> Option<&str> {
    [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")]
        .iter()
        .find_map(|(open, close)| {
            let inner = rest.strip_prefix(open)?;
            let mut from = 0;
            loop {
                let end = from + inner[from..].find(close)?;
                if *close == "$" && inner[..end].ends_with('\\') {
                    from = end + 1;
                    continue;
                }
                return Some(&inner[..end]);
            }
        })
}

/// A line up to its first sentence-ending full stop (one followed by whitespace or the end;
/// `3.5` keeps its point).
fn sentence(line: &str) -> &str {
    let bytes = line.as_bytes();
    let end = (0..bytes.len())
        .find(|&i| bytes[i] == b'.' && bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace()))
        .unwrap_or(bytes.len());
    line[..end].trim_matches('$')
}

/// The last number in the text (optional sign, digits, thousands commas, decimals).
pub fn last_number(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    while end > 0 && !bytes[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let mut start = end;
    while start > 0 {
        let c = bytes[start - 1];
        let inner = start >= 2 && bytes[start - 2].is_ascii_digit();
        if c.is_ascii_digit() || ((c == b'.' || c == b',') && inner) {
            start -= 1;
        } else {
            break;
        }
    }
    if start > 0 && bytes[start - 1] == b'-' {
        start -= 1;
    }
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_priority_order() {
        let r = |t: &str| extract_answer(t, true);
        assert_eq!(
            r("so \\boxed{1} or \\boxed{\\frac{1}{2}}"),
            Some(("\\frac{1}{2}".into(), Method::Boxed))
        );
        assert_eq!(r("\\fbox{7} end"), Some(("7".into(), Method::Boxed)));
        assert_eq!(r("$\\boxed 42$."), Some(("42".into(), Method::Boxed)));
        assert_eq!(
            r("3 + 4. The final answer is $7$."),
            Some(("7".into(), Method::FinalAnswerIs))
        );
        assert_eq!(
            r("work\n#### 1,234\n"),
            Some(("1,234".into(), Method::Hashes))
        );
        assert_eq!(
            r("it costs -3.5 dollars, ok"),
            Some(("-3.5".into(), Method::LastNumber))
        );
        assert_eq!(extract_answer("it costs 3", false), None);
        assert_eq!(r("no digits"), None);
        let f = |t: &str| extract_answer(t, false).map(|(a, _)| a);
        assert_eq!(
            f("The final answer is $\\dfrac43$. I hope it is correct."),
            Some("\\dfrac43".into())
        );
        assert_eq!(
            f("The final answer is 3.5 dollars. Done"),
            Some("3.5 dollars".into())
        );
        assert_eq!(f("**Final answer:** **15**"), Some("15".into()));
        assert_eq!(f("the answer is \\(x+1\\) indeed"), Some("x+1".into()));
        assert_eq!(r(""), None);
        assert_eq!(
            r("So the angle is found.\n\nAnswer: $\\frac{\\pi}{3}$"),
            Some(("\\frac{\\pi}{3}".into(), Method::FinalAnswerIs))
        );
        assert_eq!(f("The answer is $\\$12$."), Some("\\$12".into()));
    }

    #[test]
    fn unbalanced_and_gold() {
        assert_eq!(last_boxed("\\boxed{12} then \\boxed{oops"), Some("12"));
        assert_eq!(last_boxed("\\boxed{"), None);
        assert_eq!(extract_gold("steps\n#### 18"), "18");
        assert_eq!(extract_gold("\\boxed{x}"), "x");
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(last_number("a 1,000,000."), Some("1,000,000"));
    }
}
