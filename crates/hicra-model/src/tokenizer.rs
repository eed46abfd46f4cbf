//! A character-level tokenizer with a fixed alphabet, for small models trained from scratch.
//! Ids: 0 = padding, 1 = end of text, then one per character of the alphabet.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CharTokenizer {
    alphabet: Vec<char>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("character {0:?} is not in the tokenizer's alphabet")]
pub struct UnknownChar(pub char);

impl CharTokenizer {
    pub const PAD: u32 = 0;
    pub const EOS: u32 = 1;

    /// Every distinct character of `alphabet`, in order.
    pub fn new(alphabet: &str) -> Self {
        let mut chars: Vec<char> = Vec::new();
        for c in alphabet.chars() {
            if !chars.contains(&c) {
                chars.push(c);
            }
        }
        Self { alphabet: chars }
    }

    /// The characters, in id order (the first has id 2).
    pub fn alphabet(&self) -> &[char] {
        &self.alphabet
    }

    pub fn vocab_size(&self) -> usize {
        self.alphabet.len() + 2
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, UnknownChar> {
        text.chars()
            .map(|c| {
                self.alphabet
                    .iter()
                    .position(|a| *a == c)
                    .map(|i| i as u32 + 2)
                    .ok_or(UnknownChar(c))
            })
            .collect()
    }

    /// The text of `ids` (special tokens decode to nothing) and each token's byte span in it.
    pub fn decode_with_spans(&self, ids: &[u32]) -> (String, Vec<(usize, usize)>) {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(ids.len());
        for &id in ids {
            let start = text.len();
            if let Some(c) = id
                .checked_sub(2)
                .and_then(|i| self.alphabet.get(i as usize))
            {
                text.push(*c);
            }
            spans.push((start, text.len()));
        }
        (text, spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_spans() {
        let t = CharTokenizer::new("ab é");
        let ids = t.encode("a é").unwrap();
        assert_eq!(ids, vec![2, 4, 5]);
        let (text, spans) = t.decode_with_spans(&[2, 4, 5, CharTokenizer::EOS]);
        assert_eq!(text, "a é");
        assert_eq!(spans, vec![(0, 1), (1, 2), (2, 4), (4, 4)]);
        assert_eq!(t.encode("z"), Err(UnknownChar('z')));
    }
}
