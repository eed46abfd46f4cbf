//! The text of every file a pipeline was read from, and spans into them.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Identifies one loaded file (or a synthetic source such as a `--set` override).
pub type FileId = usize;

/// A byte range in one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub file: FileId,
    pub range: Range<usize>,
}

#[derive(Clone, Debug)]
pub struct SourceFile {
    /// As shown in diagnostics: the path as given, or `--set stages.x.y=...`.
    pub name: String,
    /// The file on disk, if it is one.
    pub path: Option<PathBuf>,
    pub text: Arc<str>,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

/// All sources of one pipeline, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, name: impl Into<String>, path: Option<&Path>, text: &str) -> FileId {
        let file = SourceFile {
            name: name.into(),
            path: path.map(Path::to_path_buf),
            text: text.into(),
        };
        self.files.push(file);
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// `FILE:LINE:COL` of the start of a span.
    pub fn location(&self, span: &Span) -> String {
        let file = self.get(span.file);
        let (line, col) = file.line_col(span.range.start);
        format!("{}:{line}:{col}", file.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let mut sources = Sources::default();
        let id = sources.add("p.toml", None, "a = 1\nbé = 2\n");
        let span = Span {
            file: id,
            range: 10..11,
        };
        assert_eq!(sources.location(&span), "p.toml:2:4");
        assert_eq!(sources.get(id).line_col(0), (1, 1));
    }
}
