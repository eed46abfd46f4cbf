//! The labelled solution: one sampled response to one problem, cut into steps, with a label
//! per step. Files of them are JSONL, one solution per line, written by `hicra annotate` and the
//! `label.montecarlo` stage and read by the PRM trainer ([`read_jsonl`] reports a bad line by
//! its number).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use hicra_messages::Prompt;
use hicra_tasks::steps::Segmentation;
use serde::{Deserialize, Serialize};

/// One solution with its step labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelledSolution {
    /// The problem, as the source sent it (its conversation re-renders the prompt for any
    /// tokenizer).
    pub prompt: Prompt,
    /// The whole response.
    pub response: String,
    /// How the response was cut.
    pub segmentation: Segmentation,
    /// The steps' texts; concatenated they give `response`.
    pub steps: Vec<String>,
    /// Per step: the share of completions from the prefix ending with it that reached the
    /// gold answer (Math-Shepherd's soft estimate). For a step inferred by binary search
    /// (not rolled out) it is 1 before the first failing step and 0 after it.
    pub soft: Vec<f64>,
    /// Per step: whether any completion reached the gold answer (the hard estimate).
    pub hard: Vec<bool>,
    /// Per step: completions drawn from its prefix (0 when its label was inferred).
    pub rollouts: Vec<usize>,
    /// Per step, when the task can judge steps itself: whether every step up to and
    /// including this one is right (the truth the labels estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<Vec<bool>>,
    /// The verifier's verdict on the whole response.
    pub outcome: bool,
}

impl LabelledSolution {
    /// Errors when the per-step arrays disagree in length or the steps do not make up the
    /// response: the labels of such a record cannot be placed.
    pub fn check(&self) -> Result<(), String> {
        let n = self.steps.len();
        let lengths = [
            ("soft", self.soft.len()),
            ("hard", self.hard.len()),
            ("rollouts", self.rollouts.len()),
            ("truth", self.truth.as_ref().map_or(n, Vec::len)),
        ];
        if let Some((name, len)) = lengths.iter().find(|(_, len)| *len != n) {
            return Err(format!(
                "solution to `{}` has {n} steps but {len} `{name}` labels",
                self.prompt.id
            ));
        }
        if self.steps.concat() != self.response {
            return Err(format!(
                "solution to `{}`: its steps do not make up its response",
                self.prompt.id
            ));
        }
        if let Some(bad) = self.soft.iter().find(|s| !(0.0..=1.0).contains(*s)) {
            return Err(format!(
                "solution to `{}`: soft label {bad} is not in [0, 1]",
                self.prompt.id
            ));
        }
        Ok(())
    }
}

/// Reads a JSONL file of labelled solutions; a line that does not parse or whose arrays
/// disagree is an error naming `FILE:LINE`.
pub fn read_jsonl(path: &Path) -> Result<Vec<LabelledSolution>, String> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "{}: {e} (step labels are written by `hicra annotate` or the `label.montecarlo` stage)",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let line = line.map_err(|e| format!("{}: {e}", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: LabelledSolution =
            serde_json::from_str(&line).map_err(|e| format!("{}: {e}", at()))?;
        record.check().map_err(|e| format!("{}: {e}", at()))?;
        out.push(record);
    }
    if out.is_empty() {
        return Err(format!("{}: no labelled solutions", path.display()));
    }
    Ok(out)
}

/// Appends `records` to `out`, one JSON object per line.
pub fn write_jsonl(out: &mut dyn Write, records: &[LabelledSolution]) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// How step labels agree with the task's own step verdicts, over the steps that have them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Agreement {
    pub solutions: usize,
    pub steps: usize,
    /// Solutions whose verifier verdict is correct.
    pub correct_solutions: usize,
    /// Steps whose hard label is true.
    pub hard_true: usize,
    /// Steps with a truth verdict.
    pub judged_steps: usize,
    /// Steps that are truly right.
    pub true_steps: usize,
    /// Share of judged steps whose hard label equals the truth.
    pub hard_accuracy: Option<f64>,
    /// Mean soft label of truly right and of truly wrong steps.
    pub soft_mean_right: Option<f64>,
    pub soft_mean_wrong: Option<f64>,
    /// Share of judged solutions whose first step with a false hard label is the first truly
    /// wrong step (or that have neither).
    pub first_error_match: Option<f64>,
}

