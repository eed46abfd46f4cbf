//! Every registered stage documents a TOML example that parses as that stage.

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
