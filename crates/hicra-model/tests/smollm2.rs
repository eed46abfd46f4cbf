//! The decoder on the real SmolLM2-135M-Instruct GGUF against transformers' float32 forward
//! pass on the same dequantized weights (`hicra-pretrained/tests/fixtures/smollm2_logits.jsonl`,
//! written by `scripts/reference_logits.py`). Skipped, with a note, when the model file is
//! absent (`scripts/fetch-model.sh` fetches it; it is never committed).

use std::path::PathBuf;

use hicra_model::{
    Llama, PromptLogits, RuntimeBackend, SamplingParams, prompt_logits, sample_batch, score,
};

fn smollm2(test: &str) -> Option<hicra_pretrained::Pretrained> {
    let path = std::env::var_os("HICRA_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if !path.is_file() {
        eprintln!(
            "SKIPPED {test}: {} is absent (scripts/fetch-model.sh)",
            path.display()
        );
        return None;
    }
    Some(hicra_pretrained::load(&path).unwrap())
}

fn reference_cases() -> Vec<(String, PromptLogits)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hicra-pretrained/tests/fixtures/smollm2_logits.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(l).unwrap();
            let prompt = value["prompt"].as_str().unwrap().to_string();
            (prompt, serde_json::from_value(value).unwrap())
        })
        .collect()
}

/// Tolerance: both sides run float32 on identical dequantized weights, so the only
/// differences are summation order and transcendental rounding through 30 layers; measured
/// gap is 3.8e-5 on logits of magnitude ~20. 2e-3 leaves room without hiding a wrong layer
/// (a RoPE pairing or norm mistake moves logits by whole units).
const LOGIT_TOLERANCE: f64 = 2e-3;

#[test]
fn logits_match_transformers() {
    let Some(pretrained) = smollm2("logits_match_transformers") else {
        return;
    };
    let device = hicra_model::cpu();
    let model = Llama::<RuntimeBackend>::from_pretrained(&pretrained, Some(512), &device).unwrap();
    let mut worst: f64 = 0.0;
    for (prompt, expected) in reference_cases() {
        let ids = pretrained.tokenizer.encode_prompt(&prompt).unwrap().ids;
        assert_eq!(ids, expected.token_ids, "tokens of {prompt:?}");
        let last = expected.positions.len();
        let top_k = expected.positions[0].top.len();
        let got = prompt_logits(&model, &ids, last, top_k + 10, &device);
        for (g, e) in got.positions.iter().zip(&expected.positions) {
            assert_eq!(g.index, e.index);
            worst = worst.max((g.logsumexp - e.logsumexp).abs());
            for &(id, logit) in &e.top {
                let mine = got_logit(g, id).unwrap_or_else(|| {
                    panic!(
                        "{prompt:?} position {}: token {id} not in my top {top_k}",
                        e.index
                    )
                });
                worst = worst.max((mine - logit).abs());
            }
            assert_eq!(
                g.top[0].0, e.top[0].0,
                "{prompt:?} position {}: argmax",
                e.index
            );
        }
    }
    eprintln!("max |logit - transformers| = {worst:.2e}");
    assert!(worst < LOGIT_TOLERANCE, "max logit gap {worst}");
}

fn got_logit(position: &hicra_model::PositionLogits, id: u32) -> Option<f64> {
    position.top.iter().find(|(t, _)| *t == id).map(|(_, l)| *l)
}

/// Sampling several prompts of different lengths in one padded batch, then scoring the
/// responses teacher-forced: the log-probabilities agree, and greedy tokens equal those of
/// each prompt sampled alone.
#[test]
fn sampler_and_scorer_agree_on_a_padded_batch() {
    let Some(pretrained) = smollm2("sampler_and_scorer_agree_on_a_padded_batch") else {
        return;
    };
    let device = hicra_model::cpu();
    let model = Llama::<RuntimeBackend>::from_pretrained(&pretrained, Some(512), &device).unwrap();
    let chat = pretrained.chat_template.clone();
    let prompts: Vec<Vec<u32>> = ["What is 15 + 27?", "Name a colour.", "Say hi"]
        .iter()
        .map(|q| {
            let text = chat.render(None, q);
            pretrained.tokenizer.encode_prompt(&text).unwrap().ids
        })
        .collect();
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let params = SamplingParams {
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: 12,
        stop_tokens: pretrained.config.eos_token_ids.clone(),
    };
    let batched = sample_batch(&model, &refs, 2, &params, &[0, 1, 2], &device);
    let mut gap: f32 = 0.0;
    for (prompt, group) in refs.iter().zip(&batched) {
        let alone = sample_batch(&model, &[prompt], 1, &params, &[3], &device);
        assert_eq!(
            group[0].tokens, alone[0][0].tokens,
            "greedy tokens, batched vs alone"
        );
        assert_eq!(
            group[0].tokens, group[1].tokens,
            "greedy samples of one prompt"
        );
        let scored = score(&model, &[(prompt, &group[0].tokens)], &device);
        let logprobs: Vec<f32> = scored.logprobs.into_data().to_vec().unwrap();
        for (a, b) in group[0].logprobs.iter().zip(&logprobs) {
            gap = gap.max((a - b).abs());
        }
    }
    eprintln!("max |sampler - scorer| log-prob = {gap:.2e}");
    assert!(gap < 1e-3, "sampler/scorer gap {gap}");
}
