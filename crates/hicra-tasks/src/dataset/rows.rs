//! From a configuration to a field [`Mapping`] (a preset's defaults, overridden field by
//! field), and from a row to a [`Prompt`] through it.

use std::collections::BTreeMap;

use hicra_messages::Prompt;
use serde_json::Value;

use super::{AnswerStyle, DatasetConfig, Mapping, Preset, Row};
use crate::format::PromptFormat;

pub(super) fn mapping(config: &DatasetConfig) -> Result<Mapping, String> {
    let base = config.preset.mapping();
    let pick = |given: &Option<String>, from_preset: Option<&String>, name: &str| {
        given
            .clone()
            .or_else(|| from_preset.cloned())
            .ok_or_else(|| format!("{name} is required when preset = \"custom\""))
    };
    Ok(Mapping {
        question: pick(
            &config.question_field,
            base.as_ref().map(|m| &m.question),
            "question_field",
        )?,
        answer: pick(
            &config.answer_field,
            base.as_ref().map(|m| &m.answer),
            "answer_field",
        )?,
        id: config
            .id_field
            .clone()
            .or_else(|| base.as_ref().and_then(|m| m.id.clone())),
        solution: config
            .solution_field
            .clone()
            .or_else(|| base.as_ref().and_then(|m| m.solution.clone())),
        meta: config
            .meta_fields
            .clone()
            .or_else(|| base.as_ref().map(|m| m.meta.clone()))
            .unwrap_or_default(),
        style: config
            .answer_style
            .or(base.as_ref().map(|m| m.style))
            .unwrap_or(AnswerStyle::Raw),
    })
}

/// A field as text: strings as they are, numbers printed; anything else is not text.
fn text_field(row: &Row, name: &str) -> Result<String, String> {
    match row.fields.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Null) | None => Err(format!("missing field `{name}`")),
        Some(other) => Err(format!("field `{name}` is not text: {other}")),
    }
}

pub(super) fn to_prompt(
    row: &Row,
    preset: Preset,
    mapping: &Mapping,
    task: &str,
    format: &PromptFormat,
) -> Result<Prompt, String> {
    let question = text_field(row, &mapping.question)?;
    if question.trim().is_empty() {
        return Err(format!("field `{}` is empty", mapping.question));
    }
    let answer_text = text_field(row, &mapping.answer)?;
    let answer = mapping
        .style
        .gold(&answer_text)
        .map_err(|e| format!("field `{}`: {e}", mapping.answer))?;
    let id = match &mapping.id {
        Some(field) => text_field(row, field)?,
        None => format!("{task}-{}", row.number),
    };
    let mut meta = BTreeMap::new();
    if let Some(field) = &mapping.solution
        && let Ok(solution) = text_field(row, field)
    {
        meta.insert(
            "solution".to_string(),
            Value::String(preset.solution(&solution)),
        );
    }
    for field in &mapping.meta {
        if let Some(value) = row.fields.get(field) {
            meta.insert(field.clone(), value.clone());
        }
    }
    Ok(Prompt {
        id,
        task: task.to_string(),
        messages: format.messages(&question),
        question,
        answer,
        meta,
        cursor: 0,
    })
}
