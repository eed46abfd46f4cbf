//! The manual in `docs/` stays true to the sources that cite it: every reference to a page,
//! written `docs/<page>.md` or `docs/<page>.md#<anchor>` in a tracked `.rs`, `.toml`, `.md` or
//! `.sh` file, names a page that exists and, with an anchor, a heading of that page; every
//! link of `docs/SUMMARY.md` resolves and every page is listed there (mdBook renders only
//! those); and relative links between the pages (and from the README) resolve, anchors
//! included. Anchors are heading slugs as mdBook and GitHub make them: lower-case, letters,
//! digits, `-` and `_` kept, spaces turned into `-`, other punctuation dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const EXTENSIONS: [&str; 4] = ["rs", "toml", "md", "sh"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Files git knows (tracked, or new and not ignored), relative to the root; without git, a
/// walk of the tree that leaves out build outputs and downloads.
fn source_files() -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success());
    let mut files: Vec<PathBuf> = match listed {
        Some(out) => out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect(),
        None => {
            let mut found = Vec::new();
            walk(root(), Path::new(""), &mut found);
            found
        }
    };
    files.retain(|f| {
        f.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
            && root().join(f).is_file()
    });
    files.sort();
    files
}

fn walk(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(base.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || ["target", "runs", "models", "downloads"].contains(&&*name) {
            continue;
        }
        let path = rel.join(&name);
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(base, &path, out);
        } else {
            out.push(path);
        }
    }
}

/// The anchor mdBook and GitHub give a heading.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // a link in a heading contributes its text only
    while let Some(i) = rest.find("](") {
        text.push_str(&rest[..i]);
        rest = &rest[i + 2..];
        rest = rest.find(')').map_or("", |j| &rest[j + 1..]);
    }
    text.push_str(rest);
    text.trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Lines of Markdown outside fenced code blocks, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => lines.push((i + 1, line)),
            _ => {}
        }
    }
    lines
}

/// The anchors of a Markdown page's headings (a repeated heading gets `-1`, `-2`, ...).
fn anchors(page: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(page) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let title = line[hashes..].trim().trim_end_matches('#').trim_end();
        let base = slug(title);
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 { base } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// `(line, page, anchor)` of every `docs/<page>.md[#anchor]` reference in `text`, the page
/// relative to the repository root.
fn doc_references(text: &str) -> Vec<(usize, String, Option<String>)> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    let mut refs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for (at, _) in line.match_indices("docs/") {
            if line[..at].chars().next_back().is_some_and(path_char) {
                continue; // part of a longer path, e.g. another repository's docs/
            }
            let rest = &line[at..];
            let len = rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
            let path = rest[..len].trim_end_matches('.');
            if !path.ends_with(".md") {
                continue;
            }
            let after = &rest[path.len()..];
            let anchor = after.strip_prefix('#').map(|a| {
                let end = a
                    .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(a.len());
                a[..end].to_string()
            });
            refs.push((n + 1, path.to_string(), anchor));
        }
    }
    refs
}

/// `(line, target)` of every inline Markdown link or image outside code blocks and code spans.
fn markdown_links(text: &str) -> Vec<(usize, String)> {
    let mut links = Vec::new();
    for (n, line) in prose_lines(text) {
        // drop code spans, whose text is not a link
        let mut prose = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                prose.push_str(part);
            }
        }
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            links.push((n, target.to_string()));
            rest = &rest[end..];
        }
    }
    links
}

/// Reads `rel` (relative to the root), caching pages.
fn page<'a>(cache: &'a mut BTreeMap<PathBuf, Option<String>>, rel: &Path) -> Option<&'a str> {
    cache
        .entry(rel.to_path_buf())
        .or_insert_with(|| std::fs::read_to_string(root().join(rel)).ok())
        .as_deref()
}

