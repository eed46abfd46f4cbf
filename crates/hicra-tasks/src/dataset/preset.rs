//! How the rows of known datasets map onto prompts: which field is the question, which the
//! answer, and how the gold answer is cut out of it.

use serde::Deserialize;

use crate::boxed::last_boxed;

/// Known layouts. `custom` takes every mapping from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// GSM8K (Cobbe et al. 2021): `question`, and `answer` holding the worked solution that
    /// ends with `#### N`; N (commas removed) is the gold answer, the solution goes to
    /// `meta.solution` for warm-ups.
    Gsm8k,
    /// MATH-500 (Lightman et al. 2023): `problem`, `answer`, `solution`, `subject`, `level`,
    /// `unique_id`.
    Math500,
    /// Field names and answer style from the config.
    #[default]
    Custom,
}

/// How the gold answer is read from the answer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerStyle {
    /// The field is the answer.
    Raw,
    /// The text after the last `####` (GSM8K); thousands commas removed.
    AfterHashes,
    /// The content of the last `\boxed{...}`; the whole field when there is none.
    LastBoxed,
}

/// Field names and answer style, after a preset's defaults are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub question: String,
    pub answer: String,
    /// `None`: ids are `<task>-<row number>`.
    pub id: Option<String>,
    /// Field whose text is a worked solution (copied to `meta.solution`).
    pub solution: Option<String>,
    /// Extra fields copied to `meta` under their own names.
    pub meta: Vec<String>,
    pub style: AnswerStyle,
}

impl Preset {
    /// The preset's mapping, or `None` for `custom`.
    pub fn mapping(self) -> Option<Mapping> {
        let s = |x: &str| x.to_string();
        match self {
            Self::Gsm8k => Some(Mapping {
                question: s("question"),
                answer: s("answer"),
                id: None,
                solution: Some(s("answer")),
                meta: vec![],
                style: AnswerStyle::AfterHashes,
            }),
            Self::Math500 => Some(Mapping {
                question: s("problem"),
                answer: s("answer"),
                id: Some(s("unique_id")),
                solution: Some(s("solution")),
                meta: vec![s("subject"), s("level")],
                style: AnswerStyle::Raw,
            }),
            Self::Custom => None,
        }
    }

    /// The task name prompts carry.
    pub fn task(self) -> Option<&'static str> {
        match self {
            Self::Gsm8k => Some("gsm8k"),
            Self::Math500 => Some("math500"),
            Self::Custom => None,
        }
    }
}

impl Preset {
    /// A worked solution as a model should write it: for GSM8K the calculator annotations
    /// (`<<3+4=7>>`) are removed and the `#### N` line becomes `The final answer is
    /// \boxed{N}.`; other presets keep the text.
    pub fn solution(self, text: &str) -> String {
        if self != Self::Gsm8k {
            return text.to_string();
        }
        let mut clean = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find("<<") {
            let Some(close) = rest[open..].find(">>") else {
                break;
            };
            clean.push_str(&rest[..open]);
            rest = &rest[open + close + 2..];
        }
        clean.push_str(rest);
        match clean.rsplit_once("####") {
            Some((body, answer)) => format!(
                "{}\nThe final answer is \\boxed{{{}}}.",
                body.trim_end(),
                answer.trim().replace(',', "")
            ),
            None => clean,
        }
    }
}

impl AnswerStyle {
    /// The gold answer in `field`, or why there is none.
    pub fn gold(self, field: &str) -> Result<String, String> {
        let answer = match self {
            Self::Raw => field.trim().to_string(),
            Self::AfterHashes => {
                let (_, after) = field
                    .rsplit_once("####")
                    .ok_or("the answer has no `#### N` line")?;
                after.trim().replace(',', "")
            }
            Self::LastBoxed => last_boxed(field).unwrap_or(field).trim().to_string(),
        };
        if answer.is_empty() {
            Err("the gold answer is empty".into())
        } else {
            Ok(answer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gold_answers_are_cut_out_by_style() {
        let gsm = "She has 3 + 4 = <<3+4=7>>7.\n#### 1,007";
        assert_eq!(AnswerStyle::AfterHashes.gold(gsm).unwrap(), "1007");
        assert!(AnswerStyle::AfterHashes.gold("7").is_err());
        assert_eq!(
            AnswerStyle::LastBoxed
                .gold("so \\boxed{\\frac{1}{2}}.")
                .unwrap(),
            "\\frac{1}{2}"
        );
        assert_eq!(AnswerStyle::LastBoxed.gold(" 12 ").unwrap(), "12");
        assert!(AnswerStyle::Raw.gold("  ").is_err());
        assert_eq!(Preset::Math500.mapping().unwrap().question, "problem");
        assert!(Preset::Custom.mapping().is_none());
        assert_eq!(
            Preset::Gsm8k.solution(gsm),
            "She has 3 + 4 = 7.\nThe final answer is \\boxed{1007}."
        );
        assert_eq!(Preset::Math500.solution("x <<y>>"), "x <<y>>");
    }
}
