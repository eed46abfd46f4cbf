//! `source.dataset`: prompts from a JSONL or Parquet file.
//!
//! The file is read once when the stage is built, so a missing file or a wrong field name is
//! an error before anything runs. Each row becomes a [`Prompt`] through a field mapping (a
//! [`Preset`] for GSM8K and MATH-500, or `question_field`/`answer_field`/... for any other
//! file) and the `prompt` format. A row that cannot be read (broken JSON, a missing field, an
//! empty answer) is reported with its file and line and skipped, or stops the build with
//! `on_bad_row = "fail"`; it is never dropped silently.
//!
//! The stream is a pure function of the run seed: rows are split between `train` and `eval`
//! by a hash of their id (so a train stage and an eval stage of the same file never overlap),
//! shuffled afresh each epoch, and each row may be repeated. Prompt `cursor`s number the
//! stream, so a resumed run replays it and skips what was used.

pub mod preset;
pub mod read;
mod rows;

use std::path::PathBuf;

use hicra_flow::{
    BoxError, BuildContext, Invalid, Ports, Stage, StageConfig, StageContext, StageResult,
    derive_seed,
};
use hicra_messages::Prompt;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::format::PromptFormat;
pub use preset::{AnswerStyle, Mapping, Preset};
pub use read::{BadRow, FileFormat, Row, Table};
use rows::{mapping, to_prompt};

/// How to get a missing dataset file (the help line of every such error).
pub const FETCH_DATA: &str = "paths are relative to the working directory; scripts/fetch-data.sh puts GSM8K and MATH-500 under data/";

/// What to do with a row that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRow {
    /// Report it (file and line) and go on.
    #[default]
    Skip,
    /// Report it and refuse to build the stage.
    Fail,
}

/// Which rows of the train/eval split a stage emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Every row (`eval_fraction` ignored).
    #[default]
    All,
    /// Rows not held out.
    Train,
    /// The held-out rows (`eval_fraction` of them, chosen by a hash of the id).
    Eval,
}

/// `path` is required, so the defaults are per field: `#[serde(default)]` (the type's own
/// default) or the one function named.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// The file, relative to the working directory (`scripts/fetch-data.sh` puts GSM8K and
    /// MATH-500 under `data/`).
    pub path: PathBuf,
    /// `jsonl` or `parquet`; absent = from the file extension.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// `gsm8k`, `math500` or `custom`: the field mapping and answer style.
    #[serde(default)]
    pub preset: Preset,
    /// Field holding the question (required with `custom`).
    #[serde(default)]
    pub question_field: Option<String>,
    /// Field holding the answer (required with `custom`).
    #[serde(default)]
    pub answer_field: Option<String>,
    /// Field holding a row id; absent = the preset's, else `<task>-<line>`.
    #[serde(default)]
    pub id_field: Option<String>,
    /// Field holding a worked solution, copied to `meta.solution` (for SFT warm-ups); absent =
    /// the preset's, else none.
    #[serde(default)]
    pub solution_field: Option<String>,
    /// More fields copied into `meta` (e.g. `["level"]`); absent = the preset's, else none.
    #[serde(default)]
    pub meta_fields: Option<Vec<String>>,
    /// `raw`, `after_hashes` (`#### N`) or `last_boxed`; absent = the preset's, else `raw`.
    #[serde(default)]
    pub answer_style: Option<AnswerStyle>,
    /// Task name on every prompt (verifiers and metrics see it); absent = the preset's name,
    /// else the file stem.
    #[serde(default)]
    pub task: Option<String>,
    /// `all`, `train` or `eval`.
    #[serde(default)]
    pub split: Split,
    /// Fraction of rows held out for `split = "eval"`.
    #[serde(default)]
    pub eval_fraction: f64,
    /// Shuffle the rows, afresh each epoch (seeded).
    #[serde(default = "yes")]
    pub shuffle: bool,
    /// Passes over the rows; 0 = endless.
    #[serde(default = "one")]
    pub epochs: u64,
    /// Each row is emitted this many times in a row (ids get a `/k` suffix).
    #[serde(default = "one")]
    pub repeat: u64,
    /// Stop after this many prompts; 0 = no cap.
    #[serde(default)]
    pub count: u64,
    /// `skip` (report and go on) or `fail`.
    #[serde(default)]
    pub on_bad_row: OnBadRow,
    /// System message and user template.
    #[serde(default)]
    pub prompt: PromptFormat,
}

