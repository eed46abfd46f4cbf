//! The running `tagger.mined_grams`: a buffer of recent correct responses, the mining pass at
//! every N-th step, the lexicon swap, and the log of each mining.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use hicra_credit::Lexicon;
use hicra_credit::mining::{self, GramEmbedder, LexicalEmbedder, Mined};
use hicra_credit::taggers::{StrategicGrams, Tagger};
use hicra_flow::map::{Figures, MapLoop};
use hicra_flow::{BoxError, BuildContext, Stage, StageContext, StageResult};
use hicra_messages::RolloutBatch;
use serde::{Deserialize, Serialize};

use super::{Embedding, LexiconMode, MinedGramsConfig, MiningDoc, PolicyEmbedder};
use crate::policy::PolicyUpdate;

/// Dropped clusters written to the log after the kept ones, for context.
const DROPPED_LOGGED: usize = 20;

/// One line of `RUN/mined_grams.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiningLogLine {
    pub step: u64,
    /// Policy version whose hidden states embedded the grams (absent: lexical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<u64>,
    #[serde(flatten)]
    pub mined: Mined,
    /// Phrases the tagger uses from this step on.
    pub lexicon_size: usize,
    /// Wall time of the mining (embedding included), seconds.
    #[serde(default)]
    pub secs: f64,
}

pub struct MinedGrams {
    config: MinedGramsConfig,
    base: Vec<String>,
    tagger: StrategicGrams,
    /// `(step, response)` of recent correct responses, oldest first.
    buffer: VecDeque<(u64, MiningDoc)>,
    log_path: PathBuf,
}

impl MinedGrams {
    pub fn new(
        config: MinedGramsConfig,
        base: Lexicon,
        log_path: PathBuf,
        ctx: &BuildContext,
    ) -> Result<Self, BoxError> {
        let base_grams = base.grams().to_vec();
        let lexicon = match restore_log(&log_path, ctx.run.resume.as_ref().map(|r| r.step))? {
            Some(mined) => lexicon_with(config.mode, &base_grams, &mined)?,
            None => base,
        };
        Ok(Self {
            tagger: StrategicGrams::persisted(lexicon, &config.mask, ctx),
            config,
            base: base_grams,
            buffer: VecDeque::new(),
            log_path,
        })
    }

    /// Correct responses waiting to be mined.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The phrases the tagger uses now.
    pub fn lexicon(&self) -> &Lexicon {
        &self.tagger.lexicon
    }

    /// Whether `step` is a mining step.
    pub fn mines_at(&self, step: u64) -> bool {
        step > 0 && step.is_multiple_of(self.config.every_steps)
    }

    /// Adds the batch's correct responses to the buffer (evaluation batches are not mined).
    pub fn collect(&mut self, batch: &RolloutBatch) {
        if batch.eval {
            return;
        }
        for r in batch.rollouts().filter(|r| r.correct == Some(true)) {
            self.buffer.push_back((
                batch.step,
                MiningDoc {
                    text: r.text.clone(),
                    prompt_tokens: r.prompt_tokens.clone(),
                    tokens: r.tokens.clone(),
                    token_spans: r.token_spans.clone(),
                },
            ));
        }
        let window = match self.config.window_steps {
            0 => self.config.every_steps,
            w => w,
        };
        let oldest = (batch.step + 1).saturating_sub(window);
        while self.buffer.front().is_some_and(|(s, _)| *s < oldest) {
            self.buffer.pop_front();
        }
        while self.buffer.len() > self.config.max_documents {
            self.buffer.pop_front();
        }
    }

