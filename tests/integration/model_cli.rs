//! `hicra model`, `hicra generate` and `hicra bench` on the committed tiny GGUF and on random
//! models (no download needed).

use super::cli::{hicra, text};

const TINY: &str = "crates/hicra-pretrained/tests/fixtures/tiny_llama.gguf";

#[test]
fn model_info_describes_a_checkpoint() {
    let out = hicra(&["model", "info", TINY, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["architecture"], "llama");
    assert_eq!(info["layers"], 2);
    assert_eq!(info["rope_layout"], "Interleaved");
    assert!(!info["storage_types"].as_object().unwrap().is_empty());
}

#[test]
fn model_logits_prints_the_documented_shape() {
    let out = hicra(&[
        "model", "logits", "--model", TINY, "--prompt", "ab cd", "--last", "2", "--top-k", "3",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = value["token_ids"].as_array().unwrap();
    let positions = value["positions"].as_array().unwrap();
    assert_eq!(positions.len(), 2.min(ids.len()));
    let last = positions.last().unwrap();
    assert_eq!(last["index"], ids.len() - 1);
    let top: Vec<f64> = last["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[1].as_f64().unwrap())
        .collect();
    assert_eq!(top.len(), 3);
    assert!(
        top.windows(2).all(|w| w[0] >= w[1]),
        "sorted by logit: {top:?}"
    );
    assert!(last["logsumexp"].as_f64().unwrap() > top[0]);
}

#[test]
fn generate_is_reproducible_with_a_seed() {
    let args = [
        "generate",
        "--model",
        TINY,
        "--prompt",
        "ab",
        "--max-new-tokens",
        "8",
        "--temperature",
        "1.0",
        "--seed",
        "7",
    ];
    let (a, b) = (hicra(&args), hicra(&args));
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    assert!(text(&a.stderr).contains("generated"));
}

#[test]
fn random_models_have_no_tokenizer_and_missing_files_are_named() {
    let out = hicra(&["generate", "--model", "random:tiny", "--prompt", "x"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no tokenizer"),
        "{}",
        text(&out.stderr)
    );
    let out = hicra(&["model", "info", "no/such.gguf"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no such file or directory: no/such.gguf"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sizes_that_cannot_work_are_refused_not_panicked_on() {
    let long = "ab ".repeat(6000);
    let out = hicra(&["generate", "--model", TINY, "--prompt", &long]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("at most 4095") && !err.contains("panicked"),
        "{err}"
    );
    for flag in ["--prompt-len", "--new-tokens", "--batch", "--rounds"] {
        let out = hicra(&["bench", "sampler", "--model", "random:tiny", flag, "0"]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{flag} 0");
        assert!(
            err.contains("at least 1") && !err.contains("panicked"),
            "{flag}: {err}"
        );
    }
}

#[test]
fn bench_reports_sampler_and_learner_figures() {
    let common = [
        "--model",
        "random:tiny",
        "--batch",
        "1,2",
        "--rounds",
        "1",
        "--json",
    ];
    let cases = [
        (
            "sampler",
            ["--prompt-len", "4", "--new-tokens", "4"],
            "decode_tokens_per_sec",
        ),
        (
            "learner",
            ["--seq-len", "8", "--peak-tflops", "1"],
            "tokens_per_sec",
        ),
    ];
    for (kind, extra, key) in cases {
        let args: Vec<&str> = ["bench", kind]
            .iter()
            .chain(&common)
            .chain(&extra)
            .copied()
            .collect();
        let out = hicra(&args);
        assert!(out.status.success(), "{kind}: {}", text(&out.stderr));
        let rows: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2, "{kind}: one row per batch size");
        assert!(
            rows.iter().all(|r| r[key].as_f64().unwrap() > 0.0),
            "{rows:?}"
        );
    }
}

/// `hicra bench branch` on either path: children from the kept cache are the draws of
/// prefilling their prefixes (f32 on a tiny model: the same tokens), both timed; `--at` at the
/// response's end is refused.
#[test]
fn bench_branch_times_branching_against_prefilling_on_both_paths() {
    for (flag, path) in [(None, "host"), (Some("--tensors"), "tensors")] {
        let mut args = vec![
            "bench",
            "branch",
            "--model",
            "random:tiny",
            "--batch",
            "1,3",
            "--prompt-len",
            "5",
            "--new-tokens",
            "6",
            "--children",
            "2",
            "--rounds",
            "1",
            "--json",
        ];
        args.extend(flag);
        let out = hicra(&args);
        assert!(out.status.success(), "{path}: {}", text(&out.stderr));
        let rows: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2, "one row per batch size");
        for row in rows {
            assert_eq!(row["path"], path, "{row}");
            assert_eq!(row["at"], 3, "{row}");
            assert_eq!(row["same_tokens"], 1.0, "{row}");
            assert!(row["logprob_gap"].as_f64().unwrap() < 1e-4, "{row}");
            for key in ["branch_ms", "prefill_ms", "branch_over_prefill"] {
                assert!(row[key].as_f64().unwrap() > 0.0, "{key}: {row}");
            }
        }
    }
    let out = hicra(&[
        "bench",
        "branch",
        "--model",
        "random:tiny",
        "--new-tokens",
        "4",
        "--at",
        "4",
    ]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("--at 4"), "{err}");
}

/// `hicra bench step` on a random tiny model, with `extra` arguments, as JSON.
fn bench_step(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bench",
        "step",
        "--model",
        "random:tiny",
        "--prompts",
        "2",
        "--group",
        "2",
        "--prompt-len",
        "4",
        "--new-tokens",
        "4",
        "--rounds",
        "1",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = hicra(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_str(text(&out.stdout).trim()).unwrap()
}

#[test]
fn bench_step_with_lora_carries_only_the_adapters() {
    let (full, lora) = (bench_step(&[]), bench_step(&["--lora", "2"]));
    let bytes = |row: &serde_json::Value| row["update_bytes"].as_f64().unwrap();
    assert_eq!(lora["lora_rank"], 2);
    assert!(
        bytes(&lora) > 0.0 && bytes(&lora) < bytes(&full) / 4.0,
        "{lora} vs {full}"
    );
    assert!(lora["learn_secs"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_step_times_sampling_learning_and_the_weight_copy() {
    let row = bench_step(&[]);
    for key in [
        "sample_secs",
        "learn_secs",
        "generated_tokens_per_sec",
        "trained_tokens_per_sec",
    ] {
        assert!(row[key].as_f64().unwrap() > 0.0, "{key}: {row}");
    }
    assert!(row["sync_secs"].as_f64().unwrap() >= 0.0);
    assert_eq!(row["sampler_device"], "cpu");
    assert_eq!(row["learner_path"], "host", "the CPU in f32: {row}");
}

/// `--path` (`--learner-path` for `bench step`) runs the learner's pass asked for and says
/// which ran; the host path times its phases apart; an unknown path is refused.
#[test]
fn bench_learner_runs_the_path_asked_for() {
    for (path, ran) in [("auto", "host"), ("host", "host"), ("tensor", "tensor")] {
        let out = hicra(&[
            "bench",
            "learner",
            "--model",
            "random:tiny",
            "--batch",
            "2",
            "--seq-len",
            "8",
            "--rounds",
            "1",
            "--json",
            "--path",
            path,
        ]);
        assert!(out.status.success(), "{path}: {}", text(&out.stderr));
        let row: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(row["path"], ran, "{path}: {row}");
        for key in ["forward_secs", "backward_secs", "optimizer_secs"] {
            match ran {
                "host" => assert!(row[key].as_f64().unwrap() > 0.0, "{key}: {row}"),
                _ => assert!(row[key].is_null(), "{key}: {row}"),
            }
        }
    }
    let out = hicra(&[
        "bench",
        "step",
        "--model",
        "random:tiny",
        "--prompts",
        "1",
        "--group",
        "2",
        "--prompt-len",
        "4",
        "--new-tokens",
        "4",
        "--rounds",
        "1",
        "--json",
        "--learner-path",
        "tensor",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let row: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(row["learner_path"], "tensor", "{row}");

    let out = hicra(&[
        "bench",
        "learner",
        "--model",
        "random:tiny",
        "--path",
        "gpu",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("gpu"), "{}", text(&out.stderr));
}

#[test]
fn device_check_passes_on_the_cpu_and_bad_devices_are_named() {
    let out = hicra(&["device", "check", "cpu", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["check"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["matmul", "train_step", "sampler_vs_scorer"]);
    assert!(
        rows.iter().all(|r| r["check"]["passed"] == true),
        "{rows:?}"
    );

    let out = hicra(&["device", "check", "tpu:0"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown device `tpu:0`"),
        "{}",
        text(&out.stderr)
    );
    // CUDA device 7: either this binary lacks CUDA or no such GPU answers; both are errors
    // that name the device.
    let out = hicra(&[
        "bench",
        "sampler",
        "--model",
        "random:tiny",
        "--device",
        "cuda:7",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cuda:7"),
        "{}",
        text(&out.stderr)
    );
}
