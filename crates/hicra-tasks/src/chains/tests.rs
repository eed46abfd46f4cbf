use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::answers::Checker;
use crate::math::MathChecker;
use crate::steps::Segmentation;

fn stream(text: &str) -> Chains {
    let config: ChainsConfig = toml::from_str(text).unwrap();
    Chains::new(config, 9).unwrap()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn seven() -> Prompt {
    let chain = Chain::new(7, vec![('+', 5), ('*', 2), ('-', 3)]).unwrap();
    let mut p = Prompt::new("p", chain.question(ChainStyle::Words), "21");
    p.meta.insert("chain".into(), chain.to_json());
    p
}

#[test]
fn a_chain_is_written_in_both_styles() {
    let chain = Chain::new(7, vec![('+', 5), ('*', 2), ('-', 3)]).unwrap();
    assert_eq!(chain.values, [7, 12, 24, 21]);
    assert_eq!(chain.question(ChainStyle::Compact), "7 +5 *2 -3");
    assert_eq!(
        chain.question(ChainStyle::Words),
        "Start with 7. Add 5, then multiply by 2, then subtract 3. What is the result?"
    );
    assert_eq!(
        chain.solution(ChainStyle::Compact, &[]),
        "7+5=12\n12*2=24\n24-3=21\n\\boxed{21}"
    );
    assert_eq!(
        chain.solution(ChainStyle::Words, &[0, 1]),
        "7 + 5 = 12\n12 * 2 = 25\n25 - 3 = 22\nThe answer is \\boxed{22}."
    );
    assert_eq!(
        chain.to_json(),
        json!({"start": 7, "ops": [["+", 5], ["*", 2], ["-", 3]], "values": [7, 12, 24, 21]})
    );
    assert_eq!(Chain::from_json(&chain.to_json()), Some(chain.clone()));
    let mut broken = chain.to_json();
    broken["values"][2] = json!(25);
    assert_eq!(Chain::from_json(&broken), None);
    assert_eq!(Chain::from_json(&json!({"start": 1})), None);
    assert_eq!(
        Chain::from_json(&json!({"start": 1, "ops": [["/", 2]], "values": [1, 0]})),
        None
    );
}

#[test]
fn prompts_carry_the_chain_and_follow_the_style() {
    let s = stream("worked_solutions = true\nsplit = \"eval\"");
    let p = s.problem(4);
    assert_eq!(p.id, "chains-eval-4");
    assert_eq!(p.task, "chains");
    assert_eq!(p.cursor, 4);
    assert_eq!(p.messages.len(), 1);
    assert_eq!(p.messages[0].role, "user");
    assert_eq!(p.messages[0].content, p.question);
    let chain = chain_of(&p).unwrap();
    assert_eq!(p.answer, chain.answer().to_string());
    assert!((2..=3).contains(&chain.ops.len()));
    let w = stream("style = \"words\"\nmin_ops = 1\nmax_ops = 1");
    let p = w.problem(0);
    assert!(p.question.starts_with("Start with ") && p.question.ends_with("What is the result?"));
    assert_eq!(p.messages.len(), 1);
    assert!(p.messages[0].content.contains("`23 + 15 = 38`"));
    assert!(p.messages[0].content.contains("\\boxed{}"));
    assert!(!p.meta.contains_key("solution"));
    let custom = stream(
        "style = \"words\"\nprompt = { system = \"Be brief.\", template = \"Q: {question}\" }",
    );
    let m = custom.problem(0).messages;
    assert_eq!(
        (m[0].role.as_str(), m[0].content.as_str()),
        ("system", "Be brief.")
    );
    assert!(m[1].content.starts_with("Q: Start with"));
}

#[test]
fn streams_are_deterministic_and_problems_do_not_depend_on_the_solution_knobs() {
    let a = stream("worked_solutions = true\nerror_rate = 0.5");
    let b = stream("");
    for i in 0..50 {
        assert_eq!(a.problem(i), a.problem(i));
        assert_eq!(a.chain(i), b.chain(i));
    }
    let other = Chains::new(ChainsConfig::default(), 10).unwrap();
    assert!((0..20).any(|i| other.chain(i) != b.chain(i)));
}

#[test]
fn clean_worked_solutions_are_right_at_every_step_and_verified() {
    let math = MathChecker::default();
    for style in ["compact", "words"] {
        let s = stream(&format!(
            "worked_solutions = true\nstyle = \"{style}\"\nmin_ops = 1\nmax_ops = 6\nmax_operand = 20"
        ));
        let mut negative = false;
        for i in 0..300 {
            let p = s.problem(i);
            let solution = p.meta["solution"].as_str().unwrap();
            negative |= p.answer.starts_with('-');
            let truth = step_truth(&p, &lines(solution)).unwrap();
            assert!(truth.iter().all(|&t| t), "{solution}\n{truth:?}");
            assert!(
                crate::boxed::BoxedChecker.judge(&p, solution).correct,
                "{solution}"
            );
            assert!(math.check(&p.answer, solution).equivalent(), "{solution}");
            if style == "compact" {
                let text = format!("{}\n{solution}", p.question);
                assert!(text.chars().all(|c| ALPHABET.contains(c)), "{text}");
            }
        }
        assert!(negative, "negative values occur");
    }
}

#[test]
fn slips_break_the_step_they_happen_in_and_every_later_one() {
    let s = stream("worked_solutions = true\nerror_rate = 1.0\nmax_ops = 6");
    for i in 0..200 {
        let p = s.problem(i);
        let solution = p.meta["solution"].as_str().unwrap();
        let truth = step_truth(&p, &lines(solution)).unwrap();
        assert!(truth.iter().all(|&t| !t), "{solution}");
        assert!(
            !crate::boxed::BoxedChecker.judge(&p, solution).correct,
            "{solution}"
        );
    }
    // some slips, never cancelling: the answer is wrong exactly when a step slipped
    let s = stream("worked_solutions = true\nerror_rate = 0.3\nmax_ops = 6");
    let mut slipped = 0;
    for i in 0..300 {
        let p = s.problem(i);
        let chain = chain_of(&p).unwrap();
        let slips = s.slips(i, &chain);
        let solution = p.meta["solution"].as_str().unwrap();
        let truth = step_truth(&p, &lines(solution)).unwrap();
        let first = slips.iter().position(|&d| d != 0);
        let expected: Vec<bool> = (0..truth.len())
            .map(|step| first.is_none_or(|f| step < f))
            .collect();
        assert_eq!(truth, expected, "{solution}");
        assert_eq!(
            crate::boxed::BoxedChecker.judge(&p, solution).correct,
            first.is_none()
        );
        assert!(slips.iter().all(|d| (-3..=3).contains(d)));
        slipped += usize::from(first.is_some());
    }
    assert!((100..300).contains(&slipped), "{slipped}");
}

#[test]
fn a_hand_written_slip_at_step_two_is_found_there() {
    let p = seven();
    let response = "7+5=12\n12*2=25\n25-3=22\n\\boxed{22}";
    assert_eq!(
        step_truth(&p, &lines(response)),
        Some(vec![true, false, false, false])
    );
    // a right box after a wrong step does not repair it
    let lucky = "7+5=12\n12*2=25\n24-3=21\n\\boxed{21}";
    assert_eq!(
        step_truth(&p, &lines(lucky)),
        Some(vec![true, false, false, false])
    );
    // an early box with the wrong value is wrong, a wrong operation is wrong
    assert_eq!(
        step_truth(&p, &["7 + 5 = \\boxed{12}", "12 * 2 = 24"]),
        Some(vec![false, false])
    );
    assert_eq!(step_truth(&p, &["7 - 5 = 2"]), Some(vec![false]));
    assert_eq!(step_truth(&p, &["7 / 5 = 12"]), Some(vec![false]));
    assert_eq!(step_truth(&p, &["12 * 2 = 24"]), Some(vec![false]));
    // compound equations are not steps of the chain
    assert_eq!(step_truth(&p, &["7 + 5 * 2 = 17"]), Some(vec![false]));
    assert_eq!(step_truth(&p, &["\\boxed{21}"]), Some(vec![true]));
    assert_eq!(step_truth(&p, &["\\boxed{20}"]), Some(vec![false]));
    assert_eq!(step_truth(&Prompt::new("q", "q", "1"), &["1+1=2"]), None);
}

#[test]
fn words_style_text_from_an_instruction_model_is_read() {
    let p = seven();
    let response = "First, 7 + 5 = 12.\nThen 12 × 2 = 24.\nFinally, 24 − 3 = 21.\n\nSo the result is 21, and the final answer is $\\boxed{21}$.";
    let steps = lines(response);
    assert_eq!(step_truth(&p, &steps), Some(vec![true; steps.len()]));
    let variants = [
        "Start: 7. Adding 5 gives 5 + 7 = 12.\n- 2 x 12 = 24\n* **24 - 3 = 21**\nThe answer is \\boxed{21}.",
        "7 + 5 = 12\n12 \\times 2 = 24\n24 - 3 = 21.0\n\\boxed{ 21 }",
        "We compute (7 + 5) = 12, then 12 · 2 = 24 and 24 - 3 = \\boxed{21}.",
        "7 + 5 = 12\n7 + 5 = 12 again, and 12 * 2 = 24\nrecall 12*2=24; 24-3=21\n\\boxed{21}",
        "7 + 5 = 12 * 2 = 24 - 3 = 21",
    ];
    for v in variants {
        let steps = lines(v);
        assert_eq!(step_truth(&p, &steps), Some(vec![true; steps.len()]), "{v}");
    }
    let wrong =
        "First, 7 + 5 = 12.\nThen 12 × 2 = 24.\nFinally, 24 − 3 = 20.\nThe answer is \\boxed{20}.";
    assert_eq!(
        step_truth(&p, &lines(wrong)),
        Some(vec![true, true, false, false])
    );
    let decimal = "7 + 5 = 12.5";
    assert_eq!(step_truth(&p, &[decimal]), Some(vec![false]));
    // negatives, with either minus sign
    let neg = Chain::new(2, vec![('-', 5), ('*', 3), ('-', 1)]).unwrap();
    assert_eq!(neg.values, [2, -3, -9, -10]);
    let text = "2 - 5 = -3\n−3 × 3 = −9\n(-9) - 1 = -10\n\\boxed{−10}";
    assert_eq!(neg.step_truth(&lines(text)), vec![true; 4]);
    assert_eq!(neg.step_truth(&["2 - 5 = 3"]), vec![false]);
    let by_segmentation = response_step_truth(&p, response, &Segmentation::default()).unwrap();
    assert!(by_segmentation.iter().all(|&t| t) && by_segmentation.len() >= 4);
}

#[test]
fn the_reader_finds_equations_and_integers() {
    let eq = |a, op, b, c| Equation {
        a: Some(a),
        op,
        b: Some(b),
        c: Some(c),
    };
    assert_eq!(equations("7+5=12"), [eq(7, '+', 5, 12)]);
    assert_eq!(equations("-2-3=-5"), [eq(-2, '-', 3, -5)]);
    assert_eq!(equations("5 - -2 = 7"), [eq(5, '-', -2, 7)]);
    assert_eq!(
        equations("3x4=12, 3 X 4 = 12"),
        [eq(3, '*', 4, 12), eq(3, '*', 4, 12)]
    );
    assert_eq!(equations("8 ÷ 2 = 4"), [eq(8, '/', 2, 4)]);
    assert_eq!(equations("\\boxed{3} x = 5 and 1 + 2 = three"), []);
    assert_eq!(equations("2 + 3 + 4 = 9")[0].a, None);
    assert_eq!(equations("99999999999999999999 + 1 = 2")[0].a, None);
    assert_eq!(parse_integer(" -4. "), Some(-4));
    assert_eq!(parse_integer("$21$"), Some(21));
    assert_eq!(parse_integer("21.00"), Some(21));
    assert_eq!(parse_integer("21.5"), None);
    assert_eq!(parse_integer("2 1"), None);
    assert_eq!(parse_integer(""), None);
}

#[test]
fn knobs_are_checked_with_clear_messages() {
    for (bad, field, words) in [
        ("min_ops = 0", "min_ops", "1..=6"),
        ("max_ops = 7", "max_ops", "1..=6"),
        ("min_ops = 3\nmax_ops = 2", "max_ops", "at least min_ops"),
        ("max_start = 0", "max_start", "1..=100"),
        ("max_operand = 101", "max_operand", "1..=100"),
        ("operators = \"/\"", "operators", "+ - *"),
        ("operators = \"\"", "operators", "non-empty"),
        (
            "worked_solutions = true\nerror_rate = 1.5",
            "error_rate",
            "0..=1",
        ),
        (
            "worked_solutions = true\nerror_rate = nan",
            "error_rate",
            "0..=1",
        ),
        ("error_rate = 0.1", "error_rate", "worked_solutions"),
        ("split = \"\"", "split", "empty"),
        ("prompt = { template = \"{question}\" }", "prompt", "words"),
        (
            "style = \"words\"\nprompt = { template = \"no slot\" }",
            "prompt.template",
            "{question}",
        ),
    ] {
        let config: ChainsConfig = toml::from_str(bad).unwrap();
        let problems = config.problems();
        assert_eq!(problems.len(), 1, "{bad}");
        assert_eq!(problems[0].field, field, "{bad}");
        assert!(
            problems[0].message.contains(words),
            "{bad}: {}",
            problems[0].message
        );
        assert!(Chains::new(config, 0).is_err());
    }
    assert!(toml::from_str::<ChainsConfig>("style = \"prose\"").is_err());
    assert!(toml::from_str::<ChainsConfig>("colour = 1").is_err());
    assert!(ChainsConfig::default().problems().is_empty());
    let extreme =
        stream("max_ops = 6\nmin_ops = 6\nmax_start = 100\nmax_operand = 100\noperators = \"*+\"");
    for i in 0..50 {
        extreme.problem(i);
    }
}

#[test]
fn the_stage_builds_and_sends_its_stream() {
    use hicra_flow::testing::StageHarness;
    let mut out = StageHarness::new::<ChainsConfig>("count = 3\nsplit = \"heldout\"")
        .run()
        .unwrap();
    let prompts = out.take::<Prompt>(generator::PROMPTS);
    let ids: Vec<&str> = prompts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["chains-heldout-0", "chains-heldout-1", "chains-heldout-2"]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_reader_never_panics(text in "\\PC{0,80}", noise in "[-+*/=x×−·0-9 .()\\\\a-z{}$\n]{0,80}") {
        let p = seven();
        for t in [&text, &noise] {
            let _ = equations(t);
            let _ = parse_integer(t);
            let steps: Vec<&str> = t.split('\n').collect();
            let truth = step_truth(&p, &steps).unwrap();
            prop_assert_eq!(truth.len(), steps.len());
            // once wrong, wrong for good
            prop_assert!(truth.windows(2).all(|w| w[0] || !w[1]));
        }
    }

    #[test]
    fn generated_solutions_are_judged_up_to_their_first_slip(
        start in 1i64..=100,
        ops in proptest::collection::vec((0usize..3, 1i64..=100, -3i64..=3), 1..=6),
        words in any::<bool>(),
    ) {
        let chain = Chain::new(start, ops.iter().map(|&(o, b, _)| (['+', '-', '*'][o], b)).collect()).unwrap();
        let slips: Vec<i64> = ops.iter().map(|&(_, _, d)| d).collect();
        let style = if words { ChainStyle::Words } else { ChainStyle::Compact };
        let solution = chain.solution(style, &slips);
        let truth = chain.step_truth(&lines(&solution));
        let first = slips.iter().position(|&d| d != 0);
        for (step, &t) in truth.iter().enumerate().take(chain.ops.len()) {
            prop_assert_eq!(t, first.is_none_or(|f| step < f), "{}", solution);
        }
    }
}
