//! Summary statistics over seeds: mean, sample standard deviation, a 95% interval for the mean
//! (Student's t with n-1 degrees of freedom, or a seeded percentile bootstrap), and the
//! seed-paired comparison of two arms (the t interval and two-sided p-value of the mean
//! difference: a paired t-test). Student's t quantiles and tails come from `statrs`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::spec::Interval;

/// Resamples of the bootstrap interval.
const RESAMPLES: usize = 10_000;
/// Seed of the bootstrap's generator, so that a summary is reproducible.
const BOOTSTRAP_SEED: u64 = 0x5eed;

/// One arm's values over seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one value.
    pub std: f64,
    /// 95% interval of the mean; `None` with fewer than two values.
    pub ci95: Option<[f64; 2]>,
}

/// Arm against baseline, paired by seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Seeds present in both arms.
    pub n: usize,
    pub mean_diff: f64,
    pub ci95: Option<[f64; 2]>,
    /// Two-sided p-value of "the mean difference is 0" (paired t-test); `None` below two
    /// pairs or when every difference is the same.
    pub p_value: Option<f64>,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// The t distribution with `n - 1` degrees of freedom.
fn t_dist(n: usize) -> StudentsT {
    StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("n >= 2 gives positive degrees of freedom")
}

fn t_interval(xs: &[f64]) -> Option<[f64; 2]> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let half = t_dist(n).inverse_cdf(0.975) * sample_std(xs) / (n as f64).sqrt();
    let m = mean(xs);
    Some([m - half, m + half])
}

/// The 2.5th and 97.5th percentiles of the means of resamples with replacement.
fn bootstrap_interval(xs: &[f64]) -> Option<[f64; 2]> {
    if xs.len() < 2 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let total: f64 = (0..xs.len())
                .map(|_| xs[rng.random_range(0..xs.len())])
                .sum();
            total / xs.len() as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let pick = |q: f64| means[((RESAMPLES - 1) as f64 * q).round() as usize];
    Some([pick(0.025), pick(0.975)])
}

fn interval(xs: &[f64], kind: Interval) -> Option<[f64; 2]> {
    match kind {
        Interval::T => t_interval(xs),
        Interval::Bootstrap => bootstrap_interval(xs),
    }
}

/// Mean, spread and 95% interval of `xs` (at least one value).
pub fn summarize(xs: &[f64], kind: Interval) -> Summary {
    Summary {
        n: xs.len(),
        mean: mean(xs),
        std: sample_std(xs),
        ci95: interval(xs, kind),
    }
}

/// `arm - baseline` over the seeds both have (`pairs` of (arm, baseline) values).
pub fn compare(pairs: &[(f64, f64)], kind: Interval) -> Comparison {
    let diffs: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    let n = diffs.len();
    let sd = sample_std(&diffs);
    let p_value = (n >= 2 && sd > 0.0).then(|| {
        let t = mean(&diffs) / (sd / (n as f64).sqrt());
        2.0 * (1.0 - t_dist(n).cdf(t.abs()))
    });
    Comparison {
        n,
        mean_diff: if n == 0 { f64::NAN } else { mean(&diffs) },
        ci95: interval(&diffs, kind),
        p_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_interval_by_hand() {
        // xs = 1..=5: mean 3, s = sqrt(2.5) = 1.5811; t(0.975, 4) = 2.7764;
        // half width = 2.7764 * 1.5811 / sqrt(5) = 1.9632
        let s = summarize(&[1.0, 2.0, 3.0, 4.0, 5.0], Interval::T);
        assert_eq!((s.n, s.mean), (5, 3.0));
        assert!(close(s.std, 1.581_139, 1e-6), "{s:?}");
        let [lo, hi] = s.ci95.unwrap();
        assert!(
            close(lo, 3.0 - 1.963_243, 1e-5) && close(hi, 3.0 + 1.963_243, 1e-5),
            "{s:?}"
        );
        let one = summarize(&[0.7], Interval::T);
        assert_eq!((one.std, one.ci95), (0.0, None));
    }

    #[test]
    fn paired_difference_by_hand() {
        // differences 0.1, 0.2, 0.3, 0.2: mean 0.2, s = sqrt(0.02/3) = 0.081650;
        // t = 0.2 / (0.081650 / 2) = 4.89898 on 3 df: two-sided p = 0.016277;
        // half width = t(0.975, 3) 3.182446 * 0.040825 = 0.129923
        let pairs = [(0.6, 0.5), (0.7, 0.5), (0.9, 0.6), (0.5, 0.3)];
        let c = compare(&pairs, Interval::T);
        assert_eq!(c.n, 4);
        assert!(close(c.mean_diff, 0.2, 1e-12));
        assert!(close(c.p_value.unwrap(), 0.016_277, 1e-5), "{c:?}");
        let [lo, hi] = c.ci95.unwrap();
        assert!(
            close(lo, 0.2 - 0.129_923, 1e-5) && close(hi, 0.2 + 0.129_923, 1e-5),
            "{c:?}"
        );
        // identical differences: no spread, no p-value
        assert_eq!(
            compare(&[(1.0, 0.5), (2.0, 1.5)], Interval::T).p_value,
            None
        );
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_reproducibly() {
        let xs = [0.2, 0.4, 0.5, 0.9, 0.3, 0.6];
        let a = summarize(&xs, Interval::Bootstrap);
        let [lo, hi] = a.ci95.unwrap();
        assert!(
            lo < a.mean && a.mean < hi && lo >= 0.2 && hi <= 0.9,
            "{a:?}"
        );
        assert_eq!(a, summarize(&xs, Interval::Bootstrap));
    }
}
