//! Any bytes, split at the first NUL into a gold answer and a response, go through the whole
//! math checker (extract, normalise, parse, compare). It must return, without panicking, well
//! within libFuzzer's `-timeout`.
#![no_main]

use hicra_tasks::math::MathChecker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (gold, response) = text.split_once('\0').unwrap_or(("42", &text));
    let checker = MathChecker {
        last_number_fallback: true,
        ..MathChecker::default()
    };
    let verdict = checker.check(gold, response);
    // an answer judged equal must be judged equal to itself too
    if verdict.equivalent()
        && let Some(answer) = &verdict.extracted
    {
        let again = checker.same_answer(answer, answer);
        assert!(!matches!(again, Ok(false)), "{answer:?} is not equal to itself");
    }
});
