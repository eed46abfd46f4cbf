//! How well step scores rank steps and responses, whatever made the scores (a PRM, the
//! policy's own confidence, a generative judge): ROC AUCs with DeLong 95% intervals
//! ([`crate::auc`]) of
//! - `step_auc`: every step's score against its hard Monte-Carlo label;
//! - `step_auc_truth`: against the task's own step verdicts, where the records have them;
//! - `response_auc`: responses ranked by their lowest step score against the outcome;
//! - `response_auc_last`: ranked by the last step's score (what an outcome model reads).

use std::collections::BTreeMap;

use crate::auc::roc_auc;
use crate::labels::LabelledSolution;

/// The AUC figures of `scores` (one vector per record, one score per step).
pub fn ranking(
    records: &[LabelledSolution],
    scores: &[Vec<f64>],
) -> Result<BTreeMap<String, f64>, String> {
    let (mut steps, mut hard, mut truth_scores, mut truth) = (vec![], vec![], vec![], vec![]);
    let (mut min_scores, mut last_scores, mut outcomes) = (vec![], vec![], vec![]);
    if records.len() != scores.len() {
        return Err(format!(
            "{} records but {} score vectors",
            records.len(),
            scores.len()
        ));
    }
    for (record, s) in records.iter().zip(scores) {
        if s.len() != record.steps.len() {
            return Err(format!(
                "solution to `{}` has {} steps but {} scores",
                record.prompt.id,
                record.steps.len(),
                s.len()
            ));
        }
        steps.extend(s);
        hard.extend(&record.hard);
        if let Some(t) = &record.truth {
            truth_scores.extend(s);
            truth.extend(t);
        }
        if let Some(last) = s.last() {
            min_scores.push(s.iter().copied().fold(f64::INFINITY, f64::min));
            last_scores.push(*last);
            outcomes.push(record.outcome);
        }
    }
    let mut m = BTreeMap::new();
    let mut put = |name: &str, scores: &[f64], labels: &[bool]| {
        if let Some(a) = roc_auc(scores, labels) {
            m.insert(name.to_string(), a.auc);
            m.insert(format!("{name}_low"), a.low);
            m.insert(format!("{name}_high"), a.high);
        }
    };
    put("step_auc", &steps, &hard);
    put("step_auc_truth", &truth_scores, &truth);
    put("response_auc", &min_scores, &outcomes);
    put("response_auc_last", &last_scores, &outcomes);
    m.insert("steps".into(), steps.len() as f64);
    m.insert("responses".into(), records.len() as f64);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::tests::solution;

    #[test]
    fn scores_are_ranked_against_hard_labels_truth_and_outcomes() {
        let mut wrong = solution();
        wrong.hard = vec![true, false];
        wrong.truth = Some(vec![false, false]);
        wrong.outcome = false;
        let records = [solution(), wrong];
        // right steps score 0.9, 0.8; the wrong solution's 0.7 and 0.1
        let m = ranking(&records, &[vec![0.9, 0.8], vec![0.7, 0.1]]).unwrap();
        // hard: positives 0.9 0.8 0.7, negative 0.1 -> 1; truth: positives 0.9 0.8,
        // negatives 0.7 0.1 -> 1
        assert_eq!((m["step_auc"], m["step_auc_truth"]), (1.0, 1.0));
        assert_eq!(m["response_auc"], 1.0);
        assert!(m["step_auc_low"] <= 1.0);
        // a tie between a positive and a negative counts half
        let m = ranking(&records, &[vec![0.5, 0.5], vec![0.5, 0.5]]).unwrap();
        assert_eq!(m["step_auc"], 0.5);
        assert!(ranking(&records, &[vec![0.5]]).is_err());
        assert!(ranking(&records, &[vec![0.5], vec![0.5, 0.5]]).is_err());
    }
}