fn yes() -> bool {
    true
}
fn one() -> u64 {
    1
}

impl StageConfig for DatasetConfig {
    const KIND: &'static str = "source.dataset";
    const SUMMARY: &'static str = "prompts from a JSONL/Parquet file (GSM8K and MATH-500 presets), split, shuffled, resumable";
    const EXAMPLE: &'static str = r#"[stages.gsm8k]
kind = "source.dataset"
path = "data/gsm8k/train.jsonl"
# preset = "gsm8k"        # or "math500"; absent = "custom", which needs question_field/answer_field
# format = "jsonl"        # default: from the extension ("parquet" for .parquet)
# question_field = "question"   # these six default to the preset's mapping
# answer_field = "answer"
# id_field = "id"
# solution_field = "solution"
# meta_fields = ["level"]
# answer_style = "after_hashes"   # or "raw", "last_boxed"
# task = "gsm8k"          # default: the preset's name, else the file stem
# split = "train"         # or "eval" (eval_fraction of the rows); absent = "all"
eval_fraction = 0.0
shuffle = true
epochs = 1                # 0 = endless
repeat = 1
count = 0                 # 0 = no cap
on_bad_row = "skip"       # or "fail"
prompt = { system = "", template = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}." }
"#;

    fn ports(&self) -> Ports {
        Ports::new().output::<Prompt>("prompts", "dataset questions with their gold answers")
    }

    fn check(&self, _ctx: &BuildContext) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if let Err(problem) = hicra_flow::files::check_file(&self.path) {
            problems.push(problem.if_missing(FETCH_DATA).invalid("path"));
        } else if self.format.is_none() && FileFormat::from_path(&self.path).is_none() {
            problems.push(
                Invalid::new(
                    "path",
                    format!(
                        "cannot tell the format of {} from its extension",
                        self.path.display()
                    ),
                )
                .help("set format = \"jsonl\" or \"parquet\""),
            );
        }
        if !(0.0..=1.0).contains(&self.eval_fraction) {
            let message = format!(
                "eval_fraction must be in [0, 1], got {}",
                self.eval_fraction
            );
            problems.push(Invalid::new("eval_fraction", message));
        }
        if self.repeat == 0 {
            problems.push(Invalid::new("repeat", "repeat must be at least 1"));
        }
        problems.extend(mapping(self).err().map(Invalid::whole));
        problems.extend(
            self.prompt
                .validate()
                .err()
                .map(|e| Invalid::new("prompt", e)),
        );
        problems
    }

    fn endless(&self) -> bool {
        self.count == 0 && self.epochs == 0
    }

    fn build(self, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        Ok(Box::new(Dataset::load(self, ctx)?))
    }
}

/// A loaded dataset, ready to stream.
pub struct Dataset {
    config: DatasetConfig,
    prompts: Vec<Prompt>,
    seed: u64,
}

