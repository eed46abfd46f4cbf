//! `hicra tag`: the strategic grams found in a text, with their character spans and the share
//! of the text's words they cover. `--input` and `--lexicon` are checked together first.

use std::path::PathBuf;

use clap::Args;
use hicra_credit::Lexicon;
use hicra_credit::taggers::MINE_LEXICON;
use serde_json::{Value, json};

use crate::inputs::Inputs;
use crate::jsonl::read_objects;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["text", "input"])))]
pub struct TagArgs {
    /// The text to tag.
    #[arg(long)]
    text: Option<String>,
    /// JSON-lines input with a `text` field (`-` for stdin); other fields are passed through.
    #[arg(long)]
    input: Option<PathBuf>,
    /// A lexicon file instead of the paper's strategic grams.
    #[arg(long)]
    lexicon: Option<PathBuf>,
}

pub fn run(args: TagArgs) -> miette::Result<()> {
    let mut inputs = Inputs::new();
    let lexicon = match &args.lexicon {
        Some(path) if inputs.file("--lexicon", path, Some(MINE_LEXICON)) => {
            inputs.take(Lexicon::from_file(path).map_err(|e| miette::miette!("--lexicon: {e}")))
        }
        Some(_) => None,
        None => Some(Lexicon::paper()),
    };
    if let Some(path) = &args.input {
        inputs.file("--input", path, None);
    }
    inputs.finish()?;
    let lexicon = lexicon.expect("checked with the input");
    if let Some(text) = &args.text {
        println!("{}", tag(&lexicon, text, serde_json::Map::new()));
    }
    if let Some(path) = &args.input {
        for (line, mut object) in read_objects(path)? {
            let Some(Value::String(text)) = object.remove("text") else {
                miette::bail!("{}:{line}: expected a string field `text`", path.display());
            };
            println!("{}", tag(&lexicon, &text, object));
        }
    }
    Ok(())
}

/// Character (not byte) offsets, so spans index the text as most tools count it.
fn tag(lexicon: &Lexicon, text: &str, mut object: serde_json::Map<String, Value>) -> Value {
    let matches = lexicon.find(text);
    let char_at = |byte: usize| text[..byte].chars().count();
    let spans: Vec<Value> = matches
        .iter()
        .map(|m| json!({ "gram": m.gram, "start": char_at(m.start), "end": char_at(m.end), "text": &text[m.start..m.end] }))
        .collect();
    let words: Vec<(usize, usize)> = text
        .split_whitespace()
        .map(|w| {
            let start = w.as_ptr() as usize - text.as_ptr() as usize;
            (start, start + w.len())
        })
        .collect();
    let planning = hicra_credit::lexicon::tokens_in_matches(&words, &matches)
        .iter()
        .filter(|m| **m)
        .count();
    let share = if words.is_empty() {
        0.0
    } else {
        planning as f64 / words.len() as f64
    };
    object.insert("text".into(), text.into());
    object.insert("matches".into(), spans.into());
    object.insert("planning_words".into(), planning.into());
    object.insert("words".into(), words.len().into());
    object.insert("planning_share".into(), share.into());
    Value::Object(object)
}
