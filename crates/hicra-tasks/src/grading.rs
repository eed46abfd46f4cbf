//! Grading a group of K responses to one problem: the unbiased pass@k estimator and majority
//! voting over equivalence classes of answers. Training pipelines (`pass@k/eval`, `maj@K/eval`
//! from every verifier) and `hicra eval` both use these functions.
//!
//! **pass@k.** With `n` samples of which `c` are correct, the chance that `k` of them drawn
//! without replacement contain a correct one is `1 - C(n-c, k) / C(n, k)` (Chen et al. 2021,
//! *Evaluating Large Language Models Trained on Code*, eq. 1); averaged over problems it is an
//! unbiased estimate of pass@k. It is computed as the product `prod_{i=n-c+1}^{n} (1 - k/i)`,
//! which never forms a binomial coefficient.
//!
//! **Majority vote (self-consistency, Wang et al. 2022).** Responses without an answer do not
//! vote. Each answer joins the first class whose *representative* (its earliest answer) the
//! checker calls the same; otherwise it opens a new class. The largest class wins; a tie goes
//! to the class whose first vote came earliest in sample order, so the rule needs no scores
//! and the same samples always elect the same answer.

/// The unbiased pass@k estimate for one problem: `n` samples, `c` correct.
///
/// # Panics
/// When `k` is 0 or larger than `n`, or `c > n`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    assert!(
        k >= 1 && k <= n && c <= n,
        "pass@k needs 1 <= k <= n and c <= n (n={n}, c={c}, k={k})"
    );
    if n - c < k {
        return 1.0;
    }
    let miss: f64 = ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    1.0 - miss
}

/// The k reported for K samples: every power of two up to K, and K itself.
pub fn reported_ks(samples: usize) -> Vec<usize> {
    let mut ks: Vec<usize> = std::iter::successors(Some(1usize), |k| k.checked_mul(2))
        .take_while(|&k| k <= samples)
        .collect();
    if samples > 0 && ks.last() != Some(&samples) {
        ks.push(samples);
    }
    ks
}

/// The outcome of a majority vote over one group's answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// For each response, the index of its answer class (`None`: it gave no answer).
    pub class_of: Vec<Option<usize>>,
    /// Size of each class, in order of first appearance.
    pub class_sizes: Vec<usize>,
    /// The winning class (`None` when no response gave an answer).
    pub winner: Option<usize>,
}

impl Vote {
    /// The response that represents the winning class (its first member).
    pub fn representative(&self) -> Option<usize> {
        let winner = self.winner?;
        self.class_of.iter().position(|c| *c == Some(winner))
    }

    /// How many responses share response `i`'s answer (0 without an answer).
    pub fn votes_of(&self, i: usize) -> usize {
        self.class_of[i].map_or(0, |c| self.class_sizes[c])
    }
}

/// Groups `answers` into classes with `same(representative, answer)` and elects the largest
/// (ties: earliest first vote). See the module text for the exact rule.
pub fn majority_vote(answers: &[Option<&str>], same: impl Fn(&str, &str) -> bool) -> Vote {
    let mut representatives: Vec<&str> = Vec::new();
    let mut class_sizes: Vec<usize> = Vec::new();
    let class_of = answers
        .iter()
        .map(|answer| {
            let answer = (*answer)?;
            let class = match representatives.iter().position(|r| same(r, answer)) {
                Some(c) => c,
                None => {
                    representatives.push(answer);
                    class_sizes.push(0);
                    representatives.len() - 1
                }
            };
            class_sizes[class] += 1;
            Some(class)
        })
        .collect();
    // Classes are numbered by first appearance, so the first maximum is the earliest one.
    let winner = class_sizes
        .iter()
        .enumerate()
        .fold(None::<(usize, usize)>, |best, (c, &size)| match best {
            Some((_, s)) if s >= size => best,
            _ => Some((c, size)),
        })
        .map(|(c, _)| c);
    Vote {
        class_of,
        class_sizes,
        winner,
    }
}

/// Figures of many groups of graded responses: mean pass@k for every reported k, and the
/// majority-vote accuracy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupGrades {
    /// `(k, mean pass@k)` for every k of [`reported_ks`] of the smallest group.
    pub pass_at: Vec<(usize, f64)>,
    /// Share of groups whose majority answer is correct (no answer: wrong).
    pub majority: f64,
    /// The group size the figures are for (the smallest group's).
    pub samples: usize,
}

