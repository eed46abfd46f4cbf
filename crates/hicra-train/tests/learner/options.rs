//! Every objective trains, every alternative of the documented example parses, and bad values
//! are refused while the table is read (so `hicra validate` points at them).

use hicra_flow::Registry;
use hicra_flow::value::Value;
use hicra_train::LearnerConfig;

fn parse(params: &str) -> Result<LearnerConfig, String> {
    let value = Value::parse_document(params, 0).map_err(|(m, _)| m)?;
    hicra_flow::de::from_value::<LearnerConfig>(&value).map_err(|e| e.message)
}

#[test]
fn every_objective_takes_a_name_or_a_table() {
    for text in [
        "objective = \"ppo\"",
        "objective = \"gspo\"",
        "objective = \"cispo\"",
        "objective = { kind = \"ppo\", eps_low = 0.1, eps_high = 0.2, dual_clip = 3.0 }",
        "objective = { kind = \"gspo\", eps_low = 3e-4 }",
        "objective = { kind = \"cispo\", eps_high = 2.0 }",
        "importance_correction = { level = \"sequence\", mode = \"mask\", cap = 3.0 }",
        "importance_correction = {}",
        "compute_path = \"host\"",
        "compute_path = \"tensor\"",
    ] {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    let c = parse("objective = { kind = \"gspo\" }").unwrap();
    assert_eq!(c.objective.name(), "gspo");
    assert_eq!(c.compute_path, hicra_model::ComputePath::Auto);
}

#[test]
fn bad_objectives_and_corrections_are_refused_with_the_reason() {
    for (text, needle) in [
        ("objective = \"ppo2\"", "ppo2"),
        ("objective = { kind = \"trpo\" }", "trpo"),
        ("objective = { kind = \"ppo\", eps_low = -0.2 }", "eps_low"),
        (
            "objective = { kind = \"ppo\", dual_clip = 0.5 }",
            "dual_clip",
        ),
        (
            "objective = { kind = \"gspo\", eps_high = -1.0 }",
            "eps_high",
        ),
        ("objective = { kind = \"cispo\", eps_low = 2.0 }", "eps_low"),
        ("objective = { kind = \"ppo\", epsilon = 0.2 }", "epsilon"),
        ("importance_correction = { cap = -2.0 }", "cap"),
        ("importance_correction = { level = \"batch\" }", "batch"),
        ("importance_correction = { mode = \"clip\" }", "clip"),
        ("eps_low = 0.2", "eps_low"),
        ("compute_path = \"gpu\"", "gpu"),
    ] {
        let err = parse(text)
            .err()
            .unwrap_or_else(|| panic!("`{text}` was accepted"));
        assert!(err.contains(needle), "`{text}`: {err}");
    }
}

/// The commented alternatives in `hicra stages learner.policy_gradient` parse when uncommented.
#[test]
fn the_examples_alternatives_parse() {
    let mut registry = Registry::new();
    hicra_train::register(&mut registry);
    let example = registry.info("learner.policy_gradient").unwrap().example;
    let alternatives: Vec<&str> = example
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.starts_with("objective") || l.starts_with("importance_correction"))
        .collect();
    assert_eq!(alternatives.len(), 3, "{example}");
    for line in alternatives {
        let setting = line.split("  #").next().unwrap().trim();
        parse(setting).unwrap_or_else(|e| panic!("{setting}: {e}"));
    }
}
