//! Invalid pipelines: `hicra validate` exits 1 (never panics) and prints, for each problem,
//! `FILE:LINE:COL`, the snippet and a help line. The rendered output is checked against the
//! `.stderr` file beside each fixture; `HICRA_BLESS=1 cargo test` rewrites them.

use std::path::Path;

use crate::cli::{hicra, text};

#[test]
fn every_invalid_fixture_renders_its_expected_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 8, "fixtures missing in {}", dir.display());
    let bless = std::env::var_os("HICRA_BLESS").is_some();
    let mut mismatches = Vec::new();
    for fixture in fixtures {
        let relative = format!(
            "tests/fixtures/invalid/{}",
            fixture.file_name().unwrap().to_string_lossy()
        );
        let out = hicra(&["--test-stages", "validate", &relative]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{relative}: {}",
            text(&out.stderr)
        );
        let actual = text(&out.stderr);
        let expected_path = fixture.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!("--- {relative}\n{actual}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "rendered diagnostics differ (HICRA_BLESS=1 to update):\n{}",
        mismatches.join("\n")
    );
}
