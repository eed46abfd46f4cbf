//! Every file in `pipelines/` validates with the binary's own stage kinds.

use crate::cli::{hicra, text};

#[test]
fn every_pipeline_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let out = hicra(&["validate", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}:\n{}",
            path.display(),
            text(&out.stderr)
        );
        count += 1;
    }
    assert!(count > 0);
}
