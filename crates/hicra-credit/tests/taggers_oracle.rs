//! Property tests of the taggers: the strategic-gram matcher against a naive scan, and the
//! placebo mask's invariants.

use hicra_credit::Lexicon;
use hicra_credit::taggers::placebo_mask;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const GRAMS: [&str; 7] = [
    "so",
    "but wait",
    "wait",
    "we can",
    "we can see",
    "see that",
    "hmm,",
];
const PIECES: [&str; 18] = [
    "so",
    "also",
    "But",
    "wait",
    "WAIT",
    "we",
    "can",
    "see",
    "seed",
    "that",
    "hmm,",
    "x",
    "_",
    "é",
    "we can",
    "We can see",
    "we can seed",
    "but wait",
];
const GLUE: [&str; 5] = [" ", "", ", ", "\n", "-"];

/// Leftmost, then longest, non-overlapping matches found by trying every gram at every
/// character position; a gram that starts (ends) with a letter or digit must not be preceded
/// (followed) by one.
fn naive(grams: &[&str], text: &str) -> Vec<(usize, usize, String)> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let best = grams
            .iter()
            .filter(|g| {
                let end = pos + g.len();
                end <= text.len()
                    && text.is_char_boundary(end)
                    && text[pos..end].eq_ignore_ascii_case(g)
                    && !(word(g.chars().next()) && word(text[..pos].chars().next_back()))
                    && !(word(g.chars().next_back()) && word(text[end..].chars().next()))
            })
            .max_by_key(|g| g.len());
        match best {
            Some(g) => {
                out.push((pos, pos + g.len(), g.to_string()));
                pos += g.len();
            }
            None => pos += text[pos..].chars().next().map_or(1, char::len_utf8),
        }
    }
    out
}

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec((0..PIECES.len(), 0..GLUE.len()), 0..14).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(p, g)| format!("{}{}", PIECES[p], GLUE[g]))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_matcher_agrees_with_a_naive_scan(text in text_strategy()) {
        let lex = Lexicon::new(GRAMS.iter().map(|g| g.to_string()).collect()).unwrap();
        let got: Vec<(usize, usize, String)> =
            lex.find(&text).into_iter().map(|m| (m.start, m.end, m.gram)).collect();
        prop_assert_eq!(got, naive(&GRAMS, &text));
    }

    #[test]
    fn placebo_keeps_the_token_count_and_is_reproducible(
        reference in proptest::collection::vec(any::<bool>(), 0..40),
        seed in any::<u64>(),
    ) {
        let a = placebo_mask(&reference, &mut ChaCha8Rng::seed_from_u64(seed));
        let b = placebo_mask(&reference, &mut ChaCha8Rng::seed_from_u64(seed));
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.len(), reference.len());
        let count = |m: &[bool]| m.iter().filter(|x| **x).count();
        prop_assert_eq!(count(&a), count(&reference));
    }
}

#[test]
fn placebo_spans_move_with_the_seed() {
    let mut reference = vec![false; 60];
    reference[10..14].iter_mut().for_each(|m| *m = true);
    let masks: std::collections::BTreeSet<Vec<bool>> = (0..8)
        .map(|s| placebo_mask(&reference, &mut ChaCha8Rng::seed_from_u64(s)))
        .collect();
    assert!(
        masks.len() > 4,
        "8 seeds gave only {} distinct masks",
        masks.len()
    );
    for m in &masks {
        let start = m.iter().position(|x| *x).unwrap();
        assert_eq!(
            &m[start..start + 4],
            &[true; 4],
            "the span stays contiguous"
        );
    }
}
