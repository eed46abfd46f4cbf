//! The recipe on a synthetic corpus with planted strategic phrases.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const FILLER: [&str; 30] = [
    "apples", "boxes", "carry", "many", "each", "total", "cost", "sells", "buys", "more", "less",
    "half", "times", "people", "days", "week", "money", "store", "price", "left", "over", "gives",
    "takes", "books", "trees", "cars", "miles", "hours", "pages", "cups",
];
const PLANTED: [&str; 2] = [
    "Let me try a different approach",
    "Wait, let me double check",
];
const EXECUTION: &str = "So the answer is";

struct Corpus {
    docs: Vec<String>,
    /// Documents holding each planted phrase, and the execution phrase.
    planted_in: [usize; 2],
    execution_in: usize,
}

fn corpus(seed: u64, n: usize) -> Corpus {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut planted_in = [0; 2];
    let mut execution_in = 0;
    let docs = (0..n)
        .map(|_| {
            let mut sentences: Vec<String> = (0..3)
                .map(|_| {
                    let len = rng.random_range(6..10);
                    let words: Vec<&str> = (0..len)
                        .map(|_| *FILLER.choose(&mut rng).unwrap())
                        .collect();
                    words.join(" ")
                })
                .collect();
            for (i, phrase) in PLANTED.iter().enumerate() {
                if rng.random_bool([0.4, 0.3][i]) {
                    let at = rng.random_range(0..=sentences.len());
                    sentences.insert(at, phrase.to_string());
                    planted_in[i] += 1;
                }
            }
            if rng.random_bool(0.9) {
                sentences.push(format!("{EXECUTION} {}", rng.random_range(1..500)));
                execution_in += 1;
            }
            sentences.join(". ")
        })
        .collect();
    Corpus {
        docs,
        planted_in,
        execution_in,
    }
}

/// The 3-5 word grams of a phrase, lowercased.
fn sub_grams(phrase: &str) -> Vec<String> {
    let docs = [phrase];
    gram_table(&docs, 3, 5, true).grams.into_keys().collect()
}

#[test]
fn planted_phrases_fill_the_top_clusters_ranked_by_document_frequency() {
    let c = corpus(11, 300);
    let mut embedder = LexicalEmbedder::new(c.docs.clone());
    let mined = mine(&c.docs, &mut embedder, &MiningSettings::default()).unwrap();
    assert_eq!(mined.documents, 300);
    assert!(
        mined.clusters.len() > 50,
        "filler makes many clusters: {}",
        mined.clusters.len()
    );
    // ranked by cluster document frequency; exactly the top 20% kept
    assert!(
        mined
            .clusters
            .windows(2)
            .all(|w| w[0].doc_freq >= w[1].doc_freq)
    );
    let kept = mined.clusters.iter().filter(|c| c.kept).count();
    assert_eq!(kept, (mined.clusters.len() as f64 * 0.2).ceil() as usize);
    assert!(mined.clusters[..kept].iter().all(|c| c.kept));

    let strategic: Vec<String> = PLANTED.iter().flat_map(|p| sub_grams(p)).collect();
    let execution = sub_grams(EXECUTION);
    for gram in strategic.iter().chain(&execution) {
        assert!(mined.grams.contains(gram), "{gram:?} mined");
    }
    // the clusters holding planted or execution grams are the top ones, nothing else before
    let is_planted = |c: &GramCluster| {
        c.grams
            .iter()
            .any(|g| strategic.contains(g) || execution.contains(g))
    };
    let planted_clusters = mined.clusters.iter().filter(|c| is_planted(c)).count();
    assert!(
        mined.clusters[..planted_clusters].iter().all(is_planted),
        "{:#?}",
        &mined.clusters[..planted_clusters + 1]
    );
    // each planted cluster's frequency is its phrase's document count (filler never holds
    // the phrase), so "so the answer is" (90% of documents) ranks first, as specified
    let cluster_of = |gram: &str| {
        mined
            .clusters
            .iter()
            .find(|c| c.grams.iter().any(|g| g == gram))
    };
    assert_eq!(
        cluster_of("the answer is").unwrap().doc_freq,
        c.execution_in
    );
    assert_eq!(mined.clusters[0].doc_freq, c.execution_in);
    assert_eq!(
        cluster_of("a different approach").unwrap().doc_freq,
        c.planted_in[0]
    );
    assert_eq!(
        cluster_of("let me double check").unwrap().doc_freq,
        c.planted_in[1]
    );
    assert!(c.execution_in > c.planted_in[0] && c.planted_in[0] > c.planted_in[1]);
    let rank = |gram: &str| {
        mined
            .clusters
            .iter()
            .position(|c| c.grams.iter().any(|g| g == gram))
    };
    assert!(rank("the answer is") < rank("a different approach"));
    assert!(rank("a different approach") < rank("let me double check"));
}

#[test]
fn mining_is_deterministic_and_refuses_bad_settings() {
    let c = corpus(3, 80);
    let run = || {
        let mut e = LexicalEmbedder::new(c.docs.clone());
        mine(&c.docs, &mut e, &MiningSettings::default()).unwrap()
    };
    assert_eq!(run(), run());
    let bad = MiningSettings {
        keep_share: 0.0,
        ..MiningSettings::default()
    };
    let mut e = LexicalEmbedder::new(c.docs.clone());
    let err = mine(&c.docs, &mut e, &bad).unwrap_err().to_string();
    assert!(err.contains("keep_share"), "{err}");
}

#[test]
fn an_empty_corpus_mines_nothing() {
    let docs: Vec<String> = Vec::new();
    let mut e = LexicalEmbedder::new(docs.clone());
    let mined = mine(&docs, &mut e, &MiningSettings::default()).unwrap();
    assert!(mined.clusters.is_empty() && mined.grams.is_empty());
}

/// An embedder that gives the wrong number of vectors is an error, not a panic.
struct Short;
impl GramEmbedder for Short {
    fn embed(&mut self, _: usize, spans: &[(usize, usize)]) -> Result<Vec<Vec<f32>>, String> {
        Ok(vec![vec![1.0]; spans.len().saturating_sub(1)])
    }
}

#[test]
fn a_wrong_embedder_is_reported() {
    let docs = ["let me check this", "let me check that"];
    let err = mine(&docs, &mut Short, &MiningSettings::default()).unwrap_err();
    assert!(err.to_string().contains("vectors for"), "{err}");
}
