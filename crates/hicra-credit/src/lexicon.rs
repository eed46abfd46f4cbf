//! Strategic-gram matching: which spans of a response are planning phrases.
//!
//! The default lexicon is the paper's 249 Strategic Grams (Wang et al., arXiv:2509.03646,
//! Appendix A, Listing 1), shipped as data in `data/strategic_grams.json` with that citation.
//! Matching (docs/formulas/hicra.md#matching): ASCII case-insensitive, on word boundaries, every
//! token overlapping
//! a match is a planning token, and overlapping matches resolve to the leftmost, then longest.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;

use crate::error::CreditError;

const DEFAULT_LEXICON: &str = include_str!("../data/strategic_grams.json");

#[derive(Deserialize)]
struct LexiconFile {
    grams: Vec<String>,
}

/// One matched phrase: the lexicon entry and its byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GramMatch {
    pub gram: String,
    pub start: usize,
    pub end: usize,
}

/// A compiled list of phrases.
pub struct Lexicon {
    grams: Vec<String>,
    /// For each automaton pattern, the index of its gram (a gram with an apostrophe has a
    /// second pattern spelt with the typographic one, U+2019).
    gram_of_pattern: Vec<usize>,
    automaton: AhoCorasick,
}

impl Lexicon {
    /// The paper's strategic grams.
    pub fn paper() -> Self {
        let file: LexiconFile =
            serde_json::from_str(DEFAULT_LEXICON).expect("the bundled lexicon is valid JSON");
        Self::new(file.grams).expect("the bundled lexicon is valid")
    }

    /// A lexicon from a file: a JSON object with a `grams` array, a JSON array of strings, or
    /// plain text with one phrase per line (`#` starts a comment line).
    pub fn from_file(path: &std::path::Path) -> Result<Self, CreditError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CreditError::Config(format!("cannot read lexicon {}: {e}", path.display()))
        })?;
        let trimmed = text.trim_start();
        let grams = if trimmed.starts_with('{') {
            serde_json::from_str::<LexiconFile>(&text).map(|f| f.grams)
        } else if trimmed.starts_with('[') {
            serde_json::from_str::<Vec<String>>(&text)
        } else {
            Ok(text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect())
        }
        .map_err(|e| CreditError::Config(format!("lexicon {}: {e}", path.display())))?;
        Self::new(grams)
    }

    /// A lexicon from phrases (trimmed; empty ones skipped). Matching ignores ASCII case, and
    /// an apostrophe in a phrase also matches the typographic one (U+2019).
    pub fn new(grams: Vec<String>) -> Result<Self, CreditError> {
        let grams: Vec<String> = grams
            .into_iter()
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        if grams.is_empty() {
            return Err(CreditError::Config("the lexicon has no phrases".into()));
        }
        let mut patterns = Vec::with_capacity(grams.len());
        let mut gram_of_pattern = Vec::with_capacity(grams.len());
        for (index, gram) in grams.iter().enumerate() {
            patterns.push(gram.clone());
            gram_of_pattern.push(index);
            if gram.contains('\'') {
                patterns.push(gram.replace('\'', "\u{2019}"));
                gram_of_pattern.push(index);
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| CreditError::Config(format!("cannot build the matcher: {e}")))?;
        Ok(Self {
            grams,
            gram_of_pattern,
            automaton,
        })
    }

    /// The phrases, as given (trimmed).
    pub fn grams(&self) -> &[String] {
        &self.grams
    }

    /// Number of phrases.
    pub fn len(&self) -> usize {
        self.grams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grams.is_empty()
    }

    /// Non-overlapping matches on word boundaries, leftmost first, longest on ties.
    pub fn find(&self, text: &str) -> Vec<GramMatch> {
        let mut candidates: Vec<(usize, usize, usize)> = self
            .automaton
            .find_overlapping_iter(text)
            .filter(|m| on_boundaries(text, m.start(), m.end()))
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut chosen = Vec::new();
        let mut covered_to = 0;
        for (start, end, pattern) in candidates {
            if start >= covered_to {
                chosen.push(GramMatch {
                    gram: self.grams[self.gram_of_pattern[pattern]].to_ascii_lowercase(),
                    start,
                    end,
                });
                covered_to = end;
            }
        }
        chosen
    }
}

/// A phrase that begins (ends) with a word character must not continue a word there.
fn on_boundaries(text: &str, start: usize, end: usize) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let left_ok = !(first.is_some_and(is_word) && before.is_some_and(is_word));
    let right_ok = !(last.is_some_and(is_word) && after.is_some_and(is_word));
    left_ok && right_ok
}

/// Marks every token whose byte span overlaps a match.
pub fn tokens_in_matches(token_spans: &[(usize, usize)], matches: &[GramMatch]) -> Vec<bool> {
    token_spans
        .iter()
        .map(|&(s, e)| s < e && matches.iter().any(|m| s < m.end && m.start < e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_paper_example_with_exact_spans() {
        let lex = Lexicon::paper();
        let text = "But wait, let's try a different approach.";
        let found = lex.find(text);
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|m| (m.gram.as_str(), &text[m.start..m.end]))
            .collect();
        assert_eq!(got, [("but wait", "But wait"), ("let's", "let's")]);
        assert_eq!((found[0].start, found[0].end), (0, 8));
        assert_eq!((found[1].start, found[1].end), (10, 15));
    }

    #[test]
    fn respects_word_boundaries() {
        let lex = Lexicon::paper();
        assert!(
            lex.find("also").is_empty(),
            "`so` must not match inside `also`"
        );
        assert!(
            lex.find("butter and wait-listed")
                .iter()
                .all(|m| m.gram == "wait")
        );
        assert_eq!(lex.find("So, the answer").len(), 1);
    }

    #[test]
    fn a_typographic_apostrophe_matches_and_counts_as_the_same_gram() {
        let lex = Lexicon::paper();
        let text = "Let\u{2019}s backtrack.";
        let found = lex.find(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].gram, "let's backtrack");
        assert_eq!(
            &text[found[0].start..found[0].end],
            "Let\u{2019}s backtrack"
        );
    }

    #[test]
    fn the_paper_lexicon_has_its_249_grams() {
        assert_eq!(Lexicon::paper().len(), 249);
        assert!(
            DEFAULT_LEXICON.contains("arXiv:2509.03646"),
            "citation kept"
        );
    }

    #[test]
    fn overlapping_phrases_resolve_to_the_longest() {
        let lex = Lexicon::new(vec![
            "we can".into(),
            "we can see".into(),
            "see that".into(),
        ])
        .unwrap();
        let text = "we can see that it works";
        let got: Vec<_> = lex.find(text).into_iter().map(|m| m.gram).collect();
        assert_eq!(got, ["we can see"]);
        // the longest candidate fails the boundary ("seed"), the shorter one still matches
        let got: Vec<_> = lex
            .find("we can seed it")
            .into_iter()
            .map(|m| m.gram)
            .collect();
        assert_eq!(got, ["we can"]);
    }

    #[test]
    fn tokens_overlapping_a_match_are_marked() {
        let m = [GramMatch {
            gram: "but wait".into(),
            start: 0,
            end: 8,
        }];
        let spans = [(0, 3), (3, 8), (8, 9), (9, 15), (15, 15)];
        assert_eq!(
            tokens_in_matches(&spans, &m),
            [true, true, false, false, false]
        );
    }
}