    /// Mines the buffer at `step` with `embedder` (the lexical one when `None`), swaps the
    /// lexicon and returns the log line.
    pub fn mine(
        &mut self,
        step: u64,
        policy: Option<&PolicyUpdate>,
    ) -> Result<MiningLogLine, BoxError> {
        let started = std::time::Instant::now();
        let docs: Vec<MiningDoc> = self.buffer.iter().map(|(_, d)| d.clone()).collect();
        let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        let mut mined = match (self.config.embedding, policy) {
            (Embedding::Lexical, _) => {
                let mut embedder =
                    LexicalEmbedder::new(texts.iter().map(|t| t.to_string()).collect());
                mining::mine(&texts, &mut embedder, &self.config.recipe)?
            }
            (Embedding::Policy, Some(update)) => {
                let model = update.model();
                let mut embedder = PolicyEmbedder {
                    model: &model,
                    docs: &docs,
                    vocab_size: update.codec.vocab_size(),
                };
                mining::mine(
                    &texts,
                    &mut embedder as &mut dyn GramEmbedder,
                    &self.config.recipe,
                )?
            }
            (Embedding::Policy, None) => {
                return Err(
                    "embedding = \"policy\" needs the `weights` input connected \
                            (inputs = { weights = \"learner.weights\" }) or use \
                            embedding = \"lexical\""
                        .into(),
                );
            }
        };
        self.tagger.lexicon = lexicon_with(self.config.mode, &self.base, &mined.grams)?;
        let kept = mined.clusters.iter().filter(|c| c.kept).count();
        mined.clusters.truncate(kept + DROPPED_LOGGED);
        tracing::info!(
            step,
            documents = mined.documents,
            clusters = kept,
            grams = ?mined.grams.iter().take(12).collect::<Vec<_>>(),
            "mined strategic grams"
        );
        Ok(MiningLogLine {
            step,
            policy_version: policy.map(|p| p.version),
            lexicon_size: self.tagger.lexicon.len(),
            mined,
            secs: started.elapsed().as_secs_f64(),
        })
    }

    /// One batch: collect, mine when due, tag; the log line of a mining.
    pub fn step(
        &mut self,
        batch: &mut RolloutBatch,
        policy: Option<&PolicyUpdate>,
    ) -> Result<Option<MiningLogLine>, BoxError> {
        self.collect(batch);
        let line = match self.mines_at(batch.step) && !batch.eval {
            true => Some(self.mine(batch.step, policy)?),
            false => None,
        };
        self.tagger.tag(batch)?;
        let m = &mut batch.metrics;
        m.insert(
            "mining/lexicon_size".into(),
            self.tagger.lexicon.len() as f64,
        );
        if let Some(line) = &line {
            m.insert("mining/documents".into(), line.mined.documents as f64);
            m.insert("mining/candidates".into(), line.mined.candidates as f64);
            let kept = line.mined.clusters.iter().filter(|c| c.kept).count();
            m.insert("mining/clusters".into(), kept as f64);
            m.insert("mining/mined_grams".into(), line.mined.grams.len() as f64);
            m.insert("timing/mining_secs".into(), line.secs);
        }
        Ok(line)
    }
}

impl Stage for MinedGrams {
    /// Takes the newest policy before each batch (waiting for one at a mining step), logs each
    /// mining.
    fn run(mut self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let weights = match self.config.embedding {
            Embedding::Policy => Some(ctx.latest::<PolicyUpdate>("weights")),
            Embedding::Lexical => None,
        };
        let mut policy: Option<Arc<PolicyUpdate>> = None;
        if let Some(dir) = self.log_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("cannot open {}: {e}", self.log_path.display()))?;
        MapLoop::new().run(ctx, |batch: &mut RolloutBatch| {
            if let Some(weights) = &weights {
                if let Some(update) = weights.try_take() {
                    policy = Some(update);
                }
                if policy.is_none() && self.mines_at(batch.step) && weights.is_connected() {
                    policy = weights.wait();
                }
            }
            if let Some(line) = self.step(batch, policy.as_deref())? {
                writeln!(log, "{}", serde_json::to_string(&line)?)?;
                log.flush()?;
            }
            Ok(Figures::new())
        })
    }
}

/// The phrases tagged with after mining `mined`: merged with the base or alone.
fn lexicon_with(mode: LexiconMode, base: &[String], mined: &[String]) -> Result<Lexicon, BoxError> {
    let mut grams = match mode {
        LexiconMode::Replace if !mined.is_empty() => Vec::new(),
        _ => base.to_vec(),
    };
    for g in mined {
        if !grams.iter().any(|b| b.eq_ignore_ascii_case(g)) {
            grams.push(g.clone());
        }
    }
    Ok(Lexicon::new(grams)?)
}

/// On a resumed run, the log's lines before the resume step are kept (later ones, written
/// after the checkpoint, are dropped) and the last one's grams come back; a fresh run starts
/// the log anew.
fn restore_log(path: &PathBuf, resume: Option<u64>) -> Result<Option<Vec<String>>, BoxError> {
    let Some(step) = resume else {
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let mut kept = String::new();
    let mut grams = None;
    for line in text.lines() {
        let Ok(parsed) = serde_json::from_str::<MiningLogLine>(line) else {
            continue;
        };
        if parsed.step < step {
            kept.push_str(line);
            kept.push('\n');
            grams = Some(parsed.mined.grams);
        }
    }
    std::fs::write(path, kept)?;
    Ok(grams)
}
