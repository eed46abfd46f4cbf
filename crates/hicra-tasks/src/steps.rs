//! How a response is cut into *steps*, the unit of process supervision: Monte-Carlo step labels,
//! the process reward model's step ends and the step-level searches all cut with one
//! [`Segmentation`], and every file of labels records the one it used (its [`Display`] form),
//! so a model trained on steps of one kind is never fed steps of another unnoticed.
//!
//! Three rules:
//! - `newline`, `blank-line` or `text:<delimiter>`: a step ends right after each occurrence of
//!   the delimiter (which belongs to the step it ends);
//! - `numbered`: a new step begins at each line that starts with `Step <k>` (the text before
//!   the first marker, if any, is a step of its own);
//! - `tokens:<n>`: a step every `n` tokens.
//!
//! A step that would hold only whitespace joins the step before it (three newlines in a row
//! end one step, not three), and text after the last delimiter is the last step. A response
//! with no text has no steps.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The rule that cuts responses into steps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segmentation {
    /// A step ends right after each occurrence of this text.
    Delimiter(String),
    /// A step starts at each line beginning with `Step <digits>`.
    Numbered,
    /// A step every this many tokens.
    Tokens(usize),
}

impl Default for Segmentation {
    fn default() -> Self {
        Self::Delimiter("\n".into())
    }
}

impl Segmentation {
    /// The byte offsets at which the steps of `text` end, in order; the last is `text.len()`
    /// when the text is not empty. Only for text rules: `tokens:<n>` needs the tokens
    /// ([`Self::token_step_ends`]).
    pub fn text_step_ends(&self, text: &str) -> Vec<usize> {
        let raw: Vec<usize> = match self {
            Self::Delimiter(d) => text
                .match_indices(d.as_str())
                .map(|(i, m)| i + m.len())
                .collect(),
            Self::Numbered => numbered_starts(text)
                .into_iter()
                .filter(|&start| start > 0)
                .collect(),
            Self::Tokens(_) => Vec::new(),
        };
        merge_blank(text, raw)
    }

    /// The steps of a token sequence: for each step, the number of tokens up to and including
    /// its last token. `spans` are the tokens' byte spans in `text` (as
    /// `decode_with_spans` gives them; a token with an empty span, a special token, belongs to
    /// the step it ends or sits in). A step ends at the first token whose span reaches the
    /// step's last byte; tokens after the last text step (an end-of-sequence token) join the
    /// last step.
    pub fn token_step_ends(&self, text: &str, spans: &[(usize, usize)]) -> Vec<usize> {
        if spans.is_empty() {
            return Vec::new();
        }
        if let Self::Tokens(n) = self {
            let n = (*n).max(1);
            let mut ends: Vec<usize> = (1..=spans.len().div_ceil(n))
                .map(|k| (k * n).min(spans.len()))
                .collect();
            ends.dedup();
            return ends;
        }
        tokens_ending(&self.text_step_ends(text), spans)
    }

    /// The text of each step of `text` (text rules; one step per whole `text` for
    /// `tokens:<n>`).
    pub fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        if let Self::Tokens(_) = self {
            return if text.is_empty() { vec![] } else { vec![text] };
        }
        let mut start = 0;
        self.text_step_ends(text)
            .into_iter()
            .map(|end| {
                let step = &text[start..end];
                start = end;
                step
            })
            .collect()
    }

    /// Whether a step being generated has ended, given its text so far (what a sampler's
    /// stop predicate asks); `None` for rules that only tell a step ended once the next began
    /// (`numbered`) or that count tokens.
    pub fn ends_step(&self, step_text: &str) -> Option<bool> {
        match self {
            Self::Delimiter(d) => Some(step_text.trim_start().contains(d.as_str())),
            Self::Numbered | Self::Tokens(_) => None,
        }
    }

    /// The delimiter of a text rule cut while generating.
    pub fn delimiter(&self) -> Option<&str> {
        match self {
            Self::Delimiter(d) => Some(d),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Delimiter(d) if d.is_empty() => Err("a step delimiter must not be empty".into()),
            Self::Tokens(0) => Err("steps of `tokens:N` need N >= 1".into()),
            _ => Ok(()),
        }
    }
}

/// For steps ending at the byte offsets `byte_ends` of a text whose tokens have the byte
/// `spans`: per step, the number of tokens up to and including the token that holds its last
/// byte (steps sharing a token end together; the last step takes every remaining token, an
/// end-of-sequence token included). This places labels of steps given as text on tokens.
pub fn tokens_ending(byte_ends: &[usize], spans: &[(usize, usize)]) -> Vec<usize> {
    if spans.is_empty() {
        return Vec::new();
    }
    let mut ends = Vec::new();
    let mut token = 0;
    for &byte_end in byte_ends {
        while token < spans.len() && spans[token].1 < byte_end {
            token += 1;
        }
        if token < spans.len() {
            token += 1;
            if ends.last() != Some(&token) {
                ends.push(token);
            }
        }
    }
    match ends.last_mut() {
        Some(last) => *last = spans.len(),
        None => ends.push(spans.len()),
    }
    ends
}

/// Byte offsets of the lines that start with `Step <digits>`.
fn numbered_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let rest = line.trim_start();
        if let Some(after) = rest.strip_prefix("Step")
            && after.trim_start().starts_with(|c: char| c.is_ascii_digit())
        {
            starts.push(line_start);
        }
        line_start += line.len();
    }
    starts
}

