//! Shared helpers for the integration tests (each test binary uses a subset).
#![allow(dead_code)]

use std::path::PathBuf;

/// The real SmolLM2 GGUF (fetched by `scripts/fetch-model.sh`), or `None` with a note on stderr
/// explaining that the test is skipped.
pub fn smollm2_path(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("HICRA_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED {test}: {} is absent (run scripts/fetch-model.sh or set HICRA_SMOLLM2_GGUF)",
            path.display()
        );
        None
    }
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One JSON object per non-empty line.
pub fn read_jsonl(name: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
