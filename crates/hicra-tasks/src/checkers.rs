//! The checker behind each verifier stage, built from the stage's kind and TOML table, so
//! that `hicra eval` judges with exactly the settings a pipeline's verifier has.

use crate::answers::Checker;

/// The checker of a verifier stage, from its kind and TOML table (`kind` and `inputs` may be
/// left in): `verifier.math`, `verifier.boxed` or `verifier.countdown`.
pub fn checker_for(kind: &str, table: &hicra_flow::Value) -> Result<Box<dyn Checker>, String> {
    let mut params = table.clone();
    if let hicra_flow::value::ValueKind::Table(t) = &mut params.kind {
        t.remove("kind");
        t.remove("inputs");
    }
    fn read<T: serde::de::DeserializeOwned>(
        kind: &str,
        v: &hicra_flow::Value,
    ) -> Result<T, String> {
        hicra_flow::de::from_value(v).map_err(|e| format!("{kind}: {}", e.message))
    }
    Ok(match kind {
        "verifier.math" => {
            Box::new(read::<crate::math::stage::MathVerifierConfig>(kind, &params)?.checker())
        }
        "verifier.boxed" => Box::new(crate::boxed::BoxedChecker),
        "verifier.countdown" => {
            Box::new(read::<crate::countdown::CountdownVerifierConfig>(kind, &params)?.checker())
        }
        other => {
            return Err(format!(
                "no answer checker for `{other}`: use verifier.math, verifier.boxed or verifier.countdown"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hicra_messages::{Group, Rollout, RolloutBatch};
    use serde_json::json;

    use super::*;
    use crate::answers::Checker;
    use crate::scoring::{Rewards, score_batch};
    use hicra_messages::Prompt;

    fn prompt(answer: &str) -> Prompt {
        Prompt::new("p", "q", answer)
    }

    fn table(text: &str) -> hicra_flow::Value {
        hicra_flow::Value::parse_document(text, 0).unwrap()
    }

    #[test]
    fn each_verifier_has_a_checker_that_groups_equal_answers() {
        let math = checker_for("verifier.math", &table("kind = \"verifier.math\"")).unwrap();
        let p = prompt("#### 0.5");
        let s = math.judge(&p, "so the answer is \\boxed{\\frac{1}{2}}");
        assert!(s.correct && s.parsed && s.reason.is_none());
        assert_eq!(s.answer.as_deref(), Some("\\frac{1}{2}"));
        assert!(math.same_answer(&p, "1/2", "0.5"));
        assert!(!math.same_answer(&p, "1/2", "0.51"));
        let none = math.judge(&p, "");
        assert!(!none.parsed && none.answer.is_none() && none.reason.is_some());

        let boxed = checker_for("verifier.boxed", &table("")).unwrap();
        let s = boxed.judge(&prompt("49"), "let me square: \\boxed{ 49 }");
        assert!(s.correct);
        assert!(boxed.same_answer(&p, " 7", "7") && !boxed.same_answer(&p, "7", "07"));

        let countdown =
            checker_for("verifier.countdown", &table("require_all_numbers = true")).unwrap();
        let mut c = prompt("");
        c.meta.insert("numbers".into(), json!([2, 3, 4]));
        c.meta.insert("target".into(), json!(14));
        assert!(countdown.judge(&c, "<answer>2 + 3 * 4</answer>").correct);
        let wrong = countdown.judge(&c, "<answer>2 * 3 + 4</answer>");
        assert!(!wrong.correct && wrong.parsed && wrong.reason.unwrap().contains("10"));
        assert!(countdown.same_answer(&c, "2 + 3 * 4", "4 * 3 + 2"));
        assert!(!countdown.same_answer(&c, "2 + 3 * 4", "2 * 3 + 4"));

        let refused = checker_for("verifier.math", &table("limits = { max_depth = \"deep\" }"));
        assert!(refused.is_err());
        let unknown = checker_for("verifier.nope", &table("")).err().unwrap();
        assert!(unknown.contains("verifier.math"));
    }

    #[test]
    fn evaluation_batches_report_pass_at_k_and_the_majority_vote() {
        let group = |answer: &str, texts: &[&str]| Group {
            prompt: Arc::new(prompt(answer)),
            rollouts: texts
                .iter()
                .map(|t| Rollout {
                    text: t.to_string(),
                    ..Default::default()
                })
                .collect(),
        };
        let mut batch = RolloutBatch {
            step: 20,
            policy_version: 20,
            groups: vec![
                // one right, but the majority says 3
                group("5", &["\\boxed{5}", "\\boxed{3}", "\\boxed{3}", "no box"]),
                // two right, and they are the majority
                group(
                    "8",
                    &["\\boxed{8}", "\\boxed{2}", "\\boxed{8}", "\\boxed{1}"],
                ),
            ],
            metrics: Default::default(),
            eval: true,
        };
        score_batch(&mut batch, &Rewards::default(), &crate::boxed::BoxedChecker);
        let m = &batch.metrics;
        assert_eq!(m["accuracy/eval"], 3.0 / 8.0);
        assert_eq!(m["pass@1/eval"], 3.0 / 8.0);
        assert_eq!(m["pass@4/eval"], 1.0);
        assert!((m["pass@2/eval"] - (0.5 + 5.0 / 6.0) / 2.0).abs() < 1e-12);
        assert_eq!(m["maj@4/eval"], 0.5);
        let answers: Vec<Option<&str>> = batch.rollouts().map(|r| r.answer.as_deref()).collect();
        assert_eq!(answers[..4], [Some("5"), Some("3"), Some("3"), None]);
        // training batches carry no eval figures
        batch.eval = false;
        batch.metrics.clear();
        score_batch(&mut batch, &Rewards::default(), &crate::boxed::BoxedChecker);
        assert!(!batch.metrics.keys().any(|k| k.contains('@')));
    }
}
