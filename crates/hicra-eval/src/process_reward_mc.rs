//! `reward.process`'s second source of step scores: Monte-Carlo estimates (Math-Shepherd's soft
//! labels, VinePPO's values). For step `k < n` of a training response, `completions`
//! continuations of the prefix (the prompt, then the response's tokens up to the end of step
//! `k`) are sampled from a *fixed* completer policy and judged by the checker as part of the
//! whole response; the step's score is the share judged correct. The last step's score is the
//! rollout's own verdict (`Rollout::correct`): its prefix is the whole response.
//!
//! The draws are those of `label.montecarlo` ([`hicra_prm::annotate::roll_out`]: the
//! completions of a prefix share its prefill), the prefixes of `batch` responses in one draw,
//! each prefix from its own seed, `derive_seed(stage seed, "complete/{batch step}/{group}/
//! {rollout}/{step}")`, so a score depends neither on the other responses of the batch nor on
//! the order they come in (as long as `max_seq_len` leaves every prefix its `max_new_tokens`).

use hicra_flow::{Invalid, derive_seed};
use hicra_messages::{Prompt, RolloutBatch};
use hicra_model::{Device, Generator, RuntimeBackend, Sample, SampleRequest};
use hicra_prm::annotate::{AnnotateSettings, Completer, Cost, Prefix, roll_out};
use hicra_tasks::answers::Checker;
use hicra_tasks::steps::Segmentation;
use hicra_train::TextCodec;
use serde::Deserialize;

use super::{Cut, name};

/// What `montecarlo` names, as a help line.
pub const MAKE_COMPLETER: &str = "`montecarlo.model` is a fixed completer policy: a hicra run \
    (`hicra run pipelines/chains-policy.toml --out runs/chains-policy` makes one), a \
    checkpoint, a GGUF file or `smollm2`, relative to the working directory";

/// `reward.process`'s `montecarlo = { ... }`: step scores from completions of every step prefix.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE and docs/process-supervision.md show
/// each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonteCarloConfig {
    /// The completer: a hicra run, a checkpoint, a GGUF file or a Hugging Face directory
    /// (`smollm2` for the fetched SmolLM2), relative to the working directory. A fixed policy
    /// (the stage does not receive the trained policy's weights); it must share the policy's
    /// tokenizer. Required.
    pub model: String,
    /// Continuations sampled per step prefix (K). Default 8.
    pub completions: usize,
    /// Temperature of the continuations (> 0). Default 0.8.
    pub temperature: f32,
    /// Nucleus mass of the continuations (1 = off). Default 1.
    pub top_p: f32,
    /// Most tokens per whole response: a continuation takes what its prefix leaves. Default 64.
    pub max_new_tokens: usize,
    /// The checker: `boxed`, `math` or `countdown`. Default `math`.
    pub verifier: String,
    /// How responses are cut into steps: `newline`, `blank-line`, `numbered`, `tokens:N`,
    /// `text:DELIM`. Default `newline`.
    pub steps: Segmentation,
}

impl Default for MonteCarloConfig {
    fn default() -> Self {
        let s = AnnotateSettings::default();
        Self {
            model: String::new(),
            completions: s.completions,
            temperature: s.temperature,
            top_p: s.top_p,
            max_new_tokens: s.max_new_tokens,
            verifier: "math".into(),
            steps: s.segmentation,
        }
    }
}

impl MonteCarloConfig {
    /// The problems of the table, each on its `montecarlo.FIELD`.
    pub fn check(&self) -> Vec<Invalid> {
        let field = |f: &str| format!("montecarlo.{f}");
        let mut problems = Vec::new();
        if self.model.is_empty() {
            problems.push(
                Invalid::new(
                    &field("model"),
                    "name the policy that completes step prefixes",
                )
                .help(MAKE_COMPLETER),
            );
        } else if let Err(p) = hicra_train::trained::check_source(&self.model) {
            let help = p.help.clone().unwrap_or_else(|| MAKE_COMPLETER.into());
            problems.push(p.help(help).invalid(&field("model")));
        }
        if self.completions == 0 {
            problems.push(
                Invalid::new(
                    &field("completions"),
                    "sample at least 1 completion per step",
                )
                .help("Math-Shepherd samples 8 per step; the score is the share correct"),
            );
        }
        if self.temperature.is_nan() || self.temperature <= 0.0 {
            problems.push(Invalid::new(
                &field("temperature"),
                "Monte-Carlo estimates need random completions: temperature > 0",
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            problems.push(Invalid::new(&field("top_p"), "must be in (0, 1]"));
        }
        if self.max_new_tokens == 0 {
            problems.push(Invalid::new(
                &field("max_new_tokens"),
                "leave completions at least 1 token",
            ));
        }
        if let Err(e) = self.checker() {
            problems.push(Invalid::new(&field("verifier"), e));
        }
        if let Err(e) = self.steps.validate() {
            problems.push(Invalid::new(&field("steps"), e));
        }
        problems
    }

    /// The checker `verifier` names.
    pub fn checker(&self) -> Result<Box<dyn Checker>, String> {
        let empty = hicra_flow::Value::parse_document("", 0).expect("an empty document parses");
        hicra_tasks::checkers::checker_for(&format!("verifier.{}", self.verifier), &empty)
    }

    fn settings(&self) -> AnnotateSettings {
        AnnotateSettings {
            completions: self.completions,
            temperature: self.temperature,
            top_p: self.top_p,
            max_new_tokens: self.max_new_tokens,
            segmentation: self.steps.clone(),
            ..AnnotateSettings::default()
        }
    }
}

/// A loaded completer policy.
struct Policy {
    generator: Generator<RuntimeBackend>,
    codec: TextCodec,
    device: Device,
}

impl Completer for Policy {
    fn codec(&self) -> &TextCodec {
        &self.codec
    }

    fn context(&self) -> usize {
        self.generator.model().max_seq_len()
    }

    fn draw(&self, request: &SampleRequest<'_>) -> Vec<Vec<Sample>> {
        self.generator.sample(request, &self.device)
    }
}

/// The Monte-Carlo scorer: a completer, a checker, the rule and the stage's seed.
pub struct MonteCarlo {
    completer: Box<dyn Completer>,
    checker: Box<dyn Checker>,
    settings: AnnotateSettings,
    seed: u64,
    /// Responses whose prefixes are completed in one draw.
    batch: usize,
    /// Where the completer came from, for messages.
    pub origin: String,
}

/// What scoring a batch drew.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drawn {
    /// Completions sampled.
    pub completions: usize,
    /// Tokens they hold.
    pub completion_tokens: usize,
}

impl MonteCarlo {
    /// A scorer over `completer` (checked config assumed).
    pub fn new(
        completer: Box<dyn Completer>,
        config: &MonteCarloConfig,
        seed: u64,
        batch: usize,
    ) -> Result<Self, String> {
        Ok(Self {
            completer,
            checker: config.checker()?,
            settings: config.settings(),
            seed,
            batch: batch.max(1),
            origin: config.model.clone(),
        })
    }

