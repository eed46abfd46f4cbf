//! Problems named by a pipeline: `--problems PIPELINE.toml:STAGE` runs that pipeline's prompt
//! source stage alone, with the pipeline's seed (so it sends the prompts it sends in a run),
//! and judges them with the pipeline's first verifier, unless `--verifier` says otherwise.

use std::path::{Path, PathBuf};

use hicra_eval::problems::{DatasetSpec, prompts_of_source};
use hicra_flow::Registry;
use hicra_messages::Prompt;
use hicra_tasks::answers::Checker;
use hicra_tasks::checkers::checker_for;

/// Problems and the checker that judges them.
pub struct Problems {
    pub prompts: Vec<Prompt>,
    pub checker: Box<dyn Checker>,
    /// The checker's verifier kind (`verifier.boxed`).
    pub verifier: String,
    /// Where the problems came from, in words.
    pub origin: String,
}

/// Problems from a dataset file (`spec`), judged by `verifier` (`math` when `None`).
pub fn of_data(
    registry: &Registry,
    spec: &DatasetSpec,
    verifier: Option<&str>,
) -> Result<Problems, String> {
    let table = spec.table()?;
    let prompts = prompts_of_source(
        registry,
        "data",
        "source.dataset",
        &table,
        0,
        Path::new("."),
    )
    .map_err(|e| format!("--data: {e}"))?;
    let (verifier, checker) = named_checker(verifier.unwrap_or("math"))?;
    Ok(Problems {
        prompts,
        checker,
        verifier,
        origin: spec.path.display().to_string(),
    })
}

/// The checker of `verifier.NAME`, with its default settings.
fn named_checker(name: &str) -> Result<(String, Box<dyn Checker>), String> {
    let kind = format!("verifier.{name}");
    let table = hicra_flow::Value::parse_document("", 0).expect("an empty document");
    let checker = checker_for(&kind, &table).map_err(|e| format!("--verifier: {e}"))?;
    Ok((kind, checker))
}

/// Splits `PIPELINE.toml:STAGE`.
pub fn parse(arg: &str) -> Result<(PathBuf, String), String> {
    let (file, stage) = arg.rsplit_once(':').ok_or_else(|| {
        format!("--problems {arg}: expected PIPELINE.toml:STAGE (e.g. pipelines/chains-policy.toml:heldout)")
    })?;
    if file.is_empty() || stage.is_empty() {
        return Err(format!("--problems {arg}: expected PIPELINE.toml:STAGE"));
    }
    Ok((PathBuf::from(file), stage.to_string()))
}

/// The first `count` prompts (at least 1) of stage `stage` of the pipeline `file`, and the
/// checker of `verifier` (`boxed`, `math`, `countdown`) or else of the pipeline's first
/// verifier stage.
pub fn of_pipeline(
    registry: &Registry,
    file: &Path,
    stage: &str,
    count: usize,
    verifier: Option<&str>,
) -> Result<Problems, String> {
    let count = count.max(1);
    let overrides = [format!("stages.{stage}.count={count}")];
    let loaded =
        hicra_flow::load::load(&[file.to_path_buf()], &overrides).map_err(|(_, items)| {
            let first = items.first().map_or(String::new(), |d| d.message.clone());
            format!(
                "{}: {first} (check it with `hicra validate`)",
                file.display()
            )
        })?;
    let mut diags = Vec::new();
    let spec = hicra_flow::spec::read_spec(&loaded.root, &mut diags);
    let found = spec.stages.iter().find(|s| s.id.name == stage);
    let source = found.ok_or_else(|| {
        let names: Vec<&str> = spec.stages.iter().map(|s| s.id.name.as_str()).collect();
        format!(
            "{} has no stage `{stage}` (it has: {})",
            file.display(),
            names.join(", ")
        )
    })?;
    let mut prompts = prompts_of_source(
        registry,
        stage,
        &source.kind,
        &source.params,
        spec.run.seed,
        &loaded.base_dir,
    )?;
    prompts.truncate(count);
    let (verifier, checker) = match verifier {
        Some(v) => named_checker(v)?,
        None => {
            let v = spec
                .stages
                .iter()
                .find(|s| s.kind.starts_with("verifier."))
                .ok_or_else(|| {
                    format!(
                        "{} has no verifier stage: name the checker with --verifier",
                        file.display()
                    )
                })?;
            (v.kind.clone(), checker_for(&v.kind, &v.params)?)
        }
    };
    Ok(Problems {
        origin: format!("{}:{stage} ({})", file.display(), source.kind),
        prompts,
        checker,
        verifier,
    })
}
