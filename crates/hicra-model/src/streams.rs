//! One random stream per response.
//!
//! A batch is sampled from one seed per prompt (the caller's choice; the sampler stage derives
//! it from its stage seed, the step and the prompt's id, search from the evaluation seed, the
//! problem, the search step and the parent path). Sample `j` of a prompt with seed `s` draws
//! from its own ChaCha8 generator, [`response_rng`]`(s, j)`: the generator keyed by
//! `seed_from_u64(s)` on ChaCha stream `j`. The `k`-th token of that response takes the `k`-th
//! uniform number of that stream (greedy decoding takes none), whatever else is in the batch.
//! So a response depends only on the weights, its prompt, its seed and its sample index: not
//! on the batch size, the group size, the order of the prompts, which rows finished early or
//! which path (host vectors or burn tensors) computed it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator of sample `sample` of a prompt whose seed is `prompt_seed`.
pub fn response_rng(prompt_seed: u64, sample: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(prompt_seed);
    rng.set_stream(sample as u64);
    rng
}

/// The generators of every row of a batch (prompt 0's samples first).
pub(crate) struct Streams {
    rows: Vec<ChaCha8Rng>,
}

impl Streams {
    /// Panics unless there is one seed per prompt.
    pub(crate) fn new(seeds: &[u64], prompts: usize, n: usize) -> Self {
        assert_eq!(
            seeds.len(),
            prompts,
            "one seed per prompt ({prompts} prompts, {} seeds)",
            seeds.len()
        );
        Self {
            rows: seeds
                .iter()
                .flat_map(|&s| (0..n).map(move |j| response_rng(s, j)))
                .collect(),
        }
    }

    /// The next uniform number of row `row`'s stream.
    pub(crate) fn uniform(&mut self, row: usize) -> f64 {
        self.rows[row].random::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(mut rng: ChaCha8Rng, k: usize) -> Vec<u64> {
        (0..k).map(|_| rng.random()).collect()
    }

    #[test]
    fn samples_of_one_prompt_draw_from_distinct_streams() {
        let a = draws(response_rng(9, 0), 4);
        assert_eq!(a, draws(response_rng(9, 0), 4), "a stream is reproducible");
        assert_ne!(a, draws(response_rng(9, 1), 4));
        assert_ne!(a, draws(response_rng(10, 0), 4));
    }

    #[test]
    fn a_rows_stream_does_not_depend_on_the_batch() {
        let mut alone = Streams::new(&[5], 1, 2);
        let mut batch = Streams::new(&[3, 5], 2, 3);
        // other rows draw in between, or not at all
        batch.uniform(0);
        batch.uniform(5);
        assert_eq!(batch.uniform(4), alone.uniform(1));
        assert_eq!(batch.uniform(4), alone.uniform(1));
        assert_eq!(batch.uniform(3), alone.uniform(0));
    }
}