impl Dataset {
    /// Reads and maps the file; `ctx` gives the seeds.
    pub fn load(config: DatasetConfig, ctx: &BuildContext) -> Result<Self, String> {
        config.prompt.validate()?;
        if !(0.0..=1.0).contains(&config.eval_fraction) {
            return Err(format!(
                "eval_fraction must be in [0, 1], got {}",
                config.eval_fraction
            ));
        }
        if config.repeat == 0 {
            return Err("repeat must be at least 1".into());
        }
        let mapping = mapping(&config)?;
        let format = match config.format {
            Some(f) => f,
            None => FileFormat::from_path(&config.path).ok_or_else(|| {
                format!(
                    "cannot tell the format of {} from its extension: set format = \"jsonl\" or \"parquet\"",
                    config.path.display()
                )
            })?,
        };
        let task = config.task.clone().unwrap_or_else(|| {
            config.preset.task().map(str::to_string).unwrap_or_else(|| {
                config
                    .path
                    .file_stem()
                    .map_or("dataset".into(), |s| s.to_string_lossy().into_owned())
            })
        });
        let table = read::read(&config.path, format)?;
        let (mut prompts, mut bad) = (Vec::new(), table.bad);
        for row in &table.rows {
            match to_prompt(row, config.preset, &mapping, &task, &config.prompt) {
                Ok(prompt) => prompts.push(prompt),
                Err(reason) => bad.push(BadRow {
                    number: row.number,
                    reason,
                }),
            }
        }
        bad.sort_by_key(|b| b.number);
        let place = |b: &BadRow| {
            format!(
                "{}:{} {}: {}",
                config.path.display(),
                format.row_word(),
                b.number,
                b.reason
            )
        };
        if !bad.is_empty() && config.on_bad_row == OnBadRow::Fail {
            let shown: Vec<String> = bad.iter().take(5).map(place).collect();
            return Err(format!(
                "{} unreadable row(s) (on_bad_row = \"fail\"):\n  {}{}",
                bad.len(),
                shown.join("\n  "),
                if bad.len() > 5 { "\n  ..." } else { "" }
            ));
        }
        for b in &bad {
            tracing::warn!(stage = %ctx.id, "{}; row skipped", place(b));
        }
        if !bad.is_empty() {
            tracing::warn!(stage = %ctx.id, skipped = bad.len(), kept = prompts.len(), "rows skipped");
        }
        let split_seed = derive_seed(ctx.run.seed, "dataset/split");
        prompts.retain(|p| match config.split {
            Split::All => true,
            Split::Train => !held_out(split_seed, &p.id, config.eval_fraction),
            Split::Eval => held_out(split_seed, &p.id, config.eval_fraction),
        });
        if prompts.is_empty() {
            return Err(format!(
                "{} gives no prompts for split {:?} (rows read: {}, unreadable: {})",
                config.path.display(),
                config.split,
                table.rows.len(),
                bad.len()
            ));
        }
        Ok(Self {
            seed: ctx.stage_seed(),
            config,
            prompts,
        })
    }

    /// Rows kept after mapping and splitting.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// Prompts in one epoch.
    fn per_epoch(&self) -> u64 {
        self.prompts.len() as u64 * self.config.repeat
    }

    /// Prompts the stream holds in all (`None`: endless).
    pub fn total(&self) -> Option<u64> {
        let all = (self.config.epochs > 0).then(|| self.config.epochs * self.per_epoch());
        match (all, self.config.count) {
            (all, 0) => all,
            (Some(all), cap) => Some(all.min(cap)),
            (None, cap) => Some(cap),
        }
    }

    /// The order of rows in `epoch`.
    fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.prompts.len()).collect();
        if self.config.shuffle {
            let seed = derive_seed(self.seed, &format!("epoch/{epoch}"));
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        }
        order
    }

    /// Streams every prompt in order (cursor 0, 1, ...), handing each to `emit`; stops at the
    /// end or at the first error `emit` returns.
    pub fn stream(
        &self,
        mut emit: impl FnMut(Prompt) -> Result<(), BoxError>,
    ) -> Result<(), BoxError> {
        let total = self.total();
        let mut index = 0u64;
        let mut epoch = 0u64;
        loop {
            let order = self.order(epoch);
            for &row in &order {
                for k in 0..self.config.repeat {
                    if total.is_some_and(|t| index >= t) {
                        return Ok(());
                    }
                    let mut prompt = self.prompts[row].clone();
                    if self.config.repeat > 1 {
                        prompt.id = format!("{}/{k}", prompt.id);
                    }
                    prompt.cursor = index;
                    emit(prompt)?;
                    index += 1;
                }
            }
            epoch += 1;
        }
    }
}

impl Dataset {
    /// The first `n` prompts of the stream (all of them when it holds fewer): a preview that
    /// ends even on endless streams.
    pub fn first(&self, n: usize) -> Vec<Prompt> {
        let mut out = Vec::new();
        let _ = self.stream(|p| {
            out.push(p);
            if out.len() >= n {
                Err("enough".into())
            } else {
                Ok(())
            }
        });
        out
    }
}

impl Stage for Dataset {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let out = ctx.output::<Prompt>("prompts");
        self.stream(|p| Ok(out.send(p)?))
    }
}

/// Whether a row id falls in the held-out fraction (stable for a run seed).
fn held_out(seed: u64, id: &str, fraction: f64) -> bool {
    let h = derive_seed(seed, id);
    ((h >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

#[cfg(test)]
mod tests;
