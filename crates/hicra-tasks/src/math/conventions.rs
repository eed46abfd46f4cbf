//! The conventions a comparison follows where graders legitimately differ: what a percentage
//! equals, whether case matters, how a number inside `\text{}` reads, how many decimals an
//! approximate answer must get right, and whether readable-but-irregular symbols are accepted.
//! The defaults follow math-verify 0.9 (Hugging Face's grader, the reference this checker is
//! measured against, `tests/oracles.rs`) except [`Conventions::strict_symbols`], where the
//! lenient reading is the better reward.

use serde::Deserialize;

/// How answers are read and compared where conventions differ.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Conventions {
    /// `45\%` also equals the whole number `45` when both are written as whole numbers, as
    /// math-verify does; a percentage always equals its value over 100 (`\frac{9}{20}`, `0.45`).
    pub percent_equals_whole: bool,
    /// Letters and words compare without regard to case (`R` = `r`, `\text{East}` = `east`).
    pub ignore_case: bool,
    /// A number written inside `\text{}` together with a unit (`\text{3 cm}`) is text, as
    /// math-verify reads it; false drops the unit and keeps the number. A unit outside the
    /// number (`3 \text{ cm}`, `864 \mbox{ inches}^2`) is dropped either way.
    pub number_in_text_is_text: bool,
    /// Decimal places to which an answer written as a decimal is compared (`0.333333` equals
    /// `\frac{1}{3}` at 6, as in math-verify); exact answers are compared exactly.
    pub decimal_places: u32,
    /// Refuse what math-verify refuses although a reader understands it: thin spaces inside a
    /// number (`1\,000`), the Unicode degree and infinity signs (`90°`, `∞`). False reads them
    /// as `1000`, `90` and `\infty`.
    pub strict_symbols: bool,
}

impl Default for Conventions {
    fn default() -> Self {
        Self {
            percent_equals_whole: true,
            ignore_case: true,
            number_in_text_is_text: true,
            decimal_places: 6,
            strict_symbols: false,
        }
    }
}

impl Conventions {
    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=15).contains(&self.decimal_places) {
            return Err(format!(
                "decimal_places must be between 1 and 15 (f64 carries about 15), got {}",
                self.decimal_places
            ));
        }
        Ok(())
    }
}
