//! How a mini-batch is cut into micro-batches, the unit of one forward and backward pass whose
//! gradients accumulate: consecutive rollouts, at most `max_rows` of them, and at most
//! `max_tokens` padded tokens (rows x the longest prompt + response among them), so the
//! memory of a pass is bounded by the budget whatever the response lengths are. A rollout
//! longer than the budget gets a micro-batch of its own. Order is kept, so the accumulated
//! gradient is the mini-batch's whatever the cut.

use std::ops::Range;

/// Cuts rows of `lengths[i]` tokens (prompt + response) into consecutive ranges of at most
/// `max_rows` rows and `max_tokens` padded tokens (0 = no token limit).
pub fn plan_micro_batches(
    lengths: &[usize],
    max_rows: usize,
    max_tokens: usize,
) -> Vec<Range<usize>> {
    let max_rows = max_rows.max(1);
    let mut plan = Vec::new();
    let mut start = 0;
    let mut longest = 0;
    for (i, &len) in lengths.iter().enumerate() {
        let rows = i - start;
        let wider = longest.max(len);
        let full = rows == max_rows || (max_tokens > 0 && (rows + 1) * wider > max_tokens);
        if rows > 0 && full {
            plan.push(start..i);
            start = i;
            longest = len;
        } else {
            longest = wider;
        }
    }
    if start < lengths.len() {
        plan.push(start..lengths.len());
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_tokens_both_bound_a_micro_batch() {
        assert_eq!(plan_micro_batches(&[10; 5], 2, 0), vec![0..2, 2..4, 4..5]);
        assert_eq!(plan_micro_batches(&[10; 5], 8, 30), vec![0..3, 3..5]);
        // padded: a long row makes the batch wider for the rows before it too
        assert_eq!(plan_micro_batches(&[5, 5, 20, 5], 8, 40), vec![0..2, 2..4]);
        assert_eq!(plan_micro_batches(&[100, 5, 5], 8, 40), vec![0..1, 1..3]);
        assert_eq!(plan_micro_batches(&[], 8, 40), Vec::<Range<usize>>::new());
    }

    #[test]
    fn every_row_is_planned_once_in_order() {
        let lengths: Vec<usize> = (0..97).map(|i| 1 + (i * 37) % 61).collect();
        for (rows, tokens) in [(1, 0), (3, 0), (32, 128), (32, 1), (5, 400)] {
            let plan = plan_micro_batches(&lengths, rows, tokens);
            let flat: Vec<usize> = plan.iter().flat_map(|r| r.clone()).collect();
            assert_eq!(flat, (0..97).collect::<Vec<_>>());
            for r in &plan {
                let widest = lengths[r.clone()].iter().max().unwrap();
                assert!(r.len() <= rows);
                assert!(tokens == 0 || r.len() == 1 || r.len() * widest <= tokens);
            }
        }
    }
}