/// Grades groups given, per group, each response's correctness and its vote.
pub fn grade_groups<'a>(groups: impl IntoIterator<Item = (&'a [bool], &'a Vote)>) -> GroupGrades {
    let groups: Vec<(&[bool], &Vote)> = groups.into_iter().filter(|(c, _)| !c.is_empty()).collect();
    let Some(samples) = groups.iter().map(|(c, _)| c.len()).min() else {
        return GroupGrades::default();
    };
    let n = groups.len() as f64;
    let pass_at = reported_ks(samples)
        .into_iter()
        .map(|k| {
            let total: f64 = groups
                .iter()
                .map(|(c, _)| pass_at_k(c.len(), c.iter().filter(|x| **x).count(), k))
                .sum();
            (k, total / n)
        })
        .collect();
    let majority = groups
        .iter()
        .filter(|(correct, vote)| vote.representative().is_some_and(|i| correct[i]))
        .count() as f64
        / n;
    GroupGrades {
        pass_at,
        majority,
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binomial(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    /// Every k-subset of n samples, counted: the share that holds a correct one.
    fn brute_force(n: usize, c: usize, k: usize) -> f64 {
        let (mut hit, mut all) = (0u64, 0u64);
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != k {
                continue;
            }
            all += 1;
            // samples 0..c are the correct ones
            hit += u64::from(mask & ((1 << c) - 1) != 0);
        }
        hit as f64 / all as f64
    }

    #[test]
    fn pass_at_k_matches_the_closed_form_and_brute_force() {
        for n in 1..=10usize {
            for c in 0..=n {
                for k in 1..=n {
                    let estimate = pass_at_k(n, c, k);
                    let closed =
                        1.0 - binomial((n - c) as u64, k as u64) / binomial(n as u64, k as u64);
                    assert!((estimate - closed).abs() < 1e-12, "n={n} c={c} k={k}");
                    assert!(
                        (estimate - brute_force(n, c, k)).abs() < 1e-12,
                        "n={n} c={c} k={k}"
                    );
                }
            }
        }
        assert_eq!(pass_at_k(8, 0, 8), 0.0);
        assert_eq!(pass_at_k(8, 1, 8), 1.0);
        assert!((pass_at_k(8, 2, 1) - 0.25).abs() < 1e-12);
        // large n: no overflow, still a probability
        let p = pass_at_k(1000, 3, 100);
        assert!(p > 0.0 && p < 1.0);
    }

    #[test]
    fn reported_ks_are_powers_of_two_and_k() {
        assert_eq!(reported_ks(1), vec![1]);
        assert_eq!(reported_ks(8), vec![1, 2, 4, 8]);
        assert_eq!(reported_ks(10), vec![1, 2, 4, 8, 10]);
        assert_eq!(reported_ks(0), Vec::<usize>::new());
    }

    #[test]
    fn majority_groups_equivalent_answers_and_breaks_ties_by_first_vote() {
        let same = |a: &str, b: &str| a.trim_start_matches('0') == b.trim_start_matches('0');
        // "7" and "07" are one class of three; "5" has two.
        let vote = majority_vote(
            &[Some("5"), Some("7"), None, Some("07"), Some("5"), Some("7")],
            same,
        );
        assert_eq!(vote.class_sizes, vec![2, 3]);
        assert_eq!(vote.winner, Some(1));
        assert_eq!(vote.representative(), Some(1));
        assert_eq!(vote.votes_of(3), 3);
        assert_eq!(vote.votes_of(2), 0);
        // a tie: the class that voted first wins, whatever comes later
        let tie = majority_vote(&[Some("3"), Some("4"), Some("4"), Some("3")], same);
        assert_eq!(tie.class_sizes, vec![2, 2]);
        assert_eq!(tie.winner, Some(0));
        let tie = majority_vote(&[Some("4"), Some("3"), Some("3"), Some("4")], same);
        assert_eq!(tie.representative(), Some(0));
        // nobody answered
        let none = majority_vote(&[None, None], same);
        assert_eq!((none.winner, none.representative()), (None, None));
    }

    #[test]
    fn groups_are_graded_by_pass_at_k_and_the_majority_answer() {
        let same = |a: &str, b: &str| a == b;
        let a = majority_vote(&[Some("1"), Some("2"), Some("2"), Some("3")], same);
        let correct_a = [true, false, false, false]; // majority "2" is wrong
        let b = majority_vote(&[Some("9"), Some("9"), None, Some("8")], same);
        let correct_b = [true, true, false, false]; // majority "9" is right
        let grades = grade_groups([(&correct_a[..], &a), (&correct_b[..], &b)]);
        assert_eq!(grades.samples, 4);
        assert_eq!(grades.majority, 0.5);
        let pass = |k: usize| grades.pass_at.iter().find(|(x, _)| *x == k).unwrap().1;
        assert!((pass(1) - (0.25 + 0.5) / 2.0).abs() < 1e-12);
        assert!((pass(4) - 1.0).abs() < 1e-12);
        assert!((pass(2) - (0.5 + (1.0 - 1.0 / 6.0)) / 2.0).abs() < 1e-12);
    }
}
