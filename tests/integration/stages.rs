//! Every registered stage documents a TOML example that parses as that stage, and the stage
//! catalogue in docs/stages.md is what `hicra stages --markdown` prints.

#[test]
fn every_stage_example_parses() {
    let mut registry = hicra::registry();
    hicra::flow::testing::register_mocks(&mut registry);
    let failures: Vec<String> = registry
        .kinds()
        .filter_map(|k| registry.check_example(k.kind).err())
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `docs/stages.md` is the output of `hicra stages --markdown`, byte for byte: a stage added,
/// renamed or re-documented shows up in the docs or fails here.
#[test]
fn stage_catalogue_in_docs_is_current() {
    let out = crate::cli::hicra(&["stages", "--markdown"]);
    assert!(out.status.success(), "{}", crate::cli::text(&out.stderr));
    let generated = crate::cli::text(&out.stdout);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/stages.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || generated.lines().count().min(committed.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "docs/stages.md differs from `hicra stages --markdown` (first at line {line}); \
             regenerate it with\n    cargo run --release -- stages --markdown > docs/stages.md"
        );
    }
}

/// The catalogue lists product stages only: the `mock.*` test stages need `--test-stages`.
#[test]
fn stage_catalogue_has_every_product_kind_and_no_mock() {
    let out = crate::cli::hicra(&["stages", "--markdown"]);
    let md = crate::cli::text(&out.stdout);
    for kind in hicra::registry().kinds() {
        assert!(
            md.contains(&format!("### `{}`", kind.kind)),
            "{}",
            kind.kind
        );
    }
    assert!(!md.contains("mock."), "mock stages in the catalogue");
    assert!(
        md.contains("| `rollouts` | input | `RolloutBatch` |"),
        "{md}"
    );
}