/// Lexically resolves `target` against the directory `dir` (both relative to the root).
fn resolve(dir: &Path, target: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for part in dir.join(target).components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The problem with a reference to `target#anchor`, if any.
fn check_target(
    cache: &mut BTreeMap<PathBuf, Option<String>>,
    target: &Path,
    anchor: Option<&str>,
) -> Option<String> {
    let Some(text) = page(cache, target) else {
        return Some(format!("`{}` does not exist", target.display()));
    };
    let anchor = anchor.filter(|a| !a.is_empty())?;
    let known = anchors(text);
    (!known.contains(anchor)).then(|| {
        format!(
            "`{}` has no heading with anchor `#{anchor}` (its anchors: {})",
            target.display(),
            known.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// Every broken reference and link in `files` (`(path relative to the root, text)`).
fn problems(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut cache: BTreeMap<PathBuf, Option<String>> = files
        .iter()
        .map(|(f, text)| (f.clone(), Some(text.clone())))
        .collect();
    let mut found = Vec::new();
    for (file, text) in files {
        for (line, path, anchor) in doc_references(text) {
            if let Some(p) = check_target(&mut cache, Path::new(&path), anchor.as_deref()) {
                found.push(format!("{}:{line}: {path}: {p}", file.display()));
            }
        }
        let is_page = file.starts_with("docs") || file == Path::new("README.md");
        if file.extension().is_some_and(|e| e == "md") && is_page {
            let dir = file.parent().unwrap_or(Path::new(""));
            for (line, target) in markdown_links(text) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                if !path.is_empty() && !path.ends_with(".md") {
                    continue; // images and other files are not pages
                }
                let to = if path.is_empty() {
                    file.clone()
                } else {
                    resolve(dir, path)
                };
                if let Some(p) = check_target(&mut cache, &to, anchor) {
                    found.push(format!("{}:{line}: link {target}: {p}", file.display()));
                }
            }
        }
    }
    found
}

#[test]
fn every_docs_reference_names_an_existing_page_and_heading() {
    let files: Vec<(PathBuf, String)> = source_files()
        .into_iter()
        .filter_map(|f| Some((f.clone(), std::fs::read_to_string(root().join(&f)).ok()?)))
        .collect();
    assert!(
        files.iter().any(|(f, _)| f == Path::new("README.md")),
        "the scan found no README.md: {} files",
        files.len()
    );
    let found = problems(&files);
    assert!(
        found.is_empty(),
        "{} broken reference(s) to the docs (anchors are heading slugs: lower-case, spaces \
         as `-`, punctuation dropped):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn summary_lists_every_page_and_each_entry_exists() {
    let docs = root().join("docs");
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).expect("docs/SUMMARY.md");
    let mut listed = BTreeSet::new();
    let mut broken = Vec::new();
    for (line, target) in markdown_links(&summary) {
        let path = target.split('#').next().unwrap_or("");
        if !docs.join(path).is_file() {
            broken.push(format!("docs/SUMMARY.md:{line}: `{target}` does not exist"));
        }
        listed.insert(PathBuf::from(path));
    }
    assert!(!listed.is_empty(), "docs/SUMMARY.md links no page");
    let mut pages = Vec::new();
    walk(&docs, Path::new(""), &mut pages);
    for page in pages {
        let is_md = page.extension().is_some_and(|e| e == "md");
        if is_md && page != Path::new("SUMMARY.md") && !listed.contains(&page) {
            broken.push(format!(
                "docs/{} is not in docs/SUMMARY.md (mdBook would not render it)",
                page.display()
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn slugs_follow_the_mdbook_and_github_rule() {
    assert_eq!(slug("The transform"), "the-transform");
    assert_eq!(slug("REINFORCE++ with baseline"), "reinforce-with-baseline");
    assert_eq!(
        slug("The authors'-code variant"),
        "the-authors-code-variant"
    );
    assert_eq!(slug("`hicra eval`"), "hicra-eval");
    assert_eq!(slug("pass@k"), "passk");
    assert_eq!(
        slug("Truncate (TIS) or mask (MIS)"),
        "truncate-tis-or-mask-mis"
    );
    assert_eq!(
        slug("See [Pipelines](pipelines.md) now"),
        "see-pipelines-now"
    );
    let page = "# A\n\n## Same\n\n```toml\n# not a heading\n```\n\n## Same\n";
    let want: BTreeSet<String> = ["a", "same", "same-1"].map(String::from).into();
    assert_eq!(anchors(page), want);
}

#[test]
fn a_missing_page_or_heading_is_reported_with_its_place() {
    // built with format! so that this file holds no reference of its own
    let d = "docs/";
    let text = format!(
        "ok {d}formulas/hicra.md#the-transform.\n\
         no page {d}formulas/nope.md\n\
         bad anchor ({d}formulas/hicra.md#no-such-heading)\n\
         another repository's ../shared/{d}hicra.md is not ours\n"
    );
    let found = problems(&[(PathBuf::from("src/example.rs"), text)]);
    assert_eq!(found.len(), 2, "{found:#?}");
    let at = |line: u32, page: &str| format!("src/example.rs:{line}: {d}formulas/{page}");
    assert!(found[0].starts_with(&at(2, "nope.md")), "{found:#?}");
    assert!(found[1].starts_with(&at(3, "hicra.md")), "{found:#?}");
    assert!(found[1].contains("#no-such-heading"), "{found:#?}");

    let page = "# T\n\n## Here\n\nSee [here](#here), [there](#there) and [x](../README.md).\n";
    let found = problems(&[(PathBuf::from(format!("{d}example.md")), page.to_string())]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("link #there"), "{found:#?}");
}
