//! The tokenizer half of a Hugging Face directory: `tokenizer.json` (the `tokenizers`
//! library's own serialization, with a BOS post-processor when prompts start with BOS),
//! `tokenizer_config.json` (special tokens, chat template) and `special_tokens_map.json`.

use std::path::Path;

use serde_json::{Map, Value, json};
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::processors::template::TemplateProcessing;

use crate::json::write_json;
use crate::{ExportError, Pretrained};

pub fn write(model: &Pretrained, dir: &Path) -> Result<Vec<String>, ExportError> {
    let tokenizer = &model.tokenizer;
    let special = tokenizer.special_tokens();
    let spelling = |id: Option<u32>| id.and_then(|id| tokenizer.id_to_token(id));
    let bos = spelling(special.bos);
    let mut inner = tokenizer.inner().clone();
    if let (true, Some(bos), Some(id)) = (special.add_bos, &bos, special.bos) {
        let processor = TemplateProcessing::builder()
            .try_single(format!("{bos} $A"))
            .and_then(|b| b.try_pair(format!("{bos} $A {bos} $B")))
            .map_err(|e| ExportError::Unexpressible(format!("BOS template: {e}")))?
            .special_tokens(vec![(bos.clone(), id)])
            .build()
            .map_err(|e| ExportError::Unexpressible(format!("BOS template: {e}")))?;
        inner.with_post_processor(Some(PostProcessorWrapper::Template(processor)));
    }
    let path = dir.join("tokenizer.json");
    let text = inner
        .to_string(false)
        .map_err(|e| ExportError::Unexpressible(format!("tokenizer.json: {e}")))?;
    std::fs::write(&path, text).map_err(|e| ExportError::io(&path, e))?;

    let eos = spelling(special.eos.first().copied());
    let pad = spelling(special.pad);
    let mut added = Map::new();
    for (id, token) in tokenizer.inner().get_added_tokens_decoder() {
        added.insert(
            id.to_string(),
            json!({
                "content": token.content,
                "lstrip": token.lstrip,
                "normalized": token.normalized,
                "rstrip": token.rstrip,
                "single_word": token.single_word,
                "special": token.special,
            }),
        );
    }
    let mut added: Vec<(String, Value)> = added.into_iter().collect();
    added.sort_by_key(|(id, _)| id.parse::<u32>().unwrap_or(u32::MAX));
    let jinja = model
        .chat_template_jinja
        .clone()
        .unwrap_or_else(|| model.chat_template.to_jinja());
    let config = json!({
        "add_bos_token": special.add_bos,
        "add_eos_token": false,
        "added_tokens_decoder": Map::from_iter(added),
        "bos_token": bos,
        "eos_token": eos,
        "pad_token": pad,
        "unk_token": null,
        "chat_template": jinja,
        "clean_up_tokenization_spaces": false,
        "model_max_length": model.config.max_position_embeddings,
        "tokenizer_class": "PreTrainedTokenizerFast",
    });
    write_json(&dir.join("tokenizer_config.json"), &config)?;

    let others: Vec<String> = tokenizer
        .inner()
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, t)| t.special)
        .map(|(_, t)| t.content)
        .filter(|t| ![&bos, &eos, &pad].contains(&&Some(t.clone())))
        .collect();
    let mut map = json!({ "bos_token": bos, "eos_token": eos, "pad_token": pad });
    if !others.is_empty() {
        let mut others = others;
        others.sort();
        map["additional_special_tokens"] = json!(others);
    }
    write_json(&dir.join("special_tokens_map.json"), &map)?;
    Ok(vec![
        "tokenizer.json".into(),
        "tokenizer_config.json".into(),
        "special_tokens_map.json".into(),
    ])
}
