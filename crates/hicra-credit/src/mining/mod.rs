//! Strategic-gram mining: the paper's recipe for finding planning phrases in a model's own
//! correct solutions (Wang et al., arXiv:2509.03646, §3;
//! docs/formulas/hicra.md#mining-strategic-grams).
//!
//! 1. Collect the 3-5 word n-grams of correct responses ([`ngrams`]) and count, for each, the
//!    distinct responses holding it (its document frequency, DF). Grams below `min_doc_freq`
//!    are dropped; the `max_candidates` most frequent remain.
//! 2. Embed each candidate ([`GramEmbedder`]): the mean of its occurrences' embeddings. In a
//!    run that is the policy's own final hidden states over the gram's tokens in context
//!    (hicra-train's embedder, no download); [`LexicalEmbedder`] works from spelling alone.
//! 3. Cluster the embeddings ([`cluster`]: leader clustering on cosine similarity, after
//!    subtracting their mean, which a decoder's anisotropic hidden states need).
//! 4. Rank clusters by *cluster document frequency*: the number of distinct correct responses
//!    containing any n-gram of the cluster. The top `keep_share` of clusters (at least one) is
//!    kept; the mined strategic grams are the union of their n-grams.
//!
//! The recipe is frequency-driven: an execution phrase every solution uses ("the answer is")
//! ranks as high as its DF puts it, exactly as in the paper; `min_doc_freq` and `keep_share`
//! are the knobs.

pub mod cluster;
pub mod lexical;
pub mod ngrams;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use lexical::LexicalEmbedder;
pub use ngrams::{Occurrence, gram_table};

use crate::error::CreditError;

/// Turns spans of one document into vectors (any length, the same for every call).
pub trait GramEmbedder {
    /// One vector per `(start, end)` byte span of document `doc`.
    fn embed(&mut self, doc: usize, spans: &[(usize, usize)]) -> Result<Vec<Vec<f32>>, String>;
}

/// The recipe's parameters.
///
/// Defaults: `impl Default` below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiningSettings {
    /// Shortest n-gram, in words.
    pub min_words: usize,
    /// Longest n-gram, in words.
    pub max_words: usize,
    /// Fewest distinct responses a gram must occur in to be a candidate.
    pub min_doc_freq: usize,
    /// Most candidates embedded and clustered (the most frequent ones).
    pub max_candidates: usize,
    /// Occurrences averaged into a gram's embedding (its first ones).
    pub occurrences_per_gram: usize,
    /// Cosine similarity a gram needs to a cluster's centroid to join it, in [-1, 1].
    pub similarity: f32,
    /// Share of clusters kept, best first, in (0, 1].
    pub keep_share: f64,
    /// Leave out grams holding a digit.
    pub skip_numbers: bool,
    /// Subtract the candidates' mean embedding before comparing: a decoder's hidden states
    /// share one large common direction that makes every pair look alike (cosine ~0.9).
    pub center: bool,
}

impl Default for MiningSettings {
    fn default() -> Self {
        Self {
            min_words: 3,
            max_words: 5,
            min_doc_freq: 2,
            max_candidates: 1000,
            occurrences_per_gram: 4,
            similarity: 0.8,
            keep_share: 0.2,
            skip_numbers: true,
            center: true,
        }
    }
}

impl MiningSettings {
    /// Every value the recipe refuses, as `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.min_words == 0 || self.min_words > self.max_words {
            p.push((
                "min_words",
                format!(
                    "need 1 <= min_words <= max_words, got {} and {}",
                    self.min_words, self.max_words
                ),
            ));
        }
        if self.max_words > 12 {
            p.push((
                "max_words",
                format!("at most 12 words, got {}", self.max_words),
            ));
        }
        if self.min_doc_freq == 0 {
            p.push(("min_doc_freq", "min_doc_freq must be at least 1".into()));
        }
        for (field, value) in [
            ("max_candidates", self.max_candidates),
            ("occurrences_per_gram", self.occurrences_per_gram),
        ] {
            if value == 0 {
                p.push((field, format!("{field} must be at least 1")));
            }
        }
        if !(-1.0..=1.0).contains(&self.similarity) {
            p.push((
                "similarity",
                format!("similarity must be in [-1, 1], got {}", self.similarity),
            ));
        }
        if !(self.keep_share > 0.0 && self.keep_share <= 1.0) {
            p.push((
                "keep_share",
                format!("keep_share must be in (0, 1], got {}", self.keep_share),
            ));
        }
        p
    }
}

/// One cluster of grams, with its cluster document frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GramCluster {
    /// Its grams, most frequent first.
    pub grams: Vec<String>,
    /// Distinct documents containing any of them.
    pub doc_freq: usize,
    /// Among the top `keep_share` of clusters.
    pub kept: bool,
}

