//! `hicra mine`: the strategic-gram mining recipe offline, over rollouts a run wrote
//! (`sink.rollouts`), embedding grams with a policy's hidden states (`--model`) or their
//! spelling; prints the ranked clusters and writes a lexicon `tagger.strategic_grams` reads.
//! An `--input` that does not exist is named as such (with every other input problem), apart
//! from inputs that hold no rollouts, or no correct ones.

use std::path::PathBuf;

use clap::Args;
use hicra_credit::mining::{self, LexicalEmbedder, Mined, MiningSettings};
use hicra_model::DeviceSpec;
use hicra_train::mined_grams::{MiningDoc, PolicyEmbedder};
use miette::IntoDiagnostic;

use crate::inputs::Inputs;
use crate::model_arg::{self, DEVICE_HELP, MODEL_HELP};

#[derive(Args, Debug)]
pub struct MineArgs {
    /// Rollout files (`RUN/rollouts/step-N.jsonl`), a run's `rollouts/` folder or a run
    /// directory; repeatable.
    #[arg(long, required = true)]
    input: Vec<PathBuf>,
    /// Embed with this policy's hidden states (the model that sampled the rollouts: their
    /// token ids are fed as they are); absent: embed grams by their spelling.
    #[arg(long, help = MODEL_HELP)]
    model: Option<String>,
    #[arg(long, default_value = "cpu", help = DEVICE_HELP)]
    device: DeviceSpec,
    /// Also mine evaluation rollouts (held-out prompts).
    #[arg(long)]
    include_eval: bool,
    /// Write the mined grams here as a lexicon (`{"grams": [...]}` plus the clusters).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the whole result as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Shortest and longest n-gram, in words.
    #[arg(long, default_value_t = 3)]
    min_words: usize,
    #[arg(long, default_value_t = 5)]
    max_words: usize,
    /// Fewest distinct responses a gram must occur in.
    #[arg(long, default_value_t = 2)]
    min_doc_freq: usize,
    /// Cosine similarity to join a cluster.
    #[arg(long, default_value_t = 0.8)]
    similarity: f32,
    /// Share of clusters kept, best first.
    #[arg(long, default_value_t = 0.2)]
    keep_share: f64,
    /// Clusters printed (kept ones first).
    #[arg(long, default_value_t = 30)]
    show: usize,
}

/// How to get rollout files (the help line of a missing `--input`).
const WRITE_ROLLOUTS: &str = "rollouts are written by a run's `sink.rollouts` stage (`hicra run \
    PIPELINE --out RUN` puts them under RUN/rollouts/)";

pub fn run(args: MineArgs) -> miette::Result<()> {
    // every input first, all problems at once: paths, the model, then the files' contents
    let mut inputs = Inputs::new();
    let mut records = Vec::new();
    for input in &args.input {
        if inputs.file_or_dir("--input", input, Some(WRITE_ROLLOUTS)) {
            let read = hicra_metrics::rollouts::read_all(input)
                .map_err(|e| miette::miette!("--input {}: {e}", input.display()));
            records.extend(inputs.take(read).unwrap_or_default());
        }
    }
    if let Some(spec) = &args.model {
        inputs.model("--model", spec);
    }
    inputs.finish()?;
    let read = records.len();
    let docs: Vec<MiningDoc> = records
        .into_iter()
        .filter(|r| r.correct == Some(true) && (args.include_eval || !r.eval))
        .map(|r| MiningDoc {
            text: r.response,
            prompt_tokens: r.prompt_token_ids,
            tokens: r.token_ids,
            token_spans: r.token_spans,
        })
        .collect();
    if read == 0 {
        miette::bail!(
            help = WRITE_ROLLOUTS,
            "no rollouts in {:?}: nothing to mine",
            args.input
        );
    }
    if docs.is_empty() {
        miette::bail!(
            "no correct responses among the {read} rollouts in {:?}: nothing to mine",
            args.input
        );
    }
    let settings = MiningSettings {
        min_words: args.min_words,
        max_words: args.max_words,
        min_doc_freq: args.min_doc_freq,
        similarity: args.similarity,
        keep_share: args.keep_share,
        ..MiningSettings::default()
    };
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let mined = match &args.model {
        Some(spec) => {
            let device = model_arg::open_device(args.device)?;
            let loaded = model_arg::load(spec, None, &device)?;
            let mut embedder = PolicyEmbedder {
                model: &loaded.model,
                docs: &docs,
                vocab_size: loaded.config.vocab_size,
            };
            mining::mine(&texts, &mut embedder, &settings)
        }
        None => {
            let mut embedder = LexicalEmbedder::new(texts.iter().map(|t| t.to_string()).collect());
            mining::mine(&texts, &mut embedder, &settings)
        }
    }
    .map_err(|e| miette::miette!("{e}"))?;
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&mined).into_diagnostic()?;
        std::fs::write(out, text + "\n").into_diagnostic()?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&mined).into_diagnostic()?
        );
    } else {
        print_table(&mined, args.show, args.model.as_deref());
    }
    Ok(())
}

fn print_table(mined: &Mined, show: usize, model: Option<&str>) {
    let kept = mined.clusters.iter().filter(|c| c.kept).count();
    println!(
        "{} correct responses, {} candidate grams, {} clusters, {} kept ({} grams); embedded by {}",
        mined.documents,
        mined.candidates,
        mined.clusters.len(),
        kept,
        mined.grams.len(),
        model.map_or("spelling".to_string(), |m| format!(
            "the hidden states of {m}"
        ))
    );
    println!("{:>4}  {:>6}  {:4}  grams", "rank", "docs", "kept");
    for (rank, c) in mined.clusters.iter().take(show).enumerate() {
        let mut grams = c
            .grams
            .iter()
            .take(6)
            .cloned()
            .collect::<Vec<_>>()
            .join(" | ");
        if c.grams.len() > 6 {
            grams.push_str(&format!(" | (+{})", c.grams.len() - 6));
        }
        let mark = if c.kept { "yes" } else { "" };
        println!("{:>4}  {:>6}  {:4}  {grams}", rank + 1, c.doc_freq, mark);
    }
}
