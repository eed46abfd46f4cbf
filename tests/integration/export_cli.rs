//! `hicra export`: a tiny pretrained model and a trained run, out to Hugging Face and GGUF and
//! back in through `--model`, give the same logits and the same sampled tokens; outputs are
//! never overwritten without `--force`; what a format cannot hold is refused.

use std::path::Path;

use crate::cli::{hicra, hicra_run, text};

const TINY: &str = "crates/hicra-pretrained/tests/fixtures/tiny_llama.gguf";

/// `hicra export MODEL --format FORMAT --out OUT EXTRA...`.
pub(crate) fn export(
    model: &str,
    format: &str,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "export",
        model,
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    hicra(&args)
}

/// `hicra model logits` of the last 3 positions of `prompt`, top 5, as JSON.
pub(crate) fn logits(model: &str, prompt: &str) -> serde_json::Value {
    let out = hicra(&[
        "model", "logits", "--model", model, "--prompt", prompt, "--last", "3", "--top-k", "5",
        "--json",
    ]);
    assert!(out.status.success(), "{model}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn generated(model: &str, prompt: &str) -> String {
    let out = hicra(&[
        "generate",
        "--model",
        model,
        "--prompt",
        prompt,
        "--max-new-tokens",
        "12",
        "--temperature",
        "1.0",
        "--seed",
        "3",
    ]);
    assert!(out.status.success(), "{model}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn a_pretrained_model_keeps_its_logits_through_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let (hf, gguf) = (dir.path().join("hf"), dir.path().join("tiny.gguf"));
    for (format, out) in [("hf", &hf), ("gguf", &gguf)] {
        let done = export(TINY, format, out, &[]);
        assert!(done.status.success(), "{}", text(&done.stderr));
    }
    let reference = logits(TINY, "ab cd");
    for copy in [&hf, &gguf] {
        assert_eq!(
            logits(copy.to_str().unwrap(), "ab cd"),
            reference,
            "{}",
            copy.display()
        );
    }
    // and back again: the Hugging Face copy to GGUF reads as the original
    let again = dir.path().join("again.gguf");
    assert!(
        export(hf.to_str().unwrap(), "gguf", &again, &[])
            .status
            .success()
    );
    assert_eq!(logits(again.to_str().unwrap(), "ab cd"), reference);
}

#[test]
fn a_trained_run_exports_with_its_logits_and_tokens() {
    let run = tempfile::tempdir().unwrap();
    let out = hicra_run(
        None,
        run.path(),
        &[
            "stages.sampler.steps=2",
            "stages.metrics.total_steps=2",
            "stages.learner.sft.steps=5",
            "stages.evaluator.eval_every=0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_dir = run.path().to_str().unwrap();
    let step_dir = run.path().join("checkpoints/step-000002");
    assert!(
        step_dir.join("policy.json").is_file(),
        "checkpoints describe their policy"
    );
    let dir = tempfile::tempdir().unwrap();
    let (hf, gguf) = (dir.path().join("hf"), dir.path().join("policy.gguf"));
    assert!(export(run_dir, "hf", &hf, &[]).status.success());
    let done = export(run_dir, "gguf", &gguf, &["--step", "2"]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    let prompt = "12 30 ab";
    let reference = (logits(run_dir, prompt), generated(run_dir, prompt));
    for copy in [step_dir.as_path(), &hf, &gguf] {
        let copy = copy.to_str().unwrap();
        assert_eq!(logits(copy, prompt), reference.0, "{copy}");
        assert_eq!(generated(copy, prompt), reference.1, "{copy}");
    }
    // the tokenizer the policy was trained with, as Hugging Face's library reads it
    let tokenizer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("tokenizer.json")).unwrap()).unwrap();
    assert_eq!(tokenizer["model"]["vocab"]["<eos>"], 1);
    assert_eq!(
        tokenizer["model"]["vocab"]["0"], 2,
        "the alphabet's first character"
    );

    // a run that trains every weight has no adapters to export, nor a LoRA base
    for (format, flags) in [("peft", &[][..]), ("hf", &["--base"][..])] {
        let refused = export(run_dir, format, &dir.path().join("adapter"), flags);
        assert!(!refused.status.success());
        assert!(
            text(&refused.stderr).contains("this checkpoint trains every weight"),
            "{}",
            text(&refused.stderr)
        );
    }
    let not_a_run = export(TINY, "peft", &dir.path().join("adapter"), &[]);
    assert!(
        text(&not_a_run.stderr).contains("not a run"),
        "{}",
        text(&not_a_run.stderr)
    );
    assert!(!dir.path().join("adapter").exists());

    let missing = export(run_dir, "hf", &dir.path().join("x"), &["--step", "7"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("step 7"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn outputs_are_kept_unless_forced_and_unexpressible_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.gguf");
    std::fs::write(&out, "precious").unwrap();
    let refused = export(TINY, "gguf", &out, &[]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("--force"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    assert!(
        export(TINY, "gguf", &out, &["--force", "--dtype", "q8_0"])
            .status
            .success()
    );
    assert!(logits(out.to_str().unwrap(), "ab")["positions"].is_array());

    let q8_hf = export(TINY, "hf", &dir.path().join("hf"), &["--dtype", "q8_0"]);
    assert!(!q8_hf.status.success());
    assert!(
        text(&q8_hf.stderr).contains("Q8_0"),
        "{}",
        text(&q8_hf.stderr)
    );
    assert!(!dir.path().join("hf").exists(), "nothing half-written");
    let random = export("random:tiny", "hf", &dir.path().join("r"), &[]);
    assert!(!random.status.success());
    assert!(
        text(&random.stderr).contains("no tokenizer"),
        "{}",
        text(&random.stderr)
    );
}
