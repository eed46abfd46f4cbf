//! Sampling with per-token log-probabilities and entropies, checked against a teacher-forced
//! pass.
//!
//! The model comes from anything `--model` takes in the `hicra` binary (a `.gguf` file, a
//! Hugging Face directory, a hicra run or checkpoint directory; default: the 27k-parameter
//! GGUF fixture of the test suite, random weights with a real byte-level tokenizer). The
//! prompt is tokenized, [`sample_batch`] draws `--samples` responses in one batch with a KV
//! cache, and every token is printed with its log-probability and the entropy of the
//! distribution it was drawn from (both of `softmax(logits / T)`, the distribution the learner
//! trains on). Then [`score_tempered_with`] recomputes the same numbers teacher-forced, in one
//! forward pass over prompt + response as the learner does, and the largest differences are
//! printed: on the CPU the sampler runs on host vectors and the scorer through burn tensors,
//! so this is two implementations agreeing to float rounding.
//!
//! ```sh
//! cargo run --release --example generate_logprobs
//! cargo run --release --example generate_logprobs -- --model runs/quickstart --prompt "B 7" \
//!     --samples 4 --temperature 0.6
//! ```

mod common;

use std::process::ExitCode;

use clap::Parser;
use hicra::model::{
    Entropies, RuntimeBackend, Sample, SamplingParams, cpu, sample_batch, score_tempered_with,
};
use hicra::train::trained::load_policy;

/// Samples responses to a prompt and prints every token with its log-prob and entropy.
#[derive(Parser)]
struct Args {
    /// A .gguf file, a Hugging Face directory, or a hicra run / checkpoint directory.
    #[arg(
        long,
        default_value = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crates/hicra-pretrained/tests/fixtures/tiny_llama.gguf"
        )
    )]
    model: String,
    /// The prompt, tokenized as is (no chat template).
    #[arg(long, default_value = "The answer is")]
    prompt: String,
    /// Responses to draw (one batch).
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Most tokens per response.
    #[arg(long, default_value_t = 8)]
    max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy (log-probs then at temperature 1).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Samples and prints; returns the tokens compared and the largest log-prob and entropy
/// differences from the teacher-forced pass.
fn run(args: Args) -> Result<(usize, f32, f32), String> {
    let device = cpu();
    let loaded = load_policy::<RuntimeBackend>(&args.model, None, &device)?;
    let info = loaded.checkpoint.as_ref().ok_or_else(|| {
        format!(
            "`{}` has no tokenizer; give a pretrained model or a hicra run",
            args.model
        )
    })?;
    let tokenizer = &info.tokenizer;
    let prompt = tokenizer
        .encode_prompt(&args.prompt)
        .map_err(|e| e.to_string())?
        .ids;
    if prompt.is_empty() || prompt.len() >= loaded.config.max_seq_len {
        return Err(format!(
            "the prompt is {} tokens; the model takes 1 to {}",
            prompt.len(),
            loaded.config.max_seq_len - 1
        ));
    }
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: args.max_new_tokens,
        stop_tokens: info.config.eos_token_ids.clone(),
    };
    let samples = sample_batch(
        &loaded.model,
        &[&prompt],
        args.samples,
        &params,
        &[args.seed],
        &device,
    )
    .remove(0);
    println!(
        "model {}, prompt {:?} ({} tokens)",
        args.model,
        args.prompt,
        prompt.len()
    );
    for (i, sample) in samples.iter().enumerate() {
        let text = tokenizer
            .decode(&sample.tokens, true)
            .map_err(|e| e.to_string())?;
        println!("sample {i}: {text:?}");
        for (t, ((id, logprob), entropy)) in sample
            .tokens
            .iter()
            .zip(&sample.logprobs)
            .zip(&sample.entropies)
            .enumerate()
        {
            let piece = tokenizer
                .token_bytes(*id)
                .map(|b| format!("{:?}", String::from_utf8_lossy(b)))
                .unwrap_or_else(|_| tokenizer.id_to_token(*id).unwrap_or_default());
            println!(
                "  token {t:>3}  id {id:>6}  {piece:<12}  logprob {logprob:>10.6}  entropy {entropy:>9.6}"
            );
        }
    }
    let temperature = if args.temperature > 0.0 {
        args.temperature
    } else {
        1.0
    };
    let (tokens, logprob_gap, entropy_gap) =
        teacher_forced_gap(&loaded.model, &prompt, &samples, temperature, &device)?;
    println!(
        "generated {tokens} tokens; teacher-forced max |logprob difference| = {logprob_gap:.3e}, \
         max |entropy difference| = {entropy_gap:.3e}"
    );
    Ok((tokens, logprob_gap, entropy_gap))
}

/// Scores every non-empty sample teacher-forced at `temperature`; returns the tokens compared
/// and the largest log-prob and entropy differences from what the sampler recorded.
fn teacher_forced_gap(
    model: &hicra::model::Llama<RuntimeBackend>,
    prompt: &[u32],
    samples: &[Sample],
    temperature: f32,
    device: &hicra::model::Device,
) -> Result<(usize, f32, f32), String> {
    let drawn: Vec<&Sample> = samples.iter().filter(|s| !s.tokens.is_empty()).collect();
    if drawn.is_empty() {
        return Ok((0, 0.0, 0.0));
    }
    let pairs: Vec<(&[u32], &[u32])> = drawn
        .iter()
        .map(|s| (prompt, s.tokens.as_slice()))
        .collect();
    let temperatures = vec![temperature; pairs.len()];
    let scored = score_tempered_with(model, &pairs, &temperatures, Entropies::Detached, device);
    let width = drawn.iter().map(|s| s.tokens.len()).max().unwrap_or(0);
    let logprobs = host(scored.logprobs)?;
    let entropies = host(scored.entropies.ok_or("the scorer computed no entropies")?)?;
    let (mut tokens, mut logprob_gap, mut entropy_gap) = (0, 0.0f32, 0.0f32);
    for (row, sample) in drawn.iter().enumerate() {
        for t in 0..sample.tokens.len() {
            let at = row * width + t;
            logprob_gap = logprob_gap.max((logprobs[at] - sample.logprobs[t]).abs());
            entropy_gap = entropy_gap.max((entropies[at] - sample.entropies[t]).abs());
            tokens += 1;
        }
    }
    Ok((tokens, logprob_gap, entropy_gap))
}

/// A `[rows, width]` tensor's values, row-major, on the host.
fn host(tensor: burn::tensor::Tensor<RuntimeBackend, 2>) -> Result<Vec<f32>, String> {
    tensor
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

fn main() -> ExitCode {
    common::exit("generate_logprobs", run(Args::parse()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_logprobs_match_the_teacher_forced_pass() {
        for temperature in ["1.0", "0.6"] {
            let args = [
                "generate_logprobs",
                "--samples",
                "4",
                "--temperature",
                temperature,
            ];
            let (tokens, logprob_gap, entropy_gap) = run(Args::parse_from(args)).unwrap();
            assert!(tokens > 0, "something was generated");
            assert!(
                logprob_gap < 1e-3,
                "T={temperature}: log-probs differ by {logprob_gap}"
            );
            assert!(
                entropy_gap < 1e-3,
                "T={temperature}: entropies differ by {entropy_gap}"
            );
        }
    }

    #[test]
    fn a_missing_model_is_an_error_naming_it() {
        let args = ["generate_logprobs", "--model", "no/such/model.gguf"];
        let error = run(Args::parse_from(args)).unwrap_err();
        assert!(error.contains("no/such/model.gguf"), "{error}");
    }
}
