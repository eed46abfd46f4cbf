//! Any bytes as a Countdown response to a fixed puzzle: extraction, parsing and exact
//! evaluation must return without panicking.
#![no_main]

use hicra_tasks::countdown::check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(answer) = check::extract(&text, true) {
        let _ = check::check(&[3, 7, 25, 50, 75, 100], 812, answer, false);
    }
});