/// Counts and, where the records carry the truth, how well the labels match it.
pub fn agreement(records: &[LabelledSolution]) -> Agreement {
    let mut a = Agreement {
        solutions: records.len(),
        ..Agreement::default()
    };
    let (mut same, mut right_soft, mut wrong_soft) = (0usize, Vec::new(), Vec::new());
    let (mut judged_solutions, mut first_same) = (0usize, 0usize);
    for r in records {
        a.steps += r.steps.len();
        a.correct_solutions += usize::from(r.outcome);
        a.hard_true += r.hard.iter().filter(|&&h| h).count();
        let Some(truth) = &r.truth else { continue };
        judged_solutions += 1;
        for ((&t, &h), &s) in truth.iter().zip(&r.hard).zip(&r.soft) {
            a.judged_steps += 1;
            a.true_steps += usize::from(t);
            same += usize::from(t == h);
            if t { &mut right_soft } else { &mut wrong_soft }.push(s);
        }
        let first = |v: &[bool]| v.iter().position(|&x| !x);
        first_same += usize::from(first(truth) == first(&r.hard));
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let share = |n: usize, d: usize| (d > 0).then(|| n as f64 / d as f64);
    a.hard_accuracy = share(same, a.judged_steps);
    a.soft_mean_right = mean(&right_soft);
    a.soft_mean_wrong = mean(&wrong_soft);
    a.first_error_match = share(first_same, judged_solutions);
    a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn solution() -> LabelledSolution {
        LabelledSolution {
            prompt: Prompt::new("p-1", "7 +5 *2", "24"),
            response: "7+5=12\n12*2=24\n".into(),
            segmentation: Segmentation::default(),
            steps: vec!["7+5=12\n".into(), "12*2=24\n".into()],
            soft: vec![0.5, 1.0],
            hard: vec![true, true],
            rollouts: vec![4, 4],
            truth: Some(vec![true, true]),
            outcome: true,
        }
    }

    #[test]
    fn labelled_solutions_round_trip_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        write_jsonl(&mut file, &[solution(), solution()]).unwrap();
        drop(file);
        assert_eq!(read_jsonl(&path).unwrap(), vec![solution(), solution()]);

        let mut short = solution();
        short.hard.pop();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&serde_json::to_string(&short).unwrap());
        std::fs::write(&path, text).unwrap();
        let err = read_jsonl(&path).unwrap_err();
        assert!(
            err.contains("labels.jsonl:3") && err.contains("`hard`"),
            "{err}"
        );

        std::fs::write(&path, "{not json\n").unwrap();
        assert!(read_jsonl(&path).unwrap_err().contains("labels.jsonl:1"));
        let missing = read_jsonl(&dir.path().join("none.jsonl")).unwrap_err();
        assert!(missing.contains("hicra annotate"), "{missing}");
    }

    #[test]
    fn agreement_counts_steps_against_the_truth() {
        let mut slip = solution();
        slip.truth = Some(vec![true, false]);
        slip.hard = vec![true, true];
        slip.soft = vec![0.5, 0.25];
        let mut untold = solution();
        untold.truth = None;
        let a = agreement(&[solution(), slip, untold]);
        assert_eq!(
            (a.solutions, a.steps, a.judged_steps, a.true_steps),
            (3, 6, 4, 3)
        );
        assert_eq!(a.hard_accuracy, Some(0.75));
        assert_eq!(a.soft_mean_right, Some((0.5 + 1.0 + 0.5) / 3.0));
        assert_eq!(a.soft_mean_wrong, Some(0.25));
        assert_eq!(a.first_error_match, Some(0.5));
    }
}