/// What one mining pass found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mined {
    /// Documents (correct responses) mined.
    pub documents: usize,
    /// Grams that passed `min_doc_freq` (before `max_candidates`).
    pub candidates: usize,
    /// Every cluster, best first.
    pub clusters: Vec<GramCluster>,
    /// The mined strategic grams: the union of the kept clusters' grams.
    pub grams: Vec<String>,
}

/// Runs the recipe over `docs` (the texts of correct responses; `embedder` knows the same
/// documents by index).
pub fn mine<S: AsRef<str>>(
    docs: &[S],
    embedder: &mut dyn GramEmbedder,
    settings: &MiningSettings,
) -> Result<Mined, CreditError> {
    if let Some((field, message)) = settings.problems().into_iter().next() {
        return Err(CreditError::Config(format!("mining.{field}: {message}")));
    }
    let table = gram_table(
        docs,
        settings.min_words,
        settings.max_words,
        settings.skip_numbers,
    );
    let mut candidates: Vec<(&String, &ngrams::GramStats)> = table
        .grams
        .iter()
        .filter(|(_, s)| s.docs.len() >= settings.min_doc_freq)
        .collect();
    let passed = candidates.len();
    candidates.sort_by(|a, b| b.1.docs.len().cmp(&a.1.docs.len()).then(a.0.cmp(b.0)));
    candidates.truncate(settings.max_candidates);
    let mut vectors = embed_candidates(&candidates, embedder, settings.occurrences_per_gram)?;
    if settings.center {
        center(&mut vectors);
    }
    let assignment = cluster::leader_clusters(&vectors, settings.similarity);
    let count = assignment.iter().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (gram, &c) in assignment.iter().enumerate() {
        members[c].push(gram);
    }
    let mut clusters: Vec<GramCluster> = members
        .iter()
        .map(|grams| {
            let docs: BTreeSet<usize> = grams
                .iter()
                .flat_map(|&g| candidates[g].1.docs.iter().copied())
                .collect();
            GramCluster {
                grams: grams.iter().map(|&g| candidates[g].0.clone()).collect(),
                doc_freq: docs.len(),
                kept: false,
            }
        })
        .collect();
    // stable: equal frequencies keep the order of their most frequent gram
    clusters.sort_by_key(|c| std::cmp::Reverse(c.doc_freq));
    let keep = ((clusters.len() as f64 * settings.keep_share).ceil() as usize).min(clusters.len());
    let mut grams = Vec::new();
    for cluster in clusters.iter_mut().take(keep) {
        cluster.kept = true;
        grams.extend(cluster.grams.iter().cloned());
    }
    Ok(Mined {
        documents: docs.len(),
        candidates: passed,
        clusters,
        grams,
    })
}

/// Subtracts the mean vector and scales each back to unit length.
fn center(vectors: &mut [Vec<f32>]) {
    let Some(width) = vectors.first().map(Vec::len) else {
        return;
    };
    let mut mean = vec![0.0f32; width];
    for v in vectors.iter() {
        mean.iter_mut()
            .zip(v)
            .for_each(|(m, x)| *m += x / vectors.len() as f32);
    }
    for v in vectors.iter_mut() {
        v.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
        cluster::normalize(v);
    }
}

/// Each candidate's embedding: the normalised mean of its first occurrences' vectors, asked
/// of the embedder one document at a time.
fn embed_candidates(
    candidates: &[(&String, &ngrams::GramStats)],
    embedder: &mut dyn GramEmbedder,
    per_gram: usize,
) -> Result<Vec<Vec<f32>>, CreditError> {
    let mut by_doc: std::collections::BTreeMap<usize, Vec<(usize, usize, usize)>> =
        Default::default();
    for (index, (_, stats)) in candidates.iter().enumerate() {
        for o in stats.occurrences.iter().take(per_gram) {
            by_doc
                .entry(o.doc)
                .or_default()
                .push((index, o.start, o.end));
        }
    }
    let mut sums: Vec<Vec<f32>> = vec![Vec::new(); candidates.len()];
    for (doc, wanted) in by_doc {
        let spans: Vec<(usize, usize)> = wanted.iter().map(|&(_, s, e)| (s, e)).collect();
        let vectors = embedder
            .embed(doc, &spans)
            .map_err(|e| CreditError::Config(format!("embedding document {doc}: {e}")))?;
        if vectors.len() != spans.len() {
            return Err(CreditError::Config(format!(
                "the embedder gave {} vectors for {} spans",
                vectors.len(),
                spans.len()
            )));
        }
        for ((index, _, _), mut v) in wanted.into_iter().zip(vectors) {
            cluster::normalize(&mut v);
            let sum = &mut sums[index];
            if sum.is_empty() {
                *sum = v;
            } else if sum.len() == v.len() {
                sum.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
            } else {
                return Err(CreditError::Config(
                    "the embedder's vectors differ in length".into(),
                ));
            }
        }
    }
    sums.iter_mut().for_each(|v| cluster::normalize(v));
    Ok(sums)
}

#[cfg(test)]
mod tests;
