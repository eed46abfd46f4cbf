//! Checkpoint directories and resuming.
//!
//! A checkpoint is `RUN/checkpoints/step-000040/`: files written by the stage that owns the
//! training state (the learner: weights, optimiser moments, counters), then `checkpoint.json`
//! (this module's [`Manifest`]). It is written under `step-000040.partial/` and renamed only
//! once complete, so a run killed mid-write never leaves a checkpoint that looks whole.
//!
//! Resuming needs no per-stage cursor: every stage of a run is deterministic given the run
//! seed and the step it is at, so on `hicra run --resume DIR` the stages learn the step `k`
//! the checkpoint was taken after ([`ResumePoint`]) and replay to it: sources regenerate the
//! same prompts, the sampler skips the `k` steps' worth it already used, the learner restores
//! its state, the metrics sink keeps the log rows before `k`. On the CPU backend a resumed
//! run therefore logs what the uninterrupted run logs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `checkpoint.json`: what a checkpoint directory holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Completed training steps (= the policy version the checkpoint holds).
    pub step: u64,
    /// Seconds since the Unix epoch when it was written.
    pub created_unix: u64,
    /// The stage that wrote it.
    pub stage: String,
    /// Files in the directory besides the manifest.
    pub files: Vec<String>,
}

/// Where a resumed run starts: the checkpoint directory and the step it was taken after.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    pub dir: PathBuf,
    pub step: u64,
    /// The run directory the checkpoint belongs to (its logs continue there).
    pub run_dir: PathBuf,
}

const MANIFEST: &str = "checkpoint.json";
const SUBDIR: &str = "checkpoints";

/// `RUN/checkpoints/step-000040`.
pub fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join(SUBDIR).join(format!("step-{step:06}"))
}

/// Writes a checkpoint for `step`: `write_files` fills a fresh directory and returns the file
/// names it wrote; the manifest goes last and the directory is renamed into place. Then only
/// the newest `keep_last` checkpoints are kept (0 keeps all).
pub fn save(
    run_dir: &Path,
    step: u64,
    stage: &str,
    keep_last: usize,
    write_files: impl FnOnce(&Path) -> Result<Vec<String>, String>,
) -> Result<PathBuf, String> {
    let dir = checkpoint_dir(run_dir, step);
    let partial = dir.with_extension("partial");
    let io = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| io("cannot clear", &partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| io("cannot create", &partial, e))?;
    let files = write_files(&partial)?;
    let manifest = Manifest {
        step,
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        stage: stage.to_string(),
        files,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
    let path = partial.join(MANIFEST);
    std::fs::write(&path, text).map_err(|e| io("cannot write", &path, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| io("cannot replace", &dir, e))?;
    }
    std::fs::rename(&partial, &dir).map_err(|e| io("cannot finish", &dir, e))?;
    prune(run_dir, keep_last)?;
    Ok(dir)
}

/// Complete checkpoints of a run, oldest first.
pub fn list(run_dir: &Path) -> Vec<(PathBuf, Manifest)> {
    let Ok(entries) = std::fs::read_dir(run_dir.join(SUBDIR)) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, Manifest)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_none())
        .filter_map(|p| read_manifest(&p).ok().map(|m| (p, m)))
        .collect();
    found.sort_by_key(|(_, m)| m.step);
    found
}

fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn prune(run_dir: &Path, keep_last: usize) -> Result<(), String> {
    let all = list(run_dir);
    if keep_last == 0 || all.len() <= keep_last {
        return Ok(());
    }
    for (dir, _) in &all[..all.len() - keep_last] {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot prune {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// The checkpoint `path` names: a checkpoint directory, or a run directory (its newest one).
pub fn resolve(path: &Path) -> Result<ResumePoint, String> {
    if path.join(MANIFEST).is_file() {
        let manifest = read_manifest(path)?;
        let run_dir = path
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        return Ok(ResumePoint {
            dir: path.to_path_buf(),
            step: manifest.step,
            run_dir,
        });
    }
    match list(path).pop() {
        Some((dir, manifest)) => Ok(ResumePoint {
            dir,
            step: manifest.step,
            run_dir: path.to_path_buf(),
        }),
        None => Err(format!(
            "{} holds no complete checkpoint (expected {MANIFEST} in it or in {}/step-*/)",
            path.display(),
            path.join(SUBDIR).display()
        )),
    }
}

/// Writes a stage's resume state (`BuildContext::state_path`) as JSON; a failure is logged,
/// not fatal (the run goes on, only resuming would miss it).
pub fn write_state(path: &Path, state: &impl Serialize) {
    let text = serde_json::to_string(state).expect("stage state serializes");
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), "cannot save stage state: {e}");
    }
}

/// Reads what [`write_state`] wrote; `None` when absent or unreadable.
pub fn read_state<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_one(dir: &Path) -> Result<Vec<String>, String> {
        std::fs::write(dir.join("state.bin"), b"x").map_err(|e| e.to_string())?;
        Ok(vec!["state.bin".into()])
    }

    #[test]
    fn saves_lists_prunes_and_resolves() {
        let run = tempfile::tempdir().unwrap();
        for step in [10, 20, 30] {
            save(run.path(), step, "learner", 2, write_one).unwrap();
        }
        let steps: Vec<u64> = list(run.path()).iter().map(|(_, m)| m.step).collect();
        assert_eq!(steps, vec![20, 30]);
        let point = resolve(run.path()).unwrap();
        assert_eq!((point.step, point.run_dir.as_path()), (30, run.path()));
        let direct = resolve(&checkpoint_dir(run.path(), 20)).unwrap();
        assert_eq!((direct.step, direct.run_dir.as_path()), (20, run.path()));
    }

    #[test]
    fn an_unfinished_checkpoint_is_ignored() {
        let run = tempfile::tempdir().unwrap();
        save(run.path(), 5, "learner", 0, write_one).unwrap();
        let partial = checkpoint_dir(run.path(), 9).with_extension("partial");
        std::fs::create_dir_all(&partial).unwrap();
        assert_eq!(resolve(run.path()).unwrap().step, 5);
        let failed = save(run.path(), 7, "learner", 0, |_| Err("disk full".into()));
        assert_eq!(failed.unwrap_err(), "disk full");
        assert_eq!(resolve(run.path()).unwrap().step, 5);
        let empty = tempfile::tempdir().unwrap();
        assert!(
            resolve(empty.path())
                .unwrap_err()
                .contains("no complete checkpoint")
        );
    }
}
