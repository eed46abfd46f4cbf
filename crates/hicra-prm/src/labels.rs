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

#[cfg(test)]
mod tests {
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
        assert!(err.contains("labels.jsonl:3") && err.contains("`hard`"), "{err}");

        std::fs::write(&path, "{not json\n").unwrap();
        assert!(read_jsonl(&path).unwrap_err().contains("labels.jsonl:1"));
        let missing = read_jsonl(&dir.path().join("none.jsonl")).unwrap_err();
        assert!(missing.contains("hicra annotate"), "{missing}");
    }
}
