use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One chat turn. The sampler applies its model's chat template to a prompt's messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// A question to sample answers for, with what the verifier needs to judge them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// Stable identifier (dataset row id or generator index); groups rollouts.
    pub id: String,
    /// Task family, e.g. `gsm8k`, `math500`, `countdown`, `arithmetic`.
    pub task: String,
    /// The raw question text.
    pub question: String,
    /// The gold answer as a string (verifiers parse it themselves).
    pub answer: String,
    /// The formatted conversation (system prompt, instruction + question).
    pub messages: Vec<ChatMessage>,
    /// Task-specific data for verifiers (e.g. countdown's numbers and target).
    #[serde(default)]
    pub meta: BTreeMap<String, serde_json::Value>,
    /// Position in the source's stream, for resumable cursors.
    #[serde(default)]
    pub cursor: u64,
}

impl Prompt {
    /// A prompt of `id` asking `question` with gold `answer`; its task, conversation and
    /// task data are empty and its cursor 0 (set them with `Prompt { task, ..Prompt::new(..) }`).
    pub fn new(
        id: impl Into<String>,
        question: impl Into<String>,
        answer: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            task: String::new(),
            question: question.into(),
            answer: answer.into(),
            messages: Vec::new(),
            meta: BTreeMap::new(),
            cursor: 0,
        }
    }
}
