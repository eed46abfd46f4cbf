//! [`LexicalEmbedder`]: a gram's embedding from its spelling alone (hashed character
//! trigrams and words), for mining without a model (`hicra mine` without `--model`, or
//! `embedding = "lexical"`): grams that share words and word pieces land together.

use super::GramEmbedder;

/// Embeds the text of each span of the documents it was given.
pub struct LexicalEmbedder {
    docs: Vec<String>,
    dim: usize,
}

impl LexicalEmbedder {
    pub fn new(docs: Vec<String>) -> Self {
        Self { docs, dim: 512 }
    }

    /// The embedding of a piece of text (not normalised).
    pub fn embed_text(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dim];
        let lower = text.to_lowercase();
        for word in lower.split(|c: char| !c.is_alphanumeric() && c != '\'') {
            if word.is_empty() {
                continue;
            }
            v[bucket(word.as_bytes(), self.dim)] += 2.0;
            let padded: Vec<char> = format!(" {word} ").chars().collect();
            for piece in padded.windows(3) {
                let piece: String = piece.iter().collect();
                v[bucket(piece.as_bytes(), self.dim)] += 1.0;
            }
        }
        v
    }
}

/// FNV-1a of the bytes, into `dim` buckets.
fn bucket(bytes: &[u8], dim: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (h % dim as u64) as usize
}

impl GramEmbedder for LexicalEmbedder {
    fn embed(&mut self, doc: usize, spans: &[(usize, usize)]) -> Result<Vec<Vec<f32>>, String> {
        let text = self
            .docs
            .get(doc)
            .ok_or_else(|| format!("no document {doc}"))?;
        spans
            .iter()
            .map(|&(s, e)| {
                text.get(s..e)
                    .map(|t| self.embed_text(t))
                    .ok_or_else(|| format!("span {s}..{e} is not text of document {doc}"))
            })
            .collect()
    }
}
