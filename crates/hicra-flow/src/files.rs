//! Input paths checked before they are read, with the same words everywhere (stage checks in
//! `hicra validate`, pipeline files, every command's file arguments): a path where nothing is,
//! a path holding something else than a file or directory as asked (a directory, a device
//! such as `/dev/null`, a FIFO, a socket), and a path that cannot be opened are different
//! problems, each named as such. A missing path carries a help line saying how to get it,
//! given by the caller, who knows what the file is ([`PathProblem::if_missing`]).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::outcome::Invalid;

/// What a path must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    File,
    Dir,
    /// Either (a model is a `.gguf` file or a directory).
    FileOrDir,
}

impl Wanted {
    fn noun(self) -> &'static str {
        match self {
            Wanted::File => "a regular file",
            Wanted::Dir => "a directory",
            Wanted::FileOrDir => "a regular file or a directory",
        }
    }
}

#[derive(Debug)]
pub enum FileProblem {
    /// Nothing is there (or a link points to nothing, or a parent is not a directory).
    Missing(Wanted),
    /// Something else is there: `found` says what ("a character device").
    NotA { wanted: Wanted, found: &'static str },
    /// It is there but cannot be opened (permissions, I/O).
    Unreadable(std::io::Error),
    /// It is there but does not hold what it should (a run without checkpoints); the message.
    Unusable(String),
}

/// A [`FileProblem`] of one path, with a help line when there is one.
#[derive(Debug)]
pub struct PathProblem {
    pub path: PathBuf,
    pub problem: FileProblem,
    pub help: Option<String>,
}

impl PathProblem {
    pub fn new(path: &Path, problem: FileProblem) -> Self {
        Self {
            path: path.to_path_buf(),
            problem,
            help: None,
        }
    }

    /// Whether nothing is at the path.
    pub fn is_missing(&self) -> bool {
        matches!(self.problem, FileProblem::Missing(_))
    }

    /// Sets the help line when nothing is at the path: how to get the file.
    pub fn if_missing(mut self, how_to_get: impl Into<String>) -> Self {
        if self.is_missing() {
            self.help = Some(how_to_get.into());
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The problem as a stage check's [`Invalid`] on `field` (the diagnostic points at it).
    pub fn invalid(self, field: &str) -> Invalid {
        let message = self.to_string();
        match self.help {
            Some(help) => Invalid::new(field, message).help(help),
            None => Invalid::new(field, message),
        }
    }
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            FileProblem::Missing(Wanted::File) => write!(f, "no such file: {path}"),
            FileProblem::Missing(Wanted::Dir) => write!(f, "no such directory: {path}"),
            FileProblem::Missing(Wanted::FileOrDir) => {
                write!(f, "no such file or directory: {path}")
            }
            FileProblem::NotA { wanted, found } => {
                write!(f, "{path} is {found}, not {}", wanted.noun())
            }
            FileProblem::Unreadable(e) => write!(f, "cannot read {path}: {e}"),
            FileProblem::Unusable(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for PathProblem {}

/// `path` holds a regular file this process can open (following links).
pub fn check_file(path: &Path) -> Result<(), PathProblem> {
    check(path, Wanted::File)
}

/// `path` holds a directory this process can list.
pub fn check_dir(path: &Path) -> Result<(), PathProblem> {
    check(path, Wanted::Dir)
}

/// `path` holds what `wanted` says, and it opens. Never opens anything but a regular file or a
/// directory (opening a FIFO would block).
pub fn check(path: &Path, wanted: Wanted) -> Result<(), PathProblem> {
    let problem = |p| Err(PathProblem::new(path, p));
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            return match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                    problem(FileProblem::Missing(wanted))
                }
                _ => problem(FileProblem::Unreadable(e)),
            };
        }
    };
    let kind = meta.file_type();
    let opened = if kind.is_file() && wanted != Wanted::Dir {
        std::fs::File::open(path).map(drop)
    } else if kind.is_dir() && wanted != Wanted::File {
        std::fs::read_dir(path).map(drop)
    } else {
        let found = found(&kind);
        return problem(FileProblem::NotA { wanted, found });
    };
    opened.or_else(|e| problem(FileProblem::Unreadable(e)))
}

/// What a file type is, in words.
fn found(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    if kind.is_file() {
        return "a regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(path: &Path, wanted: Wanted) -> String {
        check(path, wanted).unwrap_err().to_string()
    }

    #[test]
    fn missing_special_and_wrong_kind_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.jsonl");
        std::fs::write(&file, "{}\n").unwrap();
        assert!(check_file(&file).is_ok());
        assert!(check_dir(dir.path()).is_ok());
        assert!(check(&file, Wanted::FileOrDir).is_ok());
        assert!(check(dir.path(), Wanted::FileOrDir).is_ok());

        let nowhere = dir.path().join("nope.jsonl");
        let missing = check_file(&nowhere).unwrap_err();
        assert!(missing.is_missing());
        assert_eq!(
            missing.to_string(),
            format!("no such file: {}", nowhere.display())
        );
        // a path through a regular file is missing too
        assert!(check_file(&file.join("x")).unwrap_err().is_missing());
        let in_dir = message(&nowhere, Wanted::Dir);
        assert!(in_dir.starts_with("no such directory: "), "{in_dir}");

        let is_dir = message(dir.path(), Wanted::File);
        assert!(
            is_dir.ends_with("is a directory, not a regular file"),
            "{is_dir}"
        );
        let is_file = message(&file, Wanted::Dir);
        assert!(
            is_file.ends_with("is a regular file, not a directory"),
            "{is_file}"
        );
        #[cfg(unix)]
        {
            let null = check_file(Path::new("/dev/null")).unwrap_err();
            assert!(!null.is_missing());
            assert_eq!(
                null.to_string(),
                "/dev/null is a character device, not a regular file"
            );
        }
    }

    #[test]
    fn the_help_line_goes_with_a_missing_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let missing = check_file(&dir.path().join("x")).unwrap_err();
        let invalid = missing.if_missing("fetch it").invalid("path");
        assert_eq!(invalid.field, "path");
        assert_eq!(invalid.help.as_deref(), Some("fetch it"));
        let wrong_kind = check_file(dir.path()).unwrap_err().if_missing("fetch it");
        assert_eq!(wrong_kind.help, None);
    }
}
