//! Turning a conversation into the prompt text a model was trained on.
//!
//! ChatML (SmolLM2, Qwen) writes each message as `<|im_start|>ROLE\nCONTENT<|im_end|>\n` and
//! ends with `<|im_start|>assistant\n` when asking for a reply. A plain template is any text
//! with `{system}` and `{user}` placeholders, for base models or custom prompt formats. Lines
//! (the character-level policies' format) writes each message's content on a line of its own.
//!
//! [`ChatTemplate::to_jinja`] writes a template as the Jinja text Hugging Face and llama.cpp
//! store with a checkpoint; [`ChatTemplate::from_jinja`] reads those (and ChatML templates in
//! general) back to the same template, so an exported checkpoint prompts as its source did.

use serde::{Deserialize, Serialize};

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// How prompts are formatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ChatTemplate {
    /// ChatML. `default_system` is inserted when a conversation has no system message
    /// (SmolLM2's template does this); `None` inserts nothing.
    ChatMl { default_system: Option<String> },
    /// A text with `{system}` and `{user}` placeholders (either may be absent), e.g.
    /// `"{user}"` for raw completion or `"{system}\n\nQuestion: {user}\nAnswer:"`.
    Plain { template: String },
    /// Every message's content followed by a newline, roles unwritten: how policies trained
    /// from scratch with a character tokenizer see their prompts.
    Lines,
}

/// Why a conversation cannot be rendered with a template.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChatTemplateError {
    #[error("a plain template takes at most one system and one user message, got roles {0:?}")]
    TooManyTurns(Vec<String>),
    #[error("message role {0:?} is not system, user or assistant")]
    UnknownRole(String),
}

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";
/// [`ChatTemplate::Lines`] in Jinja.
const LINES_JINJA: &str =
    "{% for message in messages %}{{ message['content'] + '\n' }}{% endfor %}";
/// Opens the Jinja of a [`ChatTemplate::Plain`], followed by the template as a JSON string.
const PLAIN_MARKER: &str = "{#- hicra plain template: ";

impl ChatTemplate {
    /// ChatML without a default system message.
    pub fn chatml() -> Self {
        Self::ChatMl {
            default_system: None,
        }
    }

    /// The template of a checkpoint that stores `jinja` (raw `{user}` when it stores none).
    pub fn of_checkpoint(jinja: Option<&str>) -> Self {
        jinja.map_or_else(
            || Self::Plain {
                template: "{user}".to_string(),
            },
            Self::from_jinja,
        )
    }

    /// Recognises a checkpoint's Jinja template: ChatML (keeping a default system message
    /// written literally in it, as SmolLM2's is); anything else falls back to raw `{user}`.
    pub fn from_jinja(jinja: &str) -> Self {
        if jinja == LINES_JINJA {
            return Self::Lines;
        }
        if let Some(template) = jinja
            .strip_prefix(PLAIN_MARKER)
            .and_then(|rest| rest.split_once(" -#}"))
            .and_then(|(json, _)| serde_json::from_str::<String>(json).ok())
        {
            return Self::Plain { template };
        }
        if !jinja.contains(IM_START) {
            return Self::Plain {
                template: "{user}".to_string(),
            };
        }
        let marker = format!("{IM_START}system\n");
        let default_system = jinja.match_indices(&marker).find_map(|(at, _)| {
            let rest = &jinja[at + marker.len()..];
            let text = &rest[..rest.find(IM_END)?];
            let literal = !text.contains(['{', '}', '\'', '"', '+']);
            (literal && !text.is_empty()).then(|| text.to_string())
        });
        Self::ChatMl { default_system }
    }

