//! Decoding token by token, with the byte span each token contributes to the text.
//!
//! A byte-level token may hold part of a UTF-8 character. Bytes wait in a buffer until they
//! form whole characters; a token's span is the text that became complete when it arrived
//! (possibly empty). Invalid sequences become U+FFFD, so the text is always valid UTF-8, and
//! whatever is left incomplete at the end is flushed as U+FFFD into the last token's span.

use std::ops::Range;

use super::{Tokenizer, TokenizerError};

/// Streaming detokenizer for a sampler: push ids, read the new text.
#[derive(Debug)]
pub struct IncrementalDecoder<'a> {
    tokenizer: &'a Tokenizer,
    skip_special: bool,
    pending: Vec<u8>,
    text: String,
    spans: Vec<Range<usize>>,
}

impl<'a> IncrementalDecoder<'a> {
    pub(crate) fn new(tokenizer: &'a Tokenizer, skip_special: bool) -> Self {
        Self {
            tokenizer,
            skip_special,
            pending: Vec::new(),
            text: String::new(),
            spans: Vec::new(),
        }
    }

    /// Appends a token; returns the text it completed.
    pub fn push(&mut self, id: u32) -> Result<&str, TokenizerError> {
        let start = self.text.len();
        if !(self.skip_special && self.tokenizer.is_special(id)) {
            self.pending
                .extend_from_slice(self.tokenizer.token_bytes(id)?);
            self.drain_complete();
        }
        self.spans.push(start..self.text.len());
        Ok(&self.text[start..])
    }

    /// The text so far (excluding bytes still waiting to complete a character).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The full text and one byte range of it per pushed token.
    pub fn finish(mut self) -> (String, Vec<Range<usize>>) {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.text.push(char::REPLACEMENT_CHARACTER);
            if let Some(last) = self.spans.last_mut() {
                last.end = self.text.len();
            }
        }
        (self.text, self.spans)
    }

    fn drain_complete(&mut self) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    let prefix = std::str::from_utf8(&self.pending[..valid])
                        .expect("checked by valid_up_to");
                    self.text.push_str(prefix);
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }
}