/// Step ends with whitespace-only steps merged into the step before (or the next, at the
/// start), and the text after the last end as a last step.
fn merge_blank(text: &str, raw: Vec<usize>) -> Vec<usize> {
    let mut ends: Vec<usize> = Vec::with_capacity(raw.len() + 1);
    let mut start = 0;
    for end in raw.into_iter().chain(std::iter::once(text.len())) {
        if end <= start {
            continue;
        }
        if text[start..end].trim().is_empty() {
            if let Some(last) = ends.last_mut() {
                *last = end;
            }
            // leading blank text waits for the first real step
        } else {
            ends.push(end);
        }
        start = end;
    }
    if ends.is_empty() && !text.is_empty() {
        ends.push(text.len());
    }
    ends
}

impl fmt::Display for Segmentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delimiter(d) if d == "\n" => f.write_str("newline"),
            Self::Delimiter(d) if d == "\n\n" => f.write_str("blank-line"),
            Self::Delimiter(d) => write!(f, "text:{}", d.escape_default()),
            Self::Numbered => f.write_str("numbered"),
            Self::Tokens(n) => write!(f, "tokens:{n}"),
        }
    }
}

/// Parses `newline`, `blank-line`, `numbered`, `tokens:N` or `text:DELIM` (`\n` and `\t`
/// escapes understood).
impl FromStr for Segmentation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rule = match s {
            "newline" => Self::Delimiter("\n".into()),
            "blank-line" => Self::Delimiter("\n\n".into()),
            "numbered" => Self::Numbered,
            _ => {
                if let Some(n) = s.strip_prefix("tokens:") {
                    Self::Tokens(n.parse().map_err(|_| {
                        format!("steps `{s}`: `{n}` is not a positive whole number")
                    })?)
                } else if let Some(d) = s.strip_prefix("text:") {
                    Self::Delimiter(d.replace("\\n", "\n").replace("\\t", "\t"))
                } else {
                    return Err(format!(
                        "unknown step rule `{s}`: use newline, blank-line, numbered, tokens:N \
                         or text:DELIMITER"
                    ));
                }
            }
        };
        rule.validate().map_err(|e| format!("steps `{s}`: {e}"))?;
        Ok(rule)
    }
}

impl Serialize for Segmentation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Segmentation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Segmentation {
        s.parse().unwrap()
    }

    #[test]
    fn delimiters_end_steps_and_blank_steps_join_the_one_before() {
        let newline = rule("newline");
        assert_eq!(newline.split("a\nbb\n\n\nc"), ["a\n", "bb\n\n\n", "c"]);
        assert_eq!(newline.split("a\nb\n"), ["a\n", "b\n"]);
        assert_eq!(newline.split("\n\na\nb"), ["\n\na\n", "b"]);
        assert_eq!(newline.split("no delimiter"), ["no delimiter"]);
        assert!(newline.split("").is_empty());
        assert_eq!(newline.split("\n\n"), ["\n\n"]);
        let blank = rule("blank-line");
        assert_eq!(blank.split("x\ny\n\nz"), ["x\ny\n\n", "z"]);
    }

    #[test]
    fn numbered_steps_start_at_their_markers() {
        let text = "Let me see.\nStep 1: 2+3=5\nmore\nStep 2: 5*4=20\n  Step 10 x\nStepping";
        assert_eq!(
            rule("numbered").split(text),
            [
                "Let me see.\n",
                "Step 1: 2+3=5\nmore\n",
                "Step 2: 5*4=20\n",
                "  Step 10 x\nStepping"
            ]
        );
        assert_eq!(rule("numbered").split("Step 1: a"), ["Step 1: a"]);
    }

    #[test]
    fn token_steps_end_at_the_token_holding_the_steps_last_byte() {
        // tokens: "a" "\nb" "b\n" "c" <eos>
        let text = "a\nbb\nc";
        let spans = [(0, 1), (1, 3), (3, 5), (5, 6), (6, 6)];
        assert_eq!(rule("newline").token_step_ends(text, &spans), [2, 3, 5]);
        assert_eq!(rule("tokens:2").token_step_ends(text, &spans), [2, 4, 5]);
        assert_eq!(rule("tokens:5").token_step_ends(text, &spans), [5]);
        assert!(rule("newline").token_step_ends("", &[]).is_empty());
        // one step when there is no delimiter, an end-of-sequence token included
        assert_eq!(
            rule("newline").token_step_ends("ab", &[(0, 2), (2, 2)]),
            [2]
        );
    }

    #[test]
    fn rules_round_trip_through_their_names() {
        for s in ["newline", "blank-line", "numbered", "tokens:16", "text:;"] {
            assert_eq!(rule(s).to_string(), s);
        }
        assert_eq!(
            rule("text:\\n---\\n"),
            Segmentation::Delimiter("\n---\n".into())
        );
        for bad in ["tokens:0", "tokens:x", "text:", "lines"] {
            assert!(bad.parse::<Segmentation>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&rule("blank-line")).unwrap();
        assert_eq!(json, "\"blank-line\"");
        assert_eq!(
            serde_json::from_str::<Segmentation>(&json).unwrap(),
            rule("blank-line")
        );
    }

    #[test]
    fn steps_being_generated_end_at_the_delimiter() {
        assert_eq!(rule("newline").ends_step("7+5=12\n"), Some(true));
        assert_eq!(rule("newline").ends_step("7+5"), Some(false));
        // a step does not end on a delimiter before any text
        assert_eq!(rule("newline").ends_step("\n"), Some(false));
        assert_eq!(rule("numbered").ends_step("x"), None);
    }
}