    /// The template as Jinja (`tokenizer_config.json`'s `chat_template`, GGUF's
    /// `tokenizer.chat_template`); [`from_jinja`](Self::from_jinja) reads it back unchanged.
    pub fn to_jinja(&self) -> String {
        match self {
            Self::ChatMl { default_system } => {
                let system = default_system.as_ref().map_or(String::new(), |s| {
                    format!(
                        "{{% if loop.first and messages[0]['role'] != 'system' %}}{{{{ '{IM_START}system\n{}{IM_END}\n' }}}}{{% endif %}}",
                        jinja_literal(s)
                    )
                });
                format!(
                    "{{% for message in messages %}}{system}{{{{'{IM_START}' + message['role'] + '\n' + message['content'] + '{IM_END}' + '\n'}}}}{{% endfor %}}{{% if add_generation_prompt %}}{{{{ '{IM_START}assistant\n' }}}}{{% endif %}}"
                )
            }
            Self::Lines => LINES_JINJA.to_string(),
            Self::Plain { template } => {
                let mut out = format!(
                    "{PLAIN_MARKER}{} -#}}",
                    // `#}` would end the comment early; JSON reads the escape back
                    serde_json::to_string(template)
                        .expect("a string serializes")
                        .replace("#}", "#\\u007d")
                );
                let mut rest = template.as_str();
                while !rest.is_empty() {
                    let (literal, value, skip) = match (rest.find("{system}"), rest.find("{user}"))
                    {
                        (Some(s), u) if u.is_none_or(|u| s < u) => (&rest[..s], "system", s + 8),
                        (_, Some(u)) => (&rest[..u], "user", u + 6),
                        _ => (rest, "", rest.len()),
                    };
                    if !literal.is_empty() {
                        out.push_str(&format!("{{{{ '{}' }}}}", jinja_literal(literal)));
                    }
                    if !value.is_empty() {
                        out.push_str(&format!(
                            "{{% for message in messages %}}{{% if message['role'] == '{value}' %}}{{{{ message['content'] }}}}{{% endif %}}{{% endfor %}}"
                        ));
                    }
                    rest = &rest[skip..];
                }
                out
            }
        }
    }

    /// The prompt for one user message with an optional system message, ready for generation.
    pub fn render(&self, system: Option<&str>, user: &str) -> String {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(ChatMessage::new("system", system));
        }
        messages.push(ChatMessage::new("user", user));
        self.render_messages(&messages, true)
            .expect("one system and one user message fit every template")
    }

    /// The prompt for a conversation; `add_generation_prompt` opens the assistant's turn.
    pub fn render_messages(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ChatTemplateError> {
        if let Some(m) = messages
            .iter()
            .find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant"))
        {
            return Err(ChatTemplateError::UnknownRole(m.role.clone()));
        }
        match self {
            Self::ChatMl { default_system } => Ok(render_chatml(
                messages,
                default_system.as_deref(),
                add_generation_prompt,
            )),
            Self::Plain { template } => render_plain(template, messages),
            Self::Lines => Ok(messages
                .iter()
                .map(|m| format!("{}\n", m.content))
                .collect()),
        }
    }
}

/// `text` inside a single-quoted Jinja string (backslashes and quotes escaped; newlines stay
/// literal, as in the templates checkpoints ship).
fn jinja_literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

fn render_chatml(
    messages: &[ChatMessage],
    default_system: Option<&str>,
    add_generation_prompt: bool,
) -> String {
    let mut out = String::new();
    let mut turn = |role: &str, content: &str| {
        out.push_str(&format!("{IM_START}{role}\n{content}{IM_END}\n"));
    };
    if let Some(system) =
        default_system.filter(|_| messages.first().is_none_or(|m| m.role != "system"))
    {
        turn("system", system);
    }
    for m in messages {
        turn(&m.role, &m.content);
    }
    if add_generation_prompt {
        out.push_str(&format!("{IM_START}assistant\n"));
    }
    out
}

