//! The partial solutions of a search and the pure rules over them: how many tokens a path's
//! next step may take (its own budget), how many samples a draw may take within the search's
//! token budget, merging identical candidates, keeping the best.

use std::collections::HashSet;

/// A partial or finished solution.
#[derive(Clone, Debug, Default)]
pub(crate) struct Path {
    pub(crate) tokens: Vec<u32>,
    /// Log-probabilities of `tokens`, all at one temperature (the sampling temperature, or 1
    /// when it is 0), continuations included.
    pub(crate) logprobs: Vec<f32>,
    pub(crate) text: String,
    pub(crate) steps: usize,
    /// Ended with a stop token.
    pub(crate) finished: bool,
    /// Ran out of room (response budget, context or steps) before finishing; a step cut by
    /// the budget marks its path so.
    pub(crate) truncated: bool,
    pub(crate) score: f64,
}

/// The most tokens the next step of a path that already has `used` tokens may take: at most
/// `step_tokens`, within what the response budget `max_new` leaves it and what the context
/// leaves after the prompt (one position spare, as the sampler needs); 0 when none.
pub(crate) fn step_room(
    used: usize,
    prompt: usize,
    max_new: usize,
    context: usize,
    step_tokens: usize,
) -> usize {
    step_tokens
        .min(max_new.saturating_sub(used))
        .min(context.saturating_sub(prompt + used + 1))
}

/// The tokens a search has generated for one problem, and the most it may.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Budget {
    pub(crate) drawn: usize,
    pub(crate) limit: Option<usize>,
}

impl Budget {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self { drawn: 0, limit }
    }

    /// Tokens that may still be generated (`usize::MAX` without a limit).
    pub(crate) fn left(&self) -> usize {
        self.limit
            .map_or(usize::MAX, |l| l.saturating_sub(self.drawn))
    }

    pub(crate) fn spent(&self) -> bool {
        self.left() == 0
    }
}

/// How many of `n` samples of at most `room` tokens each one draw may take when `left` tokens
/// remain, and the room each then has, so that the draw can never generate more than `left`:
/// all `n` at full room when they fit; else as many whole rooms as fit (at least one
/// sample); a single sample with the room `left` when not even one whole room is left;
/// `(0, 0)` when nothing is left.
pub(crate) fn capped_draw(n: usize, room: usize, left: usize) -> (usize, usize) {
    if left == 0 || n == 0 || room == 0 {
        (0, 0)
    } else if left >= room {
        (n.min(left / room), room)
    } else {
        (1, left)
    }
}

/// Whether paths of these prefix lengths, each with its own room, can be sampled in one batch
/// with the largest room as the batch's limit: the sampler caps a batch at the context left
/// after its longest prefix, which must not cut any path below its own room.
pub(crate) fn fits_one_batch(prefixes: &[usize], rooms: &[usize], context: usize) -> bool {
    let longest = prefixes.iter().copied().max().unwrap_or(0);
    let widest = rooms.iter().copied().max().unwrap_or(0);
    longest + widest <= context
}

/// The candidates with distinct tokens, each the first of its kind, in order.
pub(crate) fn merge_identical(paths: Vec<Path>) -> Vec<Path> {
    let mut seen: HashSet<Vec<u32>> = HashSet::with_capacity(paths.len());
    paths
        .into_iter()
        .filter(|p| seen.insert(p.tokens.clone()))
        .collect()
}

/// The `width` best-scored paths, best first; equal scores keep their order.
pub(crate) fn keep_best(mut paths: Vec<Path>, width: usize) -> Vec<Path> {
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by(|&a, &b| paths[b].score.total_cmp(&paths[a].score).then(a.cmp(&b)));
    order.truncate(width);
    order
        .iter()
        .map(|&i| std::mem::take(&mut paths[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(text: &str, score: f64) -> Path {
        Path {
            text: text.into(),
            score,
            ..Path::default()
        }
    }

    #[test]
    fn the_beam_keeps_the_best_width_by_score_and_ties_in_order() {
        let paths = vec![
            scored("a", 0.2),
            scored("b", 0.9),
            scored("c", 0.5),
            scored("d", 0.9),
            scored("e", f64::NEG_INFINITY),
        ];
        let kept: Vec<String> = keep_best(paths.clone(), 3)
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(kept, ["b", "d", "c"]);
        let all: Vec<String> = keep_best(paths, 10).into_iter().map(|p| p.text).collect();
        assert_eq!(all, ["b", "d", "c", "a", "e"]);
    }

    #[test]
    fn identical_candidates_merge_into_the_first() {
        let path = |tokens: &[u32], text: &str| Path {
            tokens: tokens.to_vec(),
            text: text.into(),
            ..Path::default()
        };
        let merged = merge_identical(vec![
            path(&[1, 2], "a"),
            path(&[1, 2], "b"),
            path(&[1], "c"),
            path(&[1, 2, 3], "d"),
            path(&[1], "e"),
        ]);
        let texts: Vec<&str> = merged.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["a", "c", "d"]);
    }

    #[test]
    fn a_capped_draw_never_exceeds_what_is_left() {
        assert_eq!(capped_draw(4, 8, 100), (4, 8), "fits whole");
        assert_eq!(capped_draw(4, 8, 20), (2, 8), "two whole rooms fit");
        assert_eq!(capped_draw(4, 8, 5), (1, 5), "one short sample");
        assert_eq!(capped_draw(4, 8, 0), (0, 0));
        for left in 0..40 {
            let (n, room) = capped_draw(3, 7, left);
            assert!(n * room <= left && n <= 3 && room <= 7);
            assert_eq!(n == 0, left == 0);
        }
        let mut budget = Budget::new(Some(10));
        budget.drawn = 7;
        assert_eq!(budget.left(), 3);
        budget.drawn = 10;
        assert!(budget.spent());
        assert_eq!(Budget::new(None).left(), usize::MAX);
    }

    #[test]
    fn each_path_has_its_own_room() {
        // budget 20, context 64, prompt 10, steps of at most 8
        let room = |used| step_room(used, 10, 20, 64, 8);
        assert_eq!(room(0), 8);
        assert_eq!(room(15), 5, "the budget leaves 5");
        assert_eq!(room(20), 0);
        // context 30: a 10-token prompt and 16 tokens leave 3 positions (one kept spare)
        assert_eq!(step_room(16, 10, 100, 30, 8), 3);
        assert_eq!(step_room(19, 10, 100, 30, 8), 0);
        // one batch would cap the 4-token prefix's step at 30 - 26 = 4 < 8
        assert!(!fits_one_batch(&[26, 4], &[3, 8], 30));
        assert!(fits_one_batch(&[20, 4], &[3, 8], 30));
    }
}
