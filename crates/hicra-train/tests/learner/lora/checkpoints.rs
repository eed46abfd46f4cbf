//! A LoRA learner's checkpoints: a resumed run ends where an uninterrupted one does; the
//! base is named and verified, and a rank too large for a loaded base is refused.

use std::path::Path;

use hicra_flow::checkpoint::ResumePoint;
use hicra_model::{Llama, RuntimeBackend};
use hicra_train::flat;
use hicra_train::lora::load_adapters;

use super::{initial, run, step_dir};
use crate::PARAMS;
use crate::epochs::{batch, rollouts};

/// Two batches in one run, or one, a checkpoint and a resumed run for the second: the same
/// weights bit for bit (the KL reference, the base, comes back too). A base that is not the
/// checkpoint's (another init seed) is refused.
#[test]
fn a_resumed_lora_run_ends_where_an_uninterrupted_one_does() {
    let extra = "checkpoint_every = 1\nkl_coef = 0.1\nentropy_coef = 0.01\n";
    let batches = || vec![batch(rollouts(1.0, 0.0)), batch(rollouts(0.8, -0.2))];
    let full = tempfile::tempdir().unwrap();
    let (_, whole) = run(full.path(), extra, batches(), Vec::new(), None).unwrap();
    let point = |dir: &Path| ResumePoint {
        dir: step_dir(dir, 1),
        step: 1,
        run_dir: dir.to_path_buf(),
    };
    let resumed_dir = tempfile::tempdir().unwrap();
    // the first batch's checkpoint, from a run that stopped after it
    run(
        resumed_dir.path(),
        extra,
        batches()[..1].to_vec(),
        Vec::new(),
        None,
    )
    .unwrap();
    let second = batches().pop().unwrap();
    let (_, resumed) = run(
        resumed_dir.path(),
        extra,
        vec![second.clone()],
        Vec::new(),
        Some(point(resumed_dir.path())),
    )
    .unwrap();
    let params = |m: &Llama<RuntimeBackend>| flat::parameters::<RuntimeBackend, _>(m);
    assert_eq!(
        params(&resumed[0]),
        params(&whole[1]),
        "the checkpoint's policy"
    );
    assert_eq!(params(&resumed[1]), params(&whole[2]));
    let other_base = format!("{extra}init_seed = 6\n");
    assert!(PARAMS.contains("init_seed = 5"));
    let err = run(
        resumed_dir.path(),
        &other_base,
        vec![second],
        Vec::new(),
        Some(point(resumed_dir.path())),
    )
    .expect_err("another base was accepted");
    assert!(
        err.contains("belong to base scratch (init_seed 5)")
            && err.contains("this run's base, scratch (init_seed 6), has sha256"),
        "{err}"
    );
}

/// A pretrained base (here a checkpoint of another run): its architecture bounds the rank
/// when it is loaded, `lora.json` names it, and resuming on another file is refused.
#[test]
fn a_checkpoint_base_is_named_checked_and_verified() {
    let first = tempfile::tempdir().unwrap();
    let two = vec![batch(rollouts(1.0, 0.0)), batch(rollouts(0.8, -0.2))];
    run(
        first.path(),
        "checkpoint_every = 1\n",
        two,
        Vec::new(),
        None,
    )
    .unwrap();
    let base_at = |step: u64| step_dir(first.path(), step).to_str().unwrap().to_string();
    let on = |step: u64, extra: &str| {
        format!(
            "checkpoint_every = 1\nmodel = {{ checkpoint = {:?} }}\n{extra}",
            base_at(step)
        )
    };
    let out = tempfile::tempdir().unwrap();
    let too_big = on(1, "lora = { rank = 9 }\n");
    let err = run(out.path(), &too_big, Vec::new(), Vec::new(), None)
        .err()
        .unwrap();
    assert!(
        err.contains("lora.rank = 9 is above the smaller side of the `k` layer"),
        "{err}"
    );
    run(
        out.path(),
        &on(1, ""),
        vec![batch(rollouts(1.0, 0.0))],
        Vec::new(),
        None,
    )
    .unwrap();
    let (file, _) = load_adapters(&step_dir(out.path(), 1), &initial()).unwrap();
    assert_eq!(
        (file.base.path.as_str(), file.base.init_seed),
        (base_at(1).as_str(), None)
    );
    let point = ResumePoint {
        dir: step_dir(out.path(), 1),
        step: 1,
        run_dir: out.path().to_path_buf(),
    };
    let batches = vec![batch(rollouts(1.0, 0.0))];
    let err = run(out.path(), &on(2, ""), batches, Vec::new(), Some(point))
        .err()
        .unwrap();
    assert!(
        err.contains(&format!("belong to base {} (sha256", base_at(1)))
            && err.contains(&format!("this run's base, {}, has sha256", base_at(2))),
        "{err}"
    );
}
