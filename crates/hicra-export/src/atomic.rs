//! All-or-nothing writes: the output is built under a temporary name next to the target (same
//! file system, so the final rename is atomic) and renamed over it only when complete. An
//! existing target survives unless `force`; a failed export leaves no temporary behind.

use std::path::{Path, PathBuf};

use crate::{ExportError, Exported};

/// Writes a directory: `fill` populates the temporary directory and returns its files.
pub fn write_dir(
    out: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<Vec<String>, ExportError>,
) -> Result<Exported, ExportError> {
    let tmp = prepare(out, force)?;
    std::fs::create_dir_all(&tmp).map_err(|e| ExportError::io(&tmp, e))?;
    let result = fill(&tmp).and_then(|files| {
        let bytes = files
            .iter()
            .map(|f| std::fs::metadata(tmp.join(f)).map_or(0, |m| m.len()))
            .sum();
        replace(&tmp, out, force)?;
        Ok(Exported {
            path: out.to_path_buf(),
            files,
            bytes,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes one file: `fill` writes the temporary file.
pub fn write_file(
    out: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<(), ExportError>,
) -> Result<Exported, ExportError> {
    let tmp = prepare(out, force)?;
    let result = fill(&tmp).and_then(|()| {
        let bytes = std::fs::metadata(&tmp).map_or(0, |m| m.len());
        replace(&tmp, out, force)?;
        Ok(Exported {
            path: out.to_path_buf(),
            files: vec![],
            bytes,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Refuses an existing target without `force`; creates the parent; names the temporary.
fn prepare(out: &Path, force: bool) -> Result<PathBuf, ExportError> {
    if out.exists() && !force {
        return Err(ExportError::Exists {
            path: out.to_path_buf(),
        });
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| ExportError::io(parent, e))?;
    let name = out
        .file_name()
        .ok_or_else(|| ExportError::Unexpressible(format!("{} names no file", out.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = parent.join(tmp_name);
    if tmp.is_dir() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ExportError::io(&tmp, e))?;
    } else if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| ExportError::io(&tmp, e))?;
    }
    Ok(tmp)
}

/// Moves the complete temporary into place (an existing target, allowed by `force`, is moved
/// aside first and deleted only once the new one is in place).
fn replace(tmp: &Path, out: &Path, force: bool) -> Result<(), ExportError> {
    let mut aside = None;
    if out.exists() {
        if !force {
            return Err(ExportError::Exists {
                path: out.to_path_buf(),
            });
        }
        let mut name = tmp.as_os_str().to_owned();
        name.push(".old");
        let old = PathBuf::from(name);
        std::fs::rename(out, &old).map_err(|e| ExportError::io(out, e))?;
        aside = Some(old);
    }
    if let Err(e) = std::fs::rename(tmp, out) {
        if let Some(old) = &aside {
            let _ = std::fs::rename(old, out);
        }
        return Err(ExportError::io(out, e));
    }
    if let Some(old) = aside {
        let _ = if old.is_dir() {
            std::fs::remove_dir_all(&old)
        } else {
            std::fs::remove_file(&old)
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_target_needs_force_and_a_failure_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model.gguf");
        std::fs::write(&out, b"old").unwrap();
        let err = write_file(&out, false, |p| {
            std::fs::write(p, b"new").map_err(|e| ExportError::io(p, e))
        });
        assert!(matches!(err, Err(ExportError::Exists { .. })));
        let failed = write_file(&out, true, |_| Err(ExportError::Unexpressible("no".into())));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        write_file(&out, true, |p| {
            std::fs::write(p, b"new").map_err(|e| ExportError::io(p, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporaries are cleaned up");
    }

    #[test]
    fn directories_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("hf");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("stale.json"), b"{}").unwrap();
        let done = write_dir(&out, true, |d| {
            std::fs::write(d.join("config.json"), b"{}").map_err(|e| ExportError::io(d, e))?;
            Ok(vec!["config.json".into()])
        })
        .unwrap();
        assert_eq!(done.bytes, 2);
        assert!(out.join("config.json").is_file() && !out.join("stale.json").exists());
    }
}
