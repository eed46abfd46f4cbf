//! Word n-grams of a text with their byte spans, and their document frequencies.
//!
//! A word is a run of letters, digits and inner apostrophes (`let's`, `let’s`). An n-gram is
//! `n` consecutive words within one clause: sentence punctuation (`. ! ? ; :`), line breaks and
//! math (`$ \ { } = ^ _`) end a clause, so grams never straddle `49. Let` or `\boxed{`. The
//! gram's key is its exact text, lowercased, so a mined gram matches the responses it came
//! from literally (commas and spacing included).

use std::collections::{BTreeMap, BTreeSet};

/// One place a gram occurs: the document and the byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub doc: usize,
    pub start: usize,
    pub end: usize,
}

/// Every distinct gram of a corpus with the documents holding it and its occurrences.
#[derive(Debug, Default)]
pub struct GramTable {
    pub grams: BTreeMap<String, GramStats>,
}

#[derive(Debug, Default, Clone)]
pub struct GramStats {
    /// Distinct documents containing the gram.
    pub docs: BTreeSet<usize>,
    /// Where it occurs, in document order.
    pub occurrences: Vec<Occurrence>,
}

fn ends_clause(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | ':' | '\n' | '$' | '\\' | '{' | '}' | '=' | '^' | '_'
    )
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// The words of `text` as byte ranges, split into clauses.
pub fn clauses(text: &str) -> Vec<Vec<(usize, usize)>> {
    let mut clauses = vec![Vec::new()];
    let mut word: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_word = chars.peek().is_some_and(|&(_, n)| is_word_char(n));
        let inner_apostrophe = matches!(c, '\'' | '\u{2019}') && word.is_some() && next_is_word;
        if is_word_char(c) || inner_apostrophe {
            word.get_or_insert(i);
            continue;
        }
        if let Some(start) = word.take() {
            clauses.last_mut().unwrap().push((start, i));
        }
        if ends_clause(c) && !clauses.last().unwrap().is_empty() {
            clauses.push(Vec::new());
        }
    }
    if let Some(start) = word {
        clauses.last_mut().unwrap().push((start, text.len()));
    }
    clauses.retain(|c| !c.is_empty());
    clauses
}

/// The n-grams (`min_words..=max_words` words) of every document; with `skip_numbers`, grams
/// holding a digit are left out (numbers belong to one problem, not to a strategy).
pub fn gram_table<S: AsRef<str>>(
    docs: &[S],
    min_words: usize,
    max_words: usize,
    skip_numbers: bool,
) -> GramTable {
    let mut table = GramTable::default();
    for (doc, text) in docs.iter().enumerate() {
        let text = text.as_ref();
        for words in clauses(text) {
            for n in min_words..=max_words {
                for window in words.windows(n) {
                    let (start, end) = (window[0].0, window[n - 1].1);
                    let surface = &text[start..end];
                    if skip_numbers && surface.chars().any(|c| c.is_ascii_digit()) {
                        continue;
                    }
                    let stats = table.grams.entry(surface.to_lowercase()).or_default();
                    stats.docs.insert(doc);
                    stats.occurrences.push(Occurrence { doc, start, end });
                }
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_end_at_sentence_punctuation_and_math() {
        let text = "Wait, let's check: 7 squared is \\boxed{49}. Done now";
        let words: Vec<Vec<&str>> = clauses(text)
            .into_iter()
            .map(|c| c.into_iter().map(|(s, e)| &text[s..e]).collect())
            .collect();
        assert_eq!(
            words,
            [
                vec!["Wait", "let's", "check"],
                vec!["7", "squared", "is"],
                vec!["boxed"],
                vec!["49"],
                vec!["Done", "now"]
            ]
        );
    }

    #[test]
    fn grams_keep_their_surface_and_count_documents_once() {
        let docs = [
            "Wait, let me see. Wait, let me see",
            "so wait, let me see 3 times",
        ];
        let table = gram_table(&docs, 3, 4, true);
        let stats = &table.grams["wait, let me"];
        assert_eq!(stats.docs.len(), 2);
        assert_eq!(stats.occurrences.len(), 3);
        assert_eq!(
            stats.occurrences[0],
            Occurrence {
                doc: 0,
                start: 0,
                end: 12
            }
        );
        assert!(table.grams.contains_key("so wait, let me"));
        assert!(!table.grams.keys().any(|g| g.contains('3')));
        assert!(
            !table.grams.contains_key("see wait, let"),
            "no gram across a full stop"
        );
    }
}
