//! The quickstart on other devices and precisions: device and dtype values checked when their
//! stage is built, a WebGPU sampler beside a CPU learner, bf16 training, and the sampler's
//! log-probs agreeing with the learner's.

use std::path::Path;

use crate::cli::{hicra, text};
use crate::pipelines::{smoke_run, trained_rows};

#[test]
fn a_device_is_checked_when_its_stage_is_built() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = hicra(&[
        "run",
        "pipelines/quickstart.toml",
        "--out",
        &out_dir.path().display().to_string(),
        "--set",
        "stages.learner.device=cuda:7",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("learner") && err.contains("cuda:7"), "{err}");

    let err = refused_override("stages.sampler.device=gpu0");
    assert!(err.contains("unknown device `gpu0`"), "{err}");
}

/// `hicra validate` of the quickstart with one override that must be refused: its stderr.
fn refused_override(set: &str) -> String {
    let out = hicra(&["validate", "pipelines/quickstart.toml", "--set", set]);
    assert!(!out.status.success(), "`{set}` was accepted");
    text(&out.stderr)
}

/// No software WebGPU adapter here, and CI (`HICRA_REQUIRE_WGPU`) does not demand one.
#[cfg(feature = "wgpu")]
fn no_software_webgpu() -> bool {
    if std::env::var("HICRA_REQUIRE_WGPU").is_ok() {
        return false;
    }
    let absent = !hicra(&["device", "check", "wgpu:cpu", "--json"])
        .status
        .success();
    if absent {
        eprintln!("skipped: no software WebGPU adapter here");
    }
    absent
}

/// The sampler on the software WebGPU adapter, the learner on the CPU: weights cross backends
/// through host memory after every update, and the run trains as on one device.
#[cfg(feature = "wgpu")]
#[test]
fn the_sampler_can_run_on_webgpu_while_the_learner_stays_on_the_cpu() {
    if no_software_webgpu() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/quickstart.toml");
    let (out, out_dir) = smoke_run(&path, &["stages.sampler.device=wgpu:cpu"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(trained_rows(out_dir.path()).len(), 2);
}

/// bf16 on the CPU: the sampler stores its weights in bf16, the learner trains in mixed
/// precision over f32 weights. The run trains, and the sampler's log-probs still match the
/// learner's f32-master recomputation to within bf16's rounding (a gap of a whole nat would mean
/// the two disagree on which tokens were drawn, not on rounding).
#[test]
fn a_pipeline_trains_in_bf16() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/quickstart.toml");
    let (out, out_dir) = smoke_run(
        &path,
        &["stages.sampler.dtype=bf16", "stages.learner.dtype=bf16"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = trained_rows(out_dir.path());
    assert_eq!(rows.len(), 2);
    for row in rows {
        let gap = row["logprob_gap/sampler_vs_learner_max"].as_f64().unwrap();
        assert!(gap > 0.0 && gap < 0.5, "bf16 sampler vs learner gap {gap}");
        assert!(
            row["loss/policy"].as_f64().is_some_and(f64::is_finite),
            "{row}"
        );
    }
}

#[test]
fn a_dtype_is_checked_when_its_stage_is_built() {
    let err = refused_override("stages.learner.dtype=f8");
    assert!(err.contains("unknown dtype `f8`"), "{err}");
}

/// WGSL has no bfloat16: a bf16 sampler on WebGPU stops the run at start, naming the stage,
/// the device and what it supports.
#[cfg(feature = "wgpu")]
#[test]
fn bf16_on_webgpu_is_refused_at_start() {
    if no_software_webgpu() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/quickstart.toml");
    let (out, _dir) = smoke_run(
        &path,
        &[
            "stages.sampler.device=wgpu:cpu",
            "stages.sampler.dtype=bf16",
        ],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("sampler")
            && err.contains("wgpu:cpu")
            && err.contains("cannot compute in bf16"),
        "{err}"
    );
}

/// The sampler draws at T = 0.7 and records the tempered log-probs; the learner scores each
/// rollout at its own temperature, so the two agree to rounding (the 1e-4 in f32).
#[test]
fn sampler_and_learner_agree_at_temperature_0_7() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/quickstart.toml");
    let (out, out_dir) = smoke_run(&path, &["stages.sampler.temperature=0.7"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = trained_rows(out_dir.path());
    assert_eq!(rows.len(), 2);
    for row in rows {
        let gap = row["logprob_gap/sampler_vs_learner_max"].as_f64().unwrap();
        assert!(gap <= 1e-4, "sampler vs learner gap {gap} at T = 0.7");
    }
}
