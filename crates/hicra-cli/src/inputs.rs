//! The input of a command, checked as a whole before anything is loaded: every file argument
//! (and any other problem a command finds while reading its input) is collected, and all of
//! them are reported at once, so `hicra eval --model nope.gguf --data bad.jsonl` names both.
//! Paths go through [`hicra_flow::files`]: a path where nothing is, a special file (a device
//! such as `/dev/null`, a FIFO, a directory where a file is wanted) and an unreadable file are
//! each named as such, and a missing one comes with how to get it.

use std::fmt;
use std::path::Path;

use hicra_flow::files::{self, PathProblem, Wanted};
use miette::Diagnostic;

/// How to get a run directory (the help line when one does not exist).
pub const WRITE_RUN: &str = "a run directory is written by `hicra run PIPELINE --out DIR`";

/// One problem of a command's input: its message and help line.
#[derive(Debug)]
pub struct InputProblem {
    message: String,
    help: Option<String>,
}

impl fmt::Display for InputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputProblem {}

impl Diagnostic for InputProblem {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}

/// Several problems, reported as one error with each of them related (and its help line).
#[derive(Debug)]
pub struct InputProblems(Vec<InputProblem>);

impl fmt::Display for InputProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} problems with the input; nothing was done",
            self.0.len()
        )
    }
}

impl std::error::Error for InputProblems {}

impl Diagnostic for InputProblems {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.0.iter().map(|p| p as &dyn Diagnostic)))
    }
}

/// The problems found so far in a command's input.
#[derive(Debug, Default)]
pub struct Inputs(Vec<InputProblem>);

impl Inputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// `flag PATH` names a regular file (`-`, standard input, passes); `how_to_get` is the
    /// help line when nothing is there. Whether it passed.
    pub fn file(&mut self, flag: &str, path: &Path, how_to_get: Option<&str>) -> bool {
        path == Path::new("-") || self.path(flag, path, Wanted::File, how_to_get)
    }

    /// `flag PATH` names a directory.
    pub fn dir(&mut self, flag: &str, path: &Path, how_to_get: Option<&str>) -> bool {
        self.path(flag, path, Wanted::Dir, how_to_get)
    }

    /// `flag PATH` names a file or a directory (a rollout file or a run's folder).
    pub fn file_or_dir(&mut self, flag: &str, path: &Path, how_to_get: Option<&str>) -> bool {
        self.path(flag, path, Wanted::FileOrDir, how_to_get)
    }

    /// `flag SPEC` names a model that is there to load (see `hicra_train::trained::check_source`).
    pub fn model(&mut self, flag: &str, spec: &str) -> bool {
        let checked = hicra_train::trained::check_source(spec);
        self.outcome(flag, checked)
    }

    /// Keeps `result`'s error as one more problem (a file that is there but does not parse);
    /// the value when there is one.
    pub fn take<T>(&mut self, result: miette::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(report) => {
                self.push(report);
                None
            }
        }
    }

    pub fn push(&mut self, report: miette::Report) {
        let report = match report.downcast::<InputProblems>() {
            Ok(several) => return self.0.extend(several.0),
            Err(report) => report,
        };
        self.0.push(InputProblem {
            message: report.to_string(),
            help: report.help().map(|h| h.to_string()),
        });
    }

    /// `Ok` when nothing was wrong; else every problem, in the order found: one alone as
    /// itself, several as one report listing them all.
    pub fn finish(mut self) -> miette::Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(miette::Report::new(self.0.remove(0))),
            _ => Err(miette::Report::new(InputProblems(self.0))),
        }
    }

    fn path(&mut self, flag: &str, path: &Path, wanted: Wanted, how_to_get: Option<&str>) -> bool {
        let checked = files::check(path, wanted).map_err(|p| match how_to_get {
            Some(help) => p.if_missing(help),
            None => p,
        });
        self.outcome(flag, checked)
    }

    fn outcome(&mut self, flag: &str, checked: Result<(), PathProblem>) -> bool {
        let Err(problem) = checked else {
            return true;
        };
        self.0.push(InputProblem {
            message: format!("{flag}: {problem}"),
            help: problem.help,
        });
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole rendered report, as the binary prints it (no colour, fixed width).
    fn rendered(report: &miette::Report) -> String {
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(200)
            .render_report(&mut out, &**report)
            .unwrap();
        out
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_help() {
        let dir = std::env::temp_dir().join(format!("hicra-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let there = dir.join("data.jsonl");
        std::fs::write(&there, "{}\n").unwrap();
        let mut inputs = Inputs::new();
        assert!(inputs.file("--data", &there, None));
        assert!(inputs.file("--input", Path::new("-"), None));
        assert!(inputs.model("--model", "random:tiny"));
        assert!(inputs.finish().is_ok());

        let mut inputs = Inputs::new();
        assert!(!inputs.model("--model", "nope.gguf"));
        assert!(!inputs.file("--data", &dir.join("bad.jsonl"), Some("fetch it")));
        assert!(!inputs.file("--data", Path::new("/dev/null"), Some("fetch it")));
        assert!(!inputs.dir("--dir", &there, None));
        assert_eq!(inputs.take::<()>(Err(miette::miette!("bad row"))), None);
        let report = inputs.finish().unwrap_err();
        let text = rendered(&report);
        assert!(text.contains("5 problems with the input"), "{text}");
        for expected in [
            "--model: no such file or directory: nope.gguf",
            "scripts/fetch-model.sh",
            "bad.jsonl",
            "fetch it",
            "--data: /dev/null is a character device, not a regular file",
            "is a regular file, not a directory",
            "bad row",
        ] {
            assert!(text.contains(expected), "`{expected}` in {text}");
        }
        // the help of a missing file is not given to the device
        assert_eq!(text.matches("fetch it").count(), 1, "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_problem_is_reported_as_itself() {
        let mut inputs = Inputs::new();
        inputs.file("--input", Path::new("/nonexistent"), None);
        let report = inputs.finish().unwrap_err();
        assert_eq!(report.to_string(), "--input: no such file: /nonexistent");
    }
}
