//! Reading pipeline files: `extends` composition, several files merged in order, and
//! `--set dotted.key=value` overrides, all into one spanned [`Value`] tree.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::source::{Sources, Span};
use crate::value::{Key, Table, Value, ValueKind};

/// The merged document and the sources its spans point into.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub sources: Sources,
    pub root: Value,
    /// Directory of the first file: relative paths in stage parameters resolve against it.
    pub base_dir: PathBuf,
}

/// Loads `files` in order (later files override earlier ones; a leading `@` on a path is
/// accepted, as in prime-rl), then applies `overrides` (`dotted.key=value`).
///
/// Every problem found is returned; loading stops only when nothing sensible is left to merge.
pub fn load(files: &[PathBuf], overrides: &[String]) -> Result<Loaded, (Sources, Vec<Diagnostic>)> {
    let mut loader = Loader {
        sources: Sources::default(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
    };
    let mut root: Option<Value> = None;
    for file in files {
        let path = strip_at(file);
        if let Some(doc) = loader.load_file(&path, None) {
            merge_into(&mut root, doc);
        }
    }
    for text in overrides {
        if let Some(doc) = loader.parse_override(text) {
            merge_into(&mut root, doc);
        }
    }
    let base_dir = files
        .first()
        .and_then(|f| strip_at(f).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    match root {
        Some(root) if loader.diagnostics.is_empty() => Ok(Loaded {
            sources: loader.sources,
            root,
            base_dir,
        }),
        _ => Err((loader.sources, loader.diagnostics)),
    }
}

/// Parses pipeline text that is not on disk (tests, embedded defaults).
pub fn load_str(name: &str, text: &str) -> Result<Loaded, (Sources, Vec<Diagnostic>)> {
    let mut loader = Loader {
        sources: Sources::default(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
    };
    let id = loader.sources.add(name, None, text);
    match loader.parse(text, id, None) {
        Some(root) if loader.diagnostics.is_empty() => Ok(Loaded {
            sources: loader.sources,
            root,
            base_dir: PathBuf::from("."),
        }),
        _ => Err((loader.sources, loader.diagnostics)),
    }
}

fn strip_at(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    PathBuf::from(text.strip_prefix('@').unwrap_or(&text))
}

fn merge_into(root: &mut Option<Value>, doc: Value) {
    match root {
        Some(existing) => existing.merge(doc),
        None => *root = Some(doc),
    }
}

struct Loader {
    sources: Sources,
    diagnostics: Vec<Diagnostic>,
    /// Files being loaded, to catch `extends` loops.
    stack: Vec<PathBuf>,
}

impl Loader {
    fn load_file(&mut self, path: &Path, referenced_at: Option<Span>) -> Option<Value> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) {
            let chain: Vec<String> = self.stack.iter().map(|p| p.display().to_string()).collect();
            let msg = format!(
                "`extends` loop: {} -> {}",
                chain.join(" -> "),
                path.display()
            );
            self.diagnostics
                .push(Diagnostic::new(msg, referenced_at).label("extended again here"));
            return None;
        }
        // checked first: a device or FIFO is named as such, never read (a FIFO would block)
        let read = match crate::files::check_file(path) {
            Ok(()) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read pipeline file `{}`: {e}", path.display())),
            Err(problem) => Err(format!("pipeline file: {problem}")),
        };
        let text = match read {
            Ok(text) => text,
            Err(msg) => {
                self.diagnostics
                    .push(Diagnostic::new(msg, referenced_at).label("referenced here"));
                return None;
            }
        };
        let id = self
            .sources
            .add(path.display().to_string(), Some(path), &text);
        self.stack.push(canonical);
        let doc = self.parse(&text, id, path.parent());
        self.stack.pop();
        doc
    }

    /// Parses one document and resolves its `extends` (bases first, this file on top).
    fn parse(&mut self, text: &str, id: usize, dir: Option<&Path>) -> Option<Value> {
        let mut doc = match Value::parse_document(text, id) {
            Ok(doc) => doc,
            Err((message, span)) => {
                let d = Diagnostic::new(format!("invalid TOML: {message}"), Some(span))
                    .help("see https://toml.io for the syntax");
                self.diagnostics.push(d);
                return None;
            }
        };
        let ValueKind::Table(table) = &mut doc.kind else {
            unreachable!("documents are tables")
        };
        let Some((_, extends)) = table.remove("extends") else {
            return Some(doc);
        };
        let mut merged: Option<Value> = None;
        for (base, span) in self.extends_paths(&extends) {
            let path = dir.map_or_else(|| PathBuf::from(&base), |d| d.join(&base));
            if let Some(base_doc) = self.load_file(&path, Some(span)) {
                merge_into(&mut merged, base_doc);
            }
        }
        merge_into(&mut merged, doc);
        merged
    }

    fn extends_paths(&mut self, value: &Value) -> Vec<(String, Span)> {
        let items: Vec<&Value> = match &value.kind {
            ValueKind::Array(items) => items.iter().collect(),
            _ => vec![value],
        };
        let mut paths = Vec::new();
        for item in items {
            match item.as_str() {
                Some(path) => paths.push((path.to_string(), item.span.clone())),
                None => self.diagnostics.push(
                    Diagnostic::new(
                        format!(
                            "wrong type: expected a file path, found {}",
                            item.type_name()
                        ),
                        Some(item.span.clone()),
                    )
                    .help(
                        "write `extends = \"base.toml\"` or `extends = [\"a.toml\", \"b.toml\"]`",
                    ),
                ),
            }
        }
        paths
    }

    /// `stages.learner.learning_rate=1e-4` becomes a one-entry nested table.
    fn parse_override(&mut self, text: &str) -> Option<Value> {
        let id = self.sources.add(format!("--set {text}"), None, text);
        let Some((path, raw)) = text.split_once('=') else {
            let d = Diagnostic::new(
                "an override must look like `dotted.key=value`",
                Some(Span {
                    file: id,
                    range: 0..text.len(),
                }),
            )
            .help("for example: --set stages.learner.learning_rate=1e-5");
            self.diagnostics.push(d);
            return None;
        };
        let value_start = path.len() + 1;
        let mut value = Value::parse_scalar(raw.trim(), id);
        shift(
            &mut value,
            value_start + (raw.len() - raw.trim_start().len()),
        );
        let mut offset = 0;
        let mut keys = Vec::new();
        for part in path.split('.') {
            let name = part.trim();
            let start = offset + (part.len() - part.trim_start().len());
            keys.push(Key {
                name: name.to_string(),
                span: Span {
                    file: id,
                    range: start..start + name.len(),
                },
            });
            offset += part.len() + 1;
        }
        if keys.iter().any(|k| k.name.is_empty()) {
            let d = Diagnostic::new(
                "empty key in override path",
                Some(Span {
                    file: id,
                    range: 0..path.len(),
                }),
            );
            self.diagnostics.push(d);
            return None;
        }
        let whole = Span {
            file: id,
            range: 0..text.len(),
        };
        for key in keys.into_iter().rev() {
            let table = Table {
                entries: vec![(key, value)],
            };
            value = Value {
                kind: ValueKind::Table(table),
                span: whole.clone(),
            };
        }
        Some(value)
    }
}

fn shift(value: &mut Value, by: usize) {
    value.span.range = value.span.range.start + by..value.span.range.end + by;
    match &mut value.kind {
        ValueKind::Array(items) => items.iter_mut().for_each(|v| shift(v, by)),
        ValueKind::Table(t) => {
            for (k, v) in &mut t.entries {
                k.span.range = k.span.range.start + by..k.span.range.end + by;
                shift(v, by);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
        path.split('.')
            .fold(v, |v, k| v.as_table().unwrap().get(k).unwrap())
    }

    #[test]
    fn extends_merges_base_first_and_spans_stay_in_their_file() {
        let dir = std::env::temp_dir().join(format!("hicra-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("base.toml"),
            "[run]\nseed = 1\nchannel_capacity = 8\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("child.toml"),
            "extends = \"base.toml\"\n[run]\nseed = 2\n",
        )
        .unwrap();
        let loaded = load(&[dir.join("child.toml")], &["run.out_dir=runs/x".into()]).unwrap();
        assert!(matches!(
            get(&loaded.root, "run.seed").kind,
            ValueKind::Integer(2)
        ));
        let cap = get(&loaded.root, "run.channel_capacity");
        assert!(
            loaded
                .sources
                .location(&cap.span)
                .ends_with("base.toml:3:20")
        );
        let out = get(&loaded.root, "run.out_dir");
        assert_eq!(out.as_str(), Some("runs/x"));
        assert_eq!(
            loaded.sources.location(&out.span),
            "--set run.out_dir=runs/x:1:13"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn extends_loops_and_missing_files_are_reported() {
        let dir = std::env::temp_dir().join(format!("hicra-loop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.toml"),
            "extends = [\"b.toml\", \"missing.toml\"]\n",
        )
        .unwrap();
        std::fs::write(dir.join("b.toml"), "extends = \"a.toml\"\n").unwrap();
        let (_, diags) = load(&[dir.join("a.toml")], &[]).unwrap_err();
        let text: Vec<_> = diags.iter().map(|d| d.message.clone()).collect();
        assert!(
            text.iter().any(|m| m.contains("`extends` loop")),
            "{text:?}"
        );
        assert!(text.iter().any(|m| m.contains("missing.toml")), "{text:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn malformed_override_is_an_error() {
        let (_, diags) = load(&[], &["nonsense".into()]).unwrap_err();
        assert!(diags[0].message.contains("dotted.key=value"));
    }
}