fn render_plain(template: &str, messages: &[ChatMessage]) -> Result<String, ChatTemplateError> {
    let roles: Vec<String> = messages.iter().map(|m| m.role.clone()).collect();
    let (systems, users) = (
        contents_of(messages, "system"),
        contents_of(messages, "user"),
    );
    if systems.len() > 1 || users.len() > 1 || systems.len() + users.len() != messages.len() {
        return Err(ChatTemplateError::TooManyTurns(roles));
    }
    // One pass, so placeholder-like text inside the messages is never substituted again.
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, skip) = if tail.starts_with("{system}") {
            (systems.first().copied().unwrap_or(""), "{system}".len())
        } else if tail.starts_with("{user}") {
            (users.first().copied().unwrap_or(""), "{user}".len())
        } else {
            ("{", 1)
        };
        out.push_str(value);
        rest = &tail[skip..];
    }
    out.push_str(rest);
    Ok(out)
}

fn contents_of<'m>(messages: &'m [ChatMessage], role: &str) -> Vec<&'m str> {
    messages
        .iter()
        .filter(|m| m.role == role)
        .map(|m| m.content.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2_JINJA: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_renders_turns_and_generation_prompt() {
        let t = ChatTemplate::chatml();
        assert_eq!(
            t.render(Some("Be brief."), "Hi"),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn smollm2_template_keeps_its_default_system_message() {
        let t = ChatTemplate::from_jinja(SMOLLM2_JINJA);
        let default = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
        assert_eq!(
            t,
            ChatTemplate::ChatMl {
                default_system: Some(default.to_string())
            }
        );
        assert!(t.render(None, "Hi").starts_with(&format!(
            "<|im_start|>system\n{default}<|im_end|>\n<|im_start|>user\nHi"
        )));
        assert!(!t.render(Some("S"), "Hi").contains(default));
    }

    #[test]
    fn plain_template_substitutes_once() {
        let t = ChatTemplate::Plain {
            template: "{system}|Q: {user} {other}".into(),
        };
        assert_eq!(
            t.render(Some("sys"), "say {system}"),
            "sys|Q: say {system} {other}"
        );
        assert_eq!(t.render(None, "x"), "|Q: x {other}");
    }

    #[test]
    fn plain_template_rejects_conversations() {
        let t = ChatTemplate::Plain {
            template: "{user}".into(),
        };
        let msgs = [
            ChatMessage::new("user", "a"),
            ChatMessage::new("assistant", "b"),
        ];
        assert!(matches!(
            t.render_messages(&msgs, true),
            Err(ChatTemplateError::TooManyTurns(_))
        ));
        let bad = [ChatMessage::new("tool", "a")];
        assert!(matches!(
            ChatTemplate::chatml().render_messages(&bad, true),
            Err(ChatTemplateError::UnknownRole(_))
        ));
    }

    #[test]
    fn every_template_reads_back_from_its_jinja() {
        let templates = [
            ChatTemplate::chatml(),
            ChatTemplate::from_jinja(SMOLLM2_JINJA),
            ChatTemplate::ChatMl {
                default_system: Some("Plain words only".into()),
            },
            ChatTemplate::Lines,
            ChatTemplate::Plain {
                template: "{system}\n\nQuestion: {user}\nAnswer: it's { #} -#}".into(),
            },
        ];
        for t in templates {
            assert_eq!(
                ChatTemplate::from_jinja(&t.to_jinja()),
                t,
                "{}",
                t.to_jinja()
            );
        }
    }

    #[test]
    fn chatml_jinja_is_smollm2s_own_shape() {
        // The regenerated SmolLM2 template is the published one, byte for byte.
        assert_eq!(
            ChatTemplate::from_jinja(SMOLLM2_JINJA).to_jinja(),
            SMOLLM2_JINJA
        );
    }

    #[test]
    fn lines_writes_each_content_on_its_own_line() {
        let msgs = [
            ChatMessage::new("system", "s"),
            ChatMessage::new("user", "u"),
        ];
        assert_eq!(
            ChatTemplate::Lines.render_messages(&msgs, true).unwrap(),
            "s\nu\n"
        );
    }

    #[test]
    fn non_chatml_jinja_falls_back_to_raw() {
        assert_eq!(
            ChatTemplate::from_jinja("[INST] {{ m }} [/INST]"),
            ChatTemplate::Plain {
                template: "{user}".into()
            }
        );
    }
}
