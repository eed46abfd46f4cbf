//! Learning-rate schedules: linear warm-up, then constant or cosine decay to `min_ratio`.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    Cosine,
}

/// The learning rate at optimiser step `step` (0-based).
pub fn learning_rate(
    peak: f64,
    schedule: Schedule,
    step: u64,
    warmup: u64,
    total: u64,
    min_ratio: f64,
) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    match schedule {
        Schedule::Constant => peak,
        Schedule::Cosine => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let progress = ((step - warmup) as f64 / span).min(1.0);
            let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            peak * (min_ratio + (1.0 - min_ratio) * cosine)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        assert_eq!(learning_rate(1.0, Schedule::Cosine, 0, 4, 104, 0.0), 0.25);
        assert_eq!(learning_rate(1.0, Schedule::Cosine, 3, 4, 104, 0.0), 1.0);
        assert!((learning_rate(1.0, Schedule::Cosine, 54, 4, 104, 0.0) - 0.5).abs() < 1e-12);
        assert!(learning_rate(1.0, Schedule::Cosine, 104, 4, 104, 0.1) - 0.1 < 1e-12);
        assert_eq!(learning_rate(2.0, Schedule::Constant, 50, 0, 10, 0.0), 2.0);
    }
}