    /// Loads `config.model` with RoPE tables for `max_seq_len` positions on `device`.
    pub fn load(
        config: &MonteCarloConfig,
        max_seq_len: usize,
        batch: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self, String> {
        let spec = &config.model;
        let loaded =
            hicra_train::trained::load_policy::<RuntimeBackend>(spec, Some(max_seq_len), device)
                .map_err(|e| format!("the completer {spec}: {e}"))?;
        let info = loaded.checkpoint.ok_or_else(|| {
            format!("the completer {spec} has random weights and no tokenizer: {MAKE_COMPLETER}")
        })?;
        let policy = Policy {
            generator: Generator::new(loaded.model),
            codec: TextCodec::Pretrained(Box::new(info)),
            device: device.clone(),
        };
        Self::new(Box::new(policy), config, seed, batch)
    }

    pub fn codec(&self) -> &TextCodec {
        self.completer.codec()
    }

    pub fn segmentation(&self) -> &Segmentation {
        &self.settings.segmentation
    }

    /// The step scores of every cut rollout of `batch` (in batch order, `None` cuts left
    /// out), and what was drawn. Errors name the rollout.
    pub fn score(
        &self,
        batch: &RolloutBatch,
        cuts: &[Vec<Option<Cut>>],
    ) -> Result<(Vec<Vec<f64>>, Drawn), String> {
        let context = self.completer.context();
        let mut scores: Vec<Vec<f64>> = Vec::new();
        // (response, step, prefix), responses in order
        let mut jobs: Vec<(usize, usize, Prefix<'_>)> = Vec::new();
        for (g, (group, cuts)) in batch.groups.iter().zip(cuts).enumerate() {
            let prompt: &Prompt = &group.prompt;
            for (i, (r, cut)) in group.rollouts.iter().zip(cuts).enumerate() {
                let Some(cut) = cut else { continue };
                let named = |what: &str| name(&prompt.id, i, what);
                let outcome = r.correct.ok_or_else(|| {
                    named(
                        "no verdict for its last step: place reward.process with `montecarlo` \
                         after a verifier",
                    )
                })?;
                let n = cut.token_ends.len();
                let mut own = vec![0.0; n];
                own[n - 1] = f64::from(u8::from(outcome));
                for (k, &used) in cut.token_ends[..n - 1].iter().enumerate() {
                    let len = r.prompt_tokens.len() + used;
                    if len >= context {
                        return Err(named(&format!(
                            "its prompt and step {} are {len} tokens: the completer's {context} \
                             positions leave no room to complete them (raise max_seq_len)",
                            k + 1
                        )));
                    }
                    let seed =
                        derive_seed(self.seed, &format!("complete/{}/{g}/{i}/{k}", batch.step));
                    let prefix = Prefix {
                        prompt,
                        prompt_ids: &r.prompt_tokens,
                        tokens: &r.tokens,
                        used,
                        seed,
                    };
                    jobs.push((scores.len(), k, prefix));
                }
                scores.push(own);
            }
        }
        let mut cost = Cost::default();
        let mut drawn = Drawn::default();
        let mut rest = jobs.as_slice();
        while let Some(&(first, ..)) = rest.first() {
            let take = rest
                .iter()
                .position(|&(x, ..)| x >= first + self.batch)
                .unwrap_or(rest.len());
            let (chunk, after) = rest.split_at(take);
            rest = after;
            let prefixes: Vec<Prefix<'_>> = chunk.iter().map(|&(.., p)| p).collect();
            let rolled = roll_out(
                self.completer.as_ref(),
                self.checker.as_ref(),
                &prefixes,
                &self.settings,
                &mut cost,
            )?;
            for (&(x, k, p), r) in chunk.iter().zip(rolled) {
                drawn.completions += r.drawn;
                scores[x][k] = if r.drawn > 0 {
                    r.correct as f64 / r.drawn as f64
                } else {
                    // no room left to complete: the prefix is judged as it stands
                    let (text, _) = self.codec().decode_with_spans(&p.tokens[..p.used])?;
                    f64::from(u8::from(self.checker.judge(p.prompt, &text).correct))
                };
            }
        }
        drawn.completion_tokens = cost.completion_tokens;
        Ok((scores, drawn))
    }
}

#[cfg(test)]
#[path = "process_reward_mc_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "process_reward_mc_stage_tests.rs"]
mod stage_tests;
