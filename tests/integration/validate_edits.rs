//! Property: whatever single value of a shipped pipeline is replaced by (a negative number,
//! zero, a huge number, an empty string, a boolean, an empty list), validation answers with
//! diagnostics or a pipeline, and never panics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use hicra::flow::Pipeline;
use hicra::flow::value::{Value, ValueKind};

const REPLACEMENTS: [&str; 7] = ["-1", "0", "1e30", "\"\"", "true", "[]", "-0.5"];

/// Dotted paths of every scalar under `stages` (inputs left out: edges have their own tests).
fn leaves(value: &Value, path: &str, out: &mut Vec<String>) {
    match &value.kind {
        ValueKind::Table(t) => {
            for (key, v) in &t.entries {
                if key.name == "inputs" || key.name == "kind" {
                    continue;
                }
                leaves(v, &format!("{path}.{}", key.name), out);
            }
        }
        ValueKind::Array(_) => {}
        _ => out.push(path.to_string()),
    }
}

#[test]
fn random_edits_of_shipped_pipelines_never_panic_validation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let registry = hicra::registry();
    // a fixed pseudo-random walk over (file, leaf, replacement): the same edits every run
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let (mut edits, mut refused) = (0, 0);
    for file in &files {
        let loaded = hicra::flow::load::load(std::slice::from_ref(file), &[]).unwrap();
        let stages = loaded.root.as_table().unwrap().get("stages").unwrap();
        let mut paths = Vec::new();
        leaves(stages, "stages", &mut paths);
        for _ in 0..60 {
            let path = &paths[next(paths.len())];
            let edit = format!("{path}={}", REPLACEMENTS[next(REPLACEMENTS.len())]);
            let result = catch_unwind(AssertUnwindSafe(|| {
                Pipeline::from_files(
                    &registry,
                    std::slice::from_ref(file),
                    std::slice::from_ref(&edit),
                )
            }));
            let outcome =
                result.unwrap_or_else(|_| panic!("{}: `{edit}` panicked", file.display()));
            edits += 1;
            if let Err(diagnostics) = outcome {
                assert!(
                    !diagnostics.items.is_empty(),
                    "{edit}: an error without a diagnostic"
                );
                refused += 1;
            }
        }
    }
    assert!(edits >= 400, "{edits} edits");
    assert!(
        refused > edits / 4,
        "only {refused} of {edits} edits refused: are values checked?"
    );
}
