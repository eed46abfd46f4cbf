//! Prompt formatting: how a question becomes the chat messages a sampler renders with its
//! model's chat template (ChatML for SmolLM2). Every source that emits natural-language
//! questions takes a `prompt = { system = "...", template = "..." }` table.

use hicra_messages::ChatMessage;
use serde::Deserialize;

/// The instruction most math RL work appends to a question (Qwen2.5-Math, DeepSeek-R1 evals).
pub const BOXED_INSTRUCTION: &str =
    "Please reason step by step, and put your final answer within \\boxed{}.";

/// The placeholder a template must contain.
pub const QUESTION: &str = "{question}";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PromptFormat {
    /// System message; empty for none.
    pub system: String,
    /// The user message, with `{question}` where the question goes.
    pub template: String,
}

impl Default for PromptFormat {
    fn default() -> Self {
        Self {
            system: String::new(),
            template: format!("{QUESTION}\n{BOXED_INSTRUCTION}"),
        }
    }
}

impl PromptFormat {
    /// Errors when the template has no `{question}`.
    pub fn validate(&self) -> Result<(), String> {
        if self.template.contains(QUESTION) {
            Ok(())
        } else {
            Err(format!(
                "prompt.template must contain `{QUESTION}`, got {:?}",
                self.template
            ))
        }
    }

    /// The conversation for `question`: the system message (if any), then the user turn.
    pub fn messages(&self, question: &str) -> Vec<ChatMessage> {
        let mut messages = Vec::with_capacity(2);
        if !self.system.is_empty() {
            messages.push(ChatMessage::new("system", self.system.clone()));
        }
        messages.push(ChatMessage::new(
            "user",
            self.template.replace(QUESTION, question),
        ));
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_place_the_question_and_need_it() {
        let f = PromptFormat {
            system: "Be brief.".into(),
            template: "Q: {question}\nA:".into(),
        };
        let m = f.messages("1+1?");
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].role.as_str(), m[0].content.as_str()),
            ("system", "Be brief.")
        );
        assert_eq!(m[1].content, "Q: 1+1?\nA:");
        let d = PromptFormat::default().messages("2+2?");
        assert_eq!(d.len(), 1);
        assert!(d[0].content.starts_with("2+2?\n") && d[0].content.ends_with("\\boxed{}."));
        assert!(
            PromptFormat {
                system: String::new(),
                template: "no slot".into()
            }
            .validate()
            .is_err()
        );
    }
}
